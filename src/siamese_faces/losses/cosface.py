"""CosFace / large-margin cosine loss (Wang et al., 2018) over identity classes."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class CosFaceLoss(nn.Module):
    """Cross-entropy of ``scale * (cos(h, w_c) - margin * [c == y])`` over classes.

    The class weights live here, not in the model: at inference only the tower is used, and
    two faces are compared by the cosine of their embeddings.
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        scale: float = 30.0,
        margin: float = 0.35,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        w = torch.empty(num_classes, dim)
        nn.init.xavier_normal_(w, generator=generator)
        self.weight = nn.Parameter(w)
        self.scale, self.margin = scale, margin

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Cosine of each embedding with each class centre, ``(B, C)``, no margin."""
        return F.linear(F.normalize(h.float(), dim=1), F.normalize(self.weight, dim=1))

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = self.logits(h)
        margin = F.one_hot(labels, cos.shape[1]).to(cos.dtype) * self.margin
        return F.cross_entropy(self.scale * (cos - margin), labels)
