"""Losses, one class a file, each registered by name (:mod:`.registry`).

Every module of this package is imported here, so a loss registers itself by being a file in
this folder: adding one touches no other file (its test aside).
"""

import importlib
import pkgutil

from .registry import LOSSES, check_pair_loss, create_loss, pair_loss_name, register_loss

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["LOSSES", "check_pair_loss", "create_loss", "pair_loss_name", "register_loss"]
