"""Dropout whose mask comes from uniform draws, not from ATen's CPU ``bernoulli_``.

``nn.Dropout`` on the CPU draws its mask with ``bernoulli_``, which stood out in a profile
of the `default` tower's training step (``benchmarks/step_profile.py``) for its flattened map
of 4,096 values a face; ``uniform_`` and a comparison draw the same kind of mask (each value
kept with probability 1 - p) faster: the whole step runs at 1/0.967 of the
``bernoulli_`` one (``benchmarks/step_variants.py``, README design notes). The values,
the scaling by 1 / (1 - p) and the gradient (the same mask, the same scale) are dropout's;
only the random stream differs, so a seed still gives identical numbers run after run.
"""

from __future__ import annotations

import torch
from torch import nn


class UniformDropout(nn.Dropout):
    """``nn.Dropout(p)`` (a subclass: in eval mode, in ONNX export and for ``isinstance`` it
    is one) whose training mask is ``uniform_() >= p`` from the global generator."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        # empty_like keeps x's memory layout (channels_last maps stay so after the multiply)
        keep = torch.empty_like(x, dtype=torch.float32).uniform_() >= self.p
        # One multiply by the scaled mask: autograd saves the mask (no grad) for the backward.
        scaled = keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))
        if self.inplace:
            return x.mul_(scaled)
        return x * scaled
