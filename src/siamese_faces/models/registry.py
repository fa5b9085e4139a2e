"""The registered towers, and the Siamese net built around one: ``create_model(name, ...)``.

A tower registers itself in its own file (``@register_tower("name")`` on a builder whose
keyword arguments are its ``model.*`` settings, with its own defaults) and declares what the
configuration must check (``batchnorm``: whether it has BatchNorm, a bool or a function of
its settings; ``check``: a function of its settings that raises ConfigError with the fix).
The net around it (head, members, views, whitening, score normalisation, initialisation) is the
same for every tower. Every registered tower goes through the same shape, NaN and gradient
tests.
"""

from __future__ import annotations

import dataclasses

import torch

from ..config import Config, ConfigError, ModelConfig
from ..registry import Registry
from .cohort import CohortNorm
from .descriptors import make_descriptor, size_problem
from .heads import make_head
from .init import initialise
from .siamese import Downsampled, MemberTowers, SiameseNet, halvings
from .whiten import WithinClassWhitening

MODELS = Registry("model", "model.name")
register_tower = MODELS.register

# Settings of the net around the tower, the same for every tower.
NET_SETTINGS = (
    "head",
    "margin",
    "members",
    "views",
    "views_before_halving",
    "wccn",
    "score_norm",
    "descriptor",
    "descriptor_dim",
    "descriptor_lbp_divisor",
    "descriptor_lbp_radii",
    "descriptor_illumination",
    "descriptor_halvings",
    "tower_size",
    "flip_tta",
    "init",
)


def create_model(name: str, generator: torch.Generator | None = None, **settings) -> SiameseNet:
    """The Siamese net around tower ``name``; weights drawn from ``generator`` (seed 0 if None).

    ``settings`` are ``model.*`` settings (and the tower's own, such as ``input_size``); what
    is left out takes the tower's (or the net's) default.
    """
    entry = MODELS.get(name)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    tower_params = entry.params or set()
    # A model.* setting of another tower is no error (a configuration names them all); a
    # name that is no setting at all is.
    known = {"input_size", *(f.name for f in dataclasses.fields(ModelConfig))}  # input: data.size
    unknown = set(settings) - tower_params - known
    if unknown:
        raise ValueError(
            f"model {name!r} takes no setting {', '.join(sorted(unknown))}; it takes "
            f"{', '.join(sorted(tower_params | set(NET_SETTINGS)))}."
        )
    base = ModelConfig()
    net = {k: getattr(base, k) for k in NET_SETTINGS}
    net.update(entry.declared.get("net_defaults", {}))
    net.update({k: v for k, v in settings.items() if k in NET_SETTINGS})
    tower_settings = entry.own(settings)
    size = settings.get("input_size")  # the net's input: the faces' size (data.size)
    if size and halvings(size, net["tower_size"]):  # the tower's own (model.tower_size)
        tower_settings["input_size"] = net["tower_size"]
    return _assemble(lambda: entry.build(**tower_settings), net, generator, size)


def model_from_config(config: Config, generator: torch.Generator | None = None) -> SiameseNet:
    """The net ``config.model`` describes, for inputs of ``config.data.size``."""
    m = config.model
    entry = MODELS.get(m.name)
    settings = {k: v for k, v in dataclasses.asdict(m).items() if k != "name"}
    wanted = {**{k: settings[k] for k in NET_SETTINGS}, **entry.own(settings)}
    return create_model(m.name, generator, input_size=config.data.size, **wanted)


def has_batchnorm(model: ModelConfig) -> bool:
    """Whether the tower ``model`` names has BatchNorm, as it declared when it registered."""
    declared = MODELS.get(model.name).declared.get("batchnorm", False)
    return declared(dataclasses.asdict(model)) if callable(declared) else bool(declared)


def check_model_config(config: Config) -> None:
    """What the registered tower asks of the configuration; a ConfigError with the fix."""
    try:
        entry = MODELS.get(config.model.name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if "check" in entry.declared:
        entry.declared["check"](dataclasses.asdict(config.model))
    if has_batchnorm(config.model) and config.train.batch_size < 2:
        raise ConfigError(
            f"train.batch_size={config.train.batch_size}: BatchNorm needs at least 2 faces a "
            "batch; use 2 or more (e.g. 128)."
        )
    if config.model.descriptor != "none":
        if problem := size_problem(config.data.size, config.model.descriptor_halvings):
            raise ConfigError(problem)


def _assemble(
    make_tower, net: dict, generator: torch.Generator, size: int | None = None
) -> SiameseNet:
    """The net around ``net["members"]`` towers from ``make_tower``, weights from ``generator``."""
    members, views = net["members"], net["views"]
    times = halvings(size, net["tower_size"]) if size else 0
    cut_first = times and net["views_before_halving"]  # each view cut from the input, halved

    def member() -> torch.nn.Module:
        return Downsampled(make_tower(), times, net["tower_size"]) if cut_first else make_tower()

    tower = (
        member()
        if members == 1 and not views
        else MemberTowers([member() for _ in range(members)], views)
    )
    if times and not cut_first:
        tower = Downsampled(tower, times, net["tower_size"])
    siamese = SiameseNet(tower, make_head(net["head"], tower.embedding_dim, net["margin"], members))
    if net["wccn"]:
        siamese.whiten = WithinClassWhitening(tower.embedding_dim, members, net["wccn"])
    fused = tower.embedding_dim
    if net["descriptor"] != "none":
        siamese.descriptor = make_descriptor(
            size,
            net["descriptor_dim"],
            net["descriptor_lbp_divisor"],
            net["descriptor_lbp_radii"],
            net["descriptor_illumination"],
            net["descriptor_halvings"],
        )
        fused += siamese.descriptor.dim
    if net["score_norm"] != "none":
        siamese.score_norm = CohortNorm(fused)
    initialise(siamese, net["init"], generator)
    siamese.flip_tta = net["flip_tta"]
    return siamese
