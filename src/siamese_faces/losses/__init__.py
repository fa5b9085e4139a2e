"""Losses, one class a file, each registered by name (:mod:`.registry`)."""

from . import bce, contrastive, cosface  # noqa: F401  (the built-in losses register themselves)
from .registry import LOSSES, check_pair_loss, create_loss, pair_loss_name, register_loss

__all__ = ["LOSSES", "check_pair_loss", "create_loss", "pair_loss_name", "register_loss"]
