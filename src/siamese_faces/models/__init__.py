from .registry import MODELS, create_model, model_from_config, register_model
from .siamese import SiameseNet

__all__ = ["MODELS", "SiameseNet", "create_model", "model_from_config", "register_model"]
