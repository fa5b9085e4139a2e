"""Joined member embeddings (``model.members``): the one helper towers, heads, losses and the
whitening all need, kept in a leaf module so that none of them imports another for it."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def member_units(h: torch.Tensor, groups: int) -> torch.Tensor:
    """``(B, groups * D)`` -> ``(B, groups, D)``: each member's part of a joined embedding
    at unit length, in float32; one member is ``groups = 1``."""
    return F.normalize(h.float().unflatten(1, (groups, -1)), dim=2)


def check_split(dim: int, groups: int) -> int:
    """Each member's share of a ``dim``-wide embedding; an error when it does not divide."""
    if dim % groups:
        raise ValueError(f"a {dim}-d embedding does not split into {groups} equal members")
    return dim // groups
