"""Augmentation of a batch of faces, on the tensor (no per-image Python), from a generator."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

# Each image's jitter is drawn within these (Koch's affine distortions, plus contrast and
# brightness); train.augment_scale multiplies them all.
JITTER = {"rotate_deg": 10.0, "scale": 0.1, "shift": 0.06, "contrast": 0.2, "brightness": 0.1}


def jitter(factor: float) -> dict[str, float]:
    """:data:`JITTER` times ``factor``: the keyword arguments of :func:`augment`."""
    return {k: v * factor for k, v in JITTER.items()}


def augment(
    x: torch.Tensor,
    gen: torch.Generator,
    rotate_deg: float = JITTER["rotate_deg"],
    scale: float = JITTER["scale"],
    shift: float = JITTER["shift"],
    contrast: float = JITTER["contrast"],
    brightness: float = JITTER["brightness"],
    mirror: bool = True,
) -> torch.Tensor:
    """Random mirror (``mirror``), small rotation/scale/shift (Koch's affine distortions), and
    contrast and brightness jitter, each image its own draw. ``x``: ``(B, 1, S, S)`` in [0, 1]."""
    b = x.shape[0]

    def u(lo, hi):
        return torch.rand(b, generator=gen) * (hi - lo) + lo

    if mirror:
        flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)  # drawn on the CPU generator
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    angle = u(-rotate_deg, rotate_deg) * math.pi / 180
    s = u(1 - scale, 1 + scale)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack(
        [
            torch.stack([cos, -sin, u(-shift, shift) * 2], 1),
            torch.stack([sin, cos, u(-shift, shift) * 2], 1),
        ],
        1,
    )  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid.to(x.device), padding_mode="border", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    c = u(1 - contrast, 1 + contrast)[:, None, None, None].to(x.device)
    d = u(-brightness, brightness)[:, None, None, None].to(x.device)
    return ((x - mean) * c + mean + d).clamp_(0.0, 1.0)


def erase(
    x: torch.Tensor,
    gen: torch.Generator,
    p: float,
    area: tuple[float, float] = (0.02, 0.2),
    aspect: tuple[float, float] = (0.5, 2.0),
) -> torch.Tensor:
    """Random erasing (Zhong et al., 2020): with probability ``p`` an image gets one rectangle
    of ``area`` (a fraction of the image) and ``aspect`` ratio filled with uniform noise,
    as if part of the face were hidden. ``x``: ``(B, 1, S, S)`` in [0, 1]."""
    b, _, hgt, wid = x.shape

    def u(lo, hi):
        return torch.rand(b, generator=gen) * (hi - lo) + lo

    hit = torch.rand(b, generator=gen) < p
    a = u(*area) * hgt * wid
    r = torch.exp(u(math.log(aspect[0]), math.log(aspect[1])))
    h = (a * r).sqrt().clamp(1, hgt)
    w = (a / r).sqrt().clamp(1, wid)
    top, left = u(0, 1) * (hgt - h), u(0, 1) * (wid - w)
    rows, cols = torch.arange(hgt)[None, :], torch.arange(wid)[None, :]
    inside = (
        ((rows >= top[:, None]) & (rows < (top + h)[:, None]))[:, :, None]
        & ((cols >= left[:, None]) & (cols < (left + w)[:, None]))[:, None, :]
        & hit[:, None, None]
    )  # (B, S, S)
    noise = torch.rand(x.shape, generator=gen).to(x.device, x.dtype)
    return torch.where(inside[:, None].to(x.device), noise, x)
