"""ArcFace / additive angular margin loss (Deng et al., 2019) over identity classes."""

from __future__ import annotations

import math

import torch

from .cosface import CosFaceLoss
from .registry import register_loss


@register_loss("arcface")
class ArcFaceLoss(CosFaceLoss):
    """Cross-entropy of ``scale * cos(theta_c + margin * [c == y])`` over classes.

    CosFace subtracts its margin from the cosine; ArcFace adds it to the angle (``margin`` in
    radians), so the penalty is largest where the angle is mid-way and vanishes towards 0 and
    pi. Past ``pi - margin`` the angle plus margin would wrap round and *raise* the cosine, so
    there the logit continues as CosFace's ``cos - margin * sin(margin)`` (as insightface
    does), which keeps it decreasing in the angle. Members, class weights and the logits used
    for training accuracy are CosFace's.
    """

    def target_logit(self, cos: torch.Tensor) -> torch.Tensor:
        m = self.margin
        # sqrt's gradient is infinite at 0: a cosine of exactly 1 would poison the step.
        sin = (1.0 - cos * cos).clamp_min(1e-6).sqrt()
        shifted = cos * math.cos(m) - sin * math.sin(m)  # cos(theta + m)
        return torch.where(cos > math.cos(math.pi - m), shifted, cos - m * math.sin(m))
