"""AdaFace / quality-adaptive margin loss (Kim, Jain & Liu, 2022) over identity classes."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .cosface import CosFaceLoss
from .registry import register_loss

H = 0.333  # how many standard deviations of the norm make a face count as clearly good or bad
ALPHA = 0.01  # weight of each batch in the moving mean and deviation of the norms


@register_loss("adaface")
class AdaFaceLoss(CosFaceLoss):
    """Cross-entropy of ``scale * (cos(theta_y + g_angle) - g_add)`` for the true class and
    ``scale * cos(theta_c)`` for the others, with ``g_angle = -margin * q`` and
    ``g_add = margin * q + margin``, where ``q`` in [-1, 1] is how far the embedding's norm
    (before it is made unit length; the paper's proxy for image quality) lies from the
    running mean of norms, in units of ``H`` standard deviations.

    A clear face (``q = 1``) gets CosFace's margin twice over on an angle widened towards the
    class, one the tower cannot yet place (``q = -1``) ArcFace's margin alone: hard but
    recognisable faces are emphasised, unrecognisable ones are not forced. The norms enter
    without gradient, as in the paper. Members each have their own norms and loss; the class
    weights, sub-centres and training-accuracy logits are CosFace's.
    """

    def __init__(self, *args, **kwargs) -> None:  # CosFace's settings (the registry reads them)
        super().__init__(*args, **kwargs)
        # The paper's starting values; the moving statistics then follow the tower's norms.
        self.register_buffer("norm_mean", torch.tensor(20.0))
        self.register_buffer("norm_std", torch.tensor(100.0))

    def quality(self, h: torch.Tensor) -> torch.Tensor:
        """Each member's ``q`` for each face, ``(groups, B, 1)``; in training the moving
        statistics take this batch in first."""
        g = self.weight.shape[0]
        norms = h.detach().float().unflatten(1, (g, -1)).norm(dim=2).clamp(1e-3, 100).T
        if self.training and norms.numel() > 1:
            self.norm_mean.mul_(1 - ALPHA).add_(ALPHA * norms.mean())
            self.norm_std.mul_(1 - ALPHA).add_(ALPHA * norms.std())
        q = (norms - self.norm_mean) / (self.norm_std + 1e-3) * H
        return q.clamp(-1, 1)[..., None]

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = self.member_logits(h).float()  # (G, B, C); acos wants more than bf16's bits
        q = self.quality(h)
        theta = torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6))
        widened = torch.cos((theta - self.margin * q).clamp(1e-6, math.pi - 1e-6))
        target = F.one_hot(labels, cos.shape[2]).bool()
        z = self.scale * torch.where(target, widened - self.margin * (q + 1), cos)
        return F.cross_entropy(z.flatten(0, 1), labels.repeat(cos.shape[0]))
