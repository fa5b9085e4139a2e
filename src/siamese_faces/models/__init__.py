"""Models: towers (one file each, registered), heads, the Siamese net around them.

Every module of this package is imported here, so a tower registers itself by being a file
in this folder: adding one touches no other file.
"""

import importlib
import pkgutil

from .registry import (
    MODELS,
    check_model_config,
    create_model,
    has_batchnorm,
    model_from_config,
    register_tower,
)
from .siamese import SiameseNet

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "MODELS",
    "SiameseNet",
    "check_model_config",
    "create_model",
    "has_batchnorm",
    "model_from_config",
    "register_tower",
]
