"""CosFace / large-margin cosine loss (Wang et al., 2018) over identity classes."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..members import check_split, member_units
from .registry import register_loss


@register_loss("cosface")
class CosFaceLoss(nn.Module):
    """Cross-entropy of ``scale * (cos(h, w_c) - margin * [c == y])`` over classes.

    The class weights live here, not in the model: at inference only the tower is used, and
    two faces are compared by the cosine of their embeddings.

    With ``groups`` > 1 the embedding is that many members' embeddings joined
    (``model.members``): each member has its own class weights and its own loss, the mean of
    which is returned, so that the members stay independent (as they would trained apart).

    With ``subcentres`` K > 1 each class has K centres and its cosine is that of the nearest
    (sub-centre ArcFace, Deng et al., 2020), for the true class and every other alike.
    """

    takes = "embedding"

    def __init__(
        self,
        num_classes: int,
        dim: int,
        scale: float = 30.0,
        margin: float = 0.35,
        generator: torch.Generator | None = None,
        groups: int = 1,
        subcentres: int = 1,
    ) -> None:
        super().__init__()
        w = torch.empty(groups, num_classes * subcentres, check_split(dim, groups))
        for g in range(groups):
            nn.init.xavier_normal_(w[g], generator=generator)
        self.weight = nn.Parameter(w)
        self.scale, self.margin, self.subcentres = scale, margin, subcentres

    def member_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Cosine of each member's embedding with its class centres (the nearest of each
        class's sub-centres), ``(groups, B, C)``."""
        g = self.weight.shape[0]
        h = member_units(h, g).transpose(0, 1)  # (G, B, D)
        cos = h @ F.normalize(self.weight, dim=2).transpose(1, 2)  # (G, B, C * K)
        if self.subcentres == 1:
            return cos
        return cos.unflatten(2, (-1, self.subcentres)).amax(3)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Mean over members of the cosine with each class centre, ``(B, C)``, no margin."""
        return self.member_logits(h).mean(0)

    def target_logit(self, cos: torch.Tensor) -> torch.Tensor:
        """The true class's cosine with the margin applied: ``cos - margin``."""
        return cos - self.margin

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = self.member_logits(h)  # (G, B, C)
        target = F.one_hot(labels, cos.shape[2]).bool()
        z = self.scale * torch.where(target, self.target_logit(cos), cos)
        return F.cross_entropy(z.flatten(0, 1), labels.repeat(cos.shape[0]))
