"""Koch et al.'s convolutional tower: the study's network, registered as ``model.name = "koch"``."""

from __future__ import annotations

import torch
from torch import nn

from ..config import check
from .dropout import UniformDropout
from .phases import PhaseConv2d, PhaseMaxPool, link_phases, phasing_pays
from .registry import register_tower


def dropout_schedule(first: float, layers: int) -> list[float]:
    """The study's decreasing dropout: ``first`` after layer 1, 0.05 less per layer, >= 0.1.

    A first rate of 0 means no dropout; a first rate under 0.1 stays constant.
    """
    if first <= 0:
        return [0.0] * layers
    return [round(max(first - 0.05 * k, min(first, 0.1)), 4) for k in range(layers)]


def check_settings(m: dict) -> None:
    """What this tower asks of the model.* settings it reads, each with the fix."""
    layers = len(m["filters"])
    check(
        len(m["kernels"]) == layers and all(k > 0 for k in m["kernels"]),
        "model.kernels",
        m["kernels"],
        f"give one positive kernel size per conv layer ({layers} here).",
    )
    check(
        0 <= m["pool_layers"] <= layers, "model.pool_layers", m["pool_layers"], f"use 0..{layers}."
    )


@register_tower("koch", batchnorm=lambda settings: settings["batchnorm"], check=check_settings)
class KochTower(nn.Module):
    """Koch et al.'s convolutional tower, as configurable as the study explored it.

    conv(k_i) -> [BatchNorm] -> [2x2 max-pool for the first ``pool_layers``] -> ReLU
    -> [dropout] for each layer, then flatten -> Linear(fc) -> activation.
    """

    def __init__(
        self,
        input_size: int = 105,
        filters: tuple[int, ...] = (8, 16, 32, 64),
        kernels: tuple[int, ...] = (10, 7, 4, 4),
        pool_layers: int = 3,
        fc: int = 2048,
        fc_activation: str = "sigmoid",
        dropout: float = 0.0,
        batchnorm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = 1, input_size
        for i, (f, k) in enumerate(zip(filters, kernels, strict=True)):
            # A conv + pool with few input channels runs on its input's 2x2 phases
            # (models/phases.py): the same layer, same parameters, in a shape oneDNN runs
            # several times faster. A BatchNorm between the two keeps them plain.
            phased = i < pool_layers and not batchnorm and phasing_pays(channels, k)
            layers.append(
                PhaseConv2d(channels, f, k)
                if phased
                else nn.Conv2d(channels, f, k, bias=not batchnorm)
            )
            if batchnorm:
                layers.append(nn.BatchNorm2d(f))
            side = side - k + 1
            if i < pool_layers:
                # Pool, then ReLU: the same values as ReLU-then-pool (both are monotone, so
                # max(relu(a), relu(b)) = relu(max(a, b))), with ReLU on 4x fewer elements.
                layers.append(PhaseMaxPool() if phased else nn.MaxPool2d(2))
                side //= 2
            layers.append(nn.ReLU(inplace=True))
            rate = dropout_schedule(dropout, len(filters))[i]
            if rate > 0:
                layers.append(UniformDropout(rate))
            if side < 1:
                raise ValueError(
                    f"model: a {input_size}x{input_size} input shrinks to nothing at conv layer "
                    f"{i + 1} (kernel {k}); use a larger data.size or smaller model.kernels."
                )
            channels = f
        self.features = link_phases(nn.Sequential(*layers))
        self.flat_features = channels * side * side
        self.fc = nn.Linear(self.flat_features, fc)
        self.activation = {"sigmoid": nn.Sigmoid(), "relu": nn.ReLU(), "none": nn.Identity()}[
            fc_activation
        ]
        self.embedding_dim = fc
        self.dropout_rates = dropout_schedule(dropout, len(filters))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, S, S) -> (B, fc)
        h = self.features(x)  # (B, C, s, s)
        return self.activation(self.fc(torch.flatten(h, 1)))
