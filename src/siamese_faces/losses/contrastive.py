"""The contrastive loss (Hadsell, Chopra & LeCun, 2006) on a distance."""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_loss


@register_loss("contrastive")
class ContrastiveLoss(nn.Module):
    """Mean of ``y * D^2 / 2 + (1 - y) * max(margin - D, 0)^2 / 2`` (y = 1 for same)."""

    takes = "distance"

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, distance: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        d, y = distance.float(), y.float()
        return (y * d.pow(2) + (1 - y) * torch.clamp(self.margin - d, min=0).pow(2)).mean() / 2
