"""Training as a function: ``train(config, run_dir)``, called alike by the command line, the
main job, the sweep workers and the tests; nothing here parses arguments."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..data.layout import resolve_data_dir
from ..data.rundata import RunData, prepare
from ..losses import check_pair_loss, pair_loss_name
from ..models import check_model_config
from ..models.heads import HEADS
from ..runtime import DistContext, init_distributed, shutdown
from .trainer import StepHook, fit


@dataclass
class RunResult:
    run_dir: Path
    results: dict  # what results.json holds
    is_main: bool = True  # under torchrun: whether this process is the one that writes


def check_config(config: Config) -> None:
    """Every check that needs the registries (the tower's, the loss's), before data is read."""
    check_model_config(config)
    head = HEADS[config.model.head]
    check_pair_loss(pair_loss_name(config.model, head.default_loss), head.output, config.model.head)


def with_data_dir(config: Config) -> Config:
    """``config`` with ``data.dir`` filled from ``$SIAMESE_FACES_DATA`` when it is empty."""
    if config.data.dir:
        return config
    data = dataclasses.replace(config.data, dir=str(resolve_data_dir(None)))
    return dataclasses.replace(config, data=data)


def train(
    config: Config,
    run_dir: str | Path,
    resume: bool = False,
    *,
    name: str = "",
    skip_bad_images: bool = False,
    cache_dir: str | Path | None = None,
    allow_overlap: bool = False,
    ctx: DistContext | None = None,
    data: RunData | None = None,
    hook: StepHook | None = None,
) -> RunResult:
    """Train ``config`` into ``run_dir`` (``resume``: continue its ``last.pt``).

    ``ctx``: this process's place under ``torchrun`` (default: joined here from the
    environment, and left at the end); ``data``: the prepared run data, if already in memory.
    """
    check_config(config)  # a bad value stops here, before any data is read
    config, run_dir = with_data_dir(config), Path(run_dir)
    if (run_dir / "last.pt").exists() and not resume:
        raise ValueError(
            f"{run_dir} already holds a run; pass --resume to continue it, or "
            "--out NEW_FOLDER to start another."
        )
    own_ctx = ctx is None
    ctx = ctx or init_distributed(config.train.device)
    try:
        data = data or prepare(config, skip_bad_images, cache_dir, allow_overlap)
        for path, why in data.skipped:
            print(f"skipped bad image {path}: {why}", file=sys.stderr)
        if ctx.is_main:
            print(
                f"training {name or 'a model'} -> {run_dir} on {ctx.device} (world size "
                f"{ctx.world}): {describe(data)}",
                file=sys.stderr,
            )
        results = fit(config, data, run_dir, ctx, resume=resume, hook=hook)
    finally:
        if own_ctx:
            shutdown(ctx)
    return RunResult(run_dir, results, ctx.is_main)


def describe(data: RunData) -> str:
    """How many pairs (and, unrestricted, images of how many people) a run trains on."""
    text = f"{len(data.train)} train / {len(data.val)} validation pairs"
    if len(data.identity_rows):
        people = len(data.identity_labels.unique())
        text += f"; {len(data.identity_rows)} images of {people} training people"
    return text
