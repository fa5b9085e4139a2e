"""A registry of models: ``create_model(name, **kwargs)`` instead of if/elif chains.

Every registered model builds a :class:`SiameseNet` from keyword arguments that are fields
of :class:`~siamese_faces.config.ModelConfig` (plus ``input_size`` and ``generator``), and
goes through the same shape, NaN and gradient tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from ..config import Config, ModelConfig
from .heads import HEADS
from .init import initialise
from .resnet import ResNetTower
from .siamese import MemberTowers, SiameseNet
from .towers import KochTower
from .whiten import WithinClassWhitening

MODELS: dict[str, Callable[..., SiameseNet]] = {}


def register_model(name: str):
    def add(fn: Callable[..., SiameseNet]) -> Callable[..., SiameseNet]:
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        MODELS[name] = fn
        return fn

    return add


def create_model(name: str, generator: torch.Generator | None = None, **kwargs) -> SiameseNet:
    """Build the registered model ``name``; weights drawn from ``generator`` (seed 0 if None)."""
    if name not in MODELS:
        raise ValueError(f"model.name={name!r}: registered models are {', '.join(sorted(MODELS))}.")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    return MODELS[name](generator=generator, **kwargs)


def model_from_config(config: Config, generator: torch.Generator | None = None) -> SiameseNet:
    fields = {k: v for k, v in dataclasses.asdict(config.model).items() if k != "name"}
    return create_model(config.model.name, generator, input_size=config.data.size, **fields)


@register_model("koch")
def koch(input_size: int = 105, generator: torch.Generator | None = None, **kwargs) -> SiameseNet:
    """Koch et al.'s tower with the weighted-L1 or Euclidean head; see ModelConfig."""
    m = dataclasses.replace(ModelConfig(name="koch"), **kwargs)
    return _assemble(
        lambda: KochTower(
            input_size,
            m.filters,
            m.kernels,
            m.pool_layers,
            m.fc,
            m.fc_activation,
            m.dropout,
            m.batchnorm,
        ),
        m,
        generator,
    )


def _assemble(
    make_tower: Callable[[], nn.Module], m: ModelConfig, generator: torch.Generator | None
) -> SiameseNet:
    """The net around ``model.members`` towers from ``make_tower``, weights from ``generator``."""
    tower = (
        make_tower()
        if m.members == 1 and not m.views
        else MemberTowers([make_tower() for _ in range(m.members)], m.views)
    )
    if m.head == "euclidean":
        head = HEADS[m.head](tower.embedding_dim, m.margin)
    elif m.head == "cosine":
        head = HEADS[m.head](tower.embedding_dim, m.members)
    else:
        head = HEADS[m.head](tower.embedding_dim)
    net = SiameseNet(tower, head)
    if m.wccn:
        net.whiten = WithinClassWhitening(tower.embedding_dim, m.members, m.wccn)
    initialise(net, m.init, generator if generator is not None else torch.Generator())
    net.flip_tta = m.flip_tta
    return net


@register_model("resnet")
def resnet(input_size: int = 64, generator: torch.Generator | None = None, **kwargs) -> SiameseNet:
    """A small residual tower with BatchNorm (``filters`` = stage widths, ``fc`` = embedding)."""
    m = dataclasses.replace(
        ModelConfig(
            name="resnet",
            filters=(32, 64, 128, 256),
            kernels=(3, 3, 3, 3),
            fc=256,
            init="default",
            head="cosine",
        ),
        **kwargs,
    )
    return _assemble(
        lambda: ResNetTower(input_size, m.filters, m.fc, m.dropout, m.blocks), m, generator
    )
