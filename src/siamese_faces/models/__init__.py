"""Models: towers (one file each, registered), heads, the Siamese net around them."""

from . import koch, resnet  # noqa: F401  (the built-in towers register themselves)
from .registry import (
    MODELS,
    check_model_config,
    create_model,
    has_batchnorm,
    model_from_config,
    register_tower,
)
from .siamese import SiameseNet

__all__ = [
    "MODELS",
    "SiameseNet",
    "check_model_config",
    "create_model",
    "has_batchnorm",
    "model_from_config",
    "register_tower",
]
