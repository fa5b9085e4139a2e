"""Binary cross-entropy on the logit of "same" (Koch's objective)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .registry import register_loss


@register_loss("bce")
class PairBCELoss(nn.Module):
    """Mean binary cross-entropy of sigmoid(logit) against y (1 same, 0 different)."""

    takes = "logit"

    def forward(self, logit: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # On the logit, not the probability: exact where sigmoid would round to 0 or 1.
        return F.binary_cross_entropy_with_logits(logit.float(), y.float())
