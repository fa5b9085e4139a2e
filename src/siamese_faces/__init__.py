"""siamese-faces: one-shot face verification with Siamese networks."""

__version__ = "0.1.0"
