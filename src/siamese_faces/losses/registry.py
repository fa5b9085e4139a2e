"""The registered losses: one interface, ``loss(input, target) -> scalar``, one registry.

A loss registers itself in its own file (``@register_loss("name")`` on an ``nn.Module``
class) and says what it ``takes``: a head's ``"logit"`` of "same" or its ``"distance"``
(pair losses, chosen by ``model.loss``), or ``"embedding"`` with identity labels (the
identity objectives, ``train.objective``). Its constructor's keyword arguments are
settings (``margin``, ``scale``) or what the objective supplies (``num_classes``, ``dim``).
"""

from __future__ import annotations

from torch import nn

from ..config import ConfigError, ModelConfig
from ..registry import Registry

LOSSES = Registry("loss", "model.loss", "losses")
register_loss = LOSSES.register


def create_loss(name: str, **settings) -> nn.Module:
    """Loss ``name`` built from the settings its constructor takes."""
    return LOSSES.create(name, **settings)


def pair_loss_name(model: ModelConfig, head_default: str) -> str:
    """``model.loss``, or the head's own loss when it is empty."""
    return model.loss or head_default


def check_pair_loss(name: str, head_output: str, head: str) -> None:
    """``name`` must be a registered loss that takes what the head gives; else the fix."""
    try:
        entry = LOSSES.get(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    takes = getattr(entry.build, "takes", None)
    if takes != head_output:
        raise ConfigError(
            f"model.loss={name!r} takes a {takes}, but model.head={head!r} gives a "
            f'{head_output}; choose a loss that takes a {head_output}, or model.loss="".'
        )
