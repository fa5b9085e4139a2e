"""Heads: compare two embeddings. Each says how its output becomes a score, what it gives a
pair loss (``output``: a logit or a distance, from :meth:`loss_input`), and which loss of the
losses registry it trains with unless ``model.loss`` names another (``default_loss``)."""

from __future__ import annotations

import torch
from torch import nn

from ..members import check_split, member_units


class L1SigmoidHead(nn.Module):
    """Koch's head: a weighted L1 distance |h1 - h2| into one sigmoid unit (a logit here)."""

    uses_fixed_threshold = True  # a probability: "same" above 0.5
    output, default_loss = "logit", "bce"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, 1)

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:  # (B, D) x2 -> (B,)
        return self.linear(torch.abs(h1 - h2)).squeeze(1)

    @staticmethod
    def loss_input(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return out, y  # already the logit of "same"

    @staticmethod
    def score(out: torch.Tensor) -> torch.Tensor:
        """Probability of "same"; higher is more alike."""
        return torch.sigmoid(out.float())

    def pairwise(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """Outputs for every (row of h1, row of h2): ``(N, M)``, without an (N, M, D) tensor.

        sum_k w_k |a_k - b_k| is an L1 distance of |w|-scaled embeddings over the dimensions
        where w_k > 0, minus the same over those where w_k < 0.
        """
        w, bias = self.linear.weight[0].float(), self.linear.bias[0].float()
        h1, h2 = h1.float(), h2.float()
        out = torch.full((len(h1), len(h2)), float(bias), device=h1.device)
        for sign, keep in ((1.0, w > 0), (-1.0, w < 0)):
            if keep.any():
                scale = w[keep].abs()
                out += sign * torch.cdist(h1[:, keep] * scale, h2[:, keep] * scale, p=1)
        return out

    default_threshold = 0.5


class EuclideanHead(nn.Module):
    """Euclidean distance between embeddings, trained with the contrastive loss."""

    uses_fixed_threshold = False  # the distance threshold is chosen on validation pairs
    output, default_loss = "distance", "contrastive"

    def __init__(self, dim: int, margin: float = 1.0) -> None:
        super().__init__()
        self.default_threshold = -margin / 2  # only a starting point; chosen on validation

    @staticmethod
    def loss_input(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return out, y  # the distance itself

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:  # (B,) distances
        # The epsilon keeps the gradient finite when the two embeddings coincide.
        return torch.sqrt(((h1.float() - h2.float()) ** 2).sum(1) + 1e-12)

    @staticmethod
    def score(out: torch.Tensor) -> torch.Tensor:
        """Minus the distance, so that higher is more alike for every head."""
        return -out.float()

    def pairwise(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """Distances for every (row of h1, row of h2): ``(N, M)``."""
        return torch.cdist(h1.float(), h2.float())


class CosineHead(nn.Module):
    """Cosine similarity of the embeddings; for pair training, BCE on ``a * cos + b``.

    The scale ``a`` and offset ``b`` are learned, so a pair loss can train the tower, while
    "same" is decided by a cosine threshold chosen on validation pairs.

    With ``groups`` > 1 the embedding is the concatenation of that many members' embeddings
    (``model.members``): the score is the mean of the members' cosines, and while training
    ``forward`` gives one cosine per member, ``(B, groups)``, so that each member has its own
    loss. Trained on the mean instead, the members co-adapt and the ensemble gains less.

    An embedding wider than the tower's ``dim`` is one that a fitted descriptor joined
    (``models/descriptors.py``): the members' units and the descriptor, weighted, already at
    unit length as a whole, so its own cosine is the score.
    """

    uses_fixed_threshold = False
    default_threshold = 0.5
    output, default_loss = "logit", "bce"

    def __init__(self, dim: int, groups: int = 1) -> None:
        super().__init__()
        check_split(dim, groups)
        self.dim, self.groups = dim, groups
        self.a = nn.Parameter(torch.tensor(10.0))
        self.b = nn.Parameter(torch.tensor(-5.0))

    def _parts(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, groups, D)`` member units, or ``(B, 1, D')`` for a joined embedding."""
        return member_units(h, 1 if h.shape[1] > self.dim else self.groups)

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:  # (B,) cosines
        cos = (self._parts(h1) * self._parts(h2)).sum(2)  # (B, G)
        return cos if self.training and cos.shape[1] > 1 else cos.mean(1)

    def units(self, h: torch.Tensor) -> torch.Tensor:
        """Each member's part at unit length, over sqrt(groups): dot products are the score."""
        parts = self._parts(h)
        return parts.flatten(1) / parts.shape[1] ** 0.5

    def loss_input(self, cos: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The logit ``a * cos + b``; one a member while training (each member its own loss)."""
        if cos.dim() == 2:
            y = y[:, None].expand_as(cos)
        return self.a * cos + self.b, y

    def score(self, out: torch.Tensor) -> torch.Tensor:
        if self.groups > 1 and self.training and out.dim() == 2:  # per-member training output
            return out.float().mean(1)
        return out.float()

    def pairwise(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        return self.units(h1) @ self.units(h2).T


HEADS = {"l1_sigmoid": L1SigmoidHead, "euclidean": EuclideanHead, "cosine": CosineHead}


def make_head(name: str, dim: int, margin: float, members: int) -> nn.Module:
    """The head ``model.head`` for a ``dim``-wide embedding of ``members`` joined towers."""
    if name == "euclidean":
        return EuclideanHead(dim, margin)
    if name == "cosine":
        return CosineHead(dim, members)
    return HEADS[name](dim)
