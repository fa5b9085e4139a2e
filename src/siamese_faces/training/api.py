"""Training as a function: ``train(config, run_dir)``, called alike by the command line, the
main job, the sweep workers and the tests; nothing here parses arguments."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from ..config import Config
from ..data.generate import SUMMARY, pairs_for_run
from ..data.layout import resolve_data_dir
from ..data.rundata import RunData, prepare
from ..data.samplers import balanced_order
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
    if run_dir.is_dir():  # every process, before any joins the others
        check_run_folder(run_dir, resume)
    own_ctx = ctx is None
    ctx = ctx or init_distributed(config.train.device)
    lock = claim(run_dir, resume) if ctx.is_main else None  # rank 0 writes; it holds the folder
    try:
        if data is None:  # a dataset without pairs files gets them made into the run folder
            say = _say if ctx.is_main else None
            made = pairs_for_run(config.data, run_dir / PAIRS_DIR, say=say)
            config = dataclasses.replace(config, data=made)
        data = data or prepare(config, skip_bad_images, cache_dir, allow_overlap)
        for path, why in data.skipped:
            print(f"skipped bad image {path}: {why}", file=sys.stderr)
        if ctx.is_main:
            print(
                f"training {name or 'a model'} -> {run_dir} on {ctx.device} (world size "
                f"{ctx.world}): {describe(data, config)}",
                file=sys.stderr,
            )
        results = fit(config, data, run_dir, ctx, resume=resume, hook=hook)
    finally:
        if lock is not None:
            lock.release()
        if own_ctx:
            shutdown(ctx)
    return RunResult(run_dir, results, ctx.is_main)


def finished(results: dict, run_dir: str | Path) -> str:
    """A finished training in one line: its best epoch, validation accuracy (what chose it),
    test accuracy where there are test pairs (reported, never chosen on), time and folder."""
    test = results.get("test/acc")
    return (
        f"done: best epoch {results['best_epoch']} of {results['epochs_run']}, "
        f"val/acc {results['val/acc']:.4f}, "
        + ("no test pairs, " if test is None else f"test/acc {test:.4f}, ")
        + f"in {results['train_seconds']:.0f} s -> {run_dir}"
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr)


LOCK_FILE = ".lock"
PAIRS_DIR = "pairs"  # pairs made for a dataset that has none (data/generate.py)


def claim(run_dir: Path, resume: bool) -> FileLock:
    """Hold ``run_dir`` for this training: refused while another process holds it (the lock
    goes with the process, even a killed one), refused for a folder that holds something other
    than a run of ours, and ``resume`` only where there is a run to continue."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ValueError(
            f"{run_dir}: another training is writing this run folder; wait for it to end, or "
            "train into another --out."
        ) from None
    try:
        check_run_folder(run_dir, resume)
    except ValueError:
        lock.release()
        raise
    return lock


def check_run_folder(run_dir: Path, resume: bool) -> None:
    started = (run_dir / "config.json").is_file()  # a run of ours, maybe no epoch finished
    if (run_dir / "last.pt").exists() and not resume:
        raise ValueError(
            f"{run_dir} already holds a run; pass --resume to continue it, or "
            "--out NEW_FOLDER to start another."
        )
    if resume and not (run_dir / "last.pt").exists() and not started:
        raise ValueError(
            f"{run_dir}: --resume, but there is no run to continue there (no last.pt); "
            "leave out --resume to start one."
        )
    ours = {LOCK_FILE} | ({PAIRS_DIR} if (run_dir / PAIRS_DIR / SUMMARY).is_file() else set())
    others = [p.name for p in run_dir.iterdir() if p.name not in ours]
    if others and not started:
        raise ValueError(
            f"{run_dir}: not empty ({', '.join(sorted(others)[:3])}...) and not a run of "
            "siamese-faces; train into a new or empty --out, so that nothing there is "
            "overwritten."
        )


def describe(data: RunData, config: Config | None = None) -> str:
    """How many pairs (and, unrestricted, images of how many people, and how many of those
    images an epoch takes if ``config`` limits them) a run trains on."""
    text = f"{len(data.train)} train / {len(data.val)} validation pairs"
    if len(data.identity_rows):
        people = len(data.identity_labels.unique())
        text += f"; {len(data.identity_rows)} images of {people} training people"
    t = config.train if config is not None else None
    if t is not None and t.limits_images_per_person:
        order = balanced_order(
            data.identity_labels.numpy(), 0, 0, t.max_images_per_person, t.min_images_per_person
        )
        text += (
            f", {len(order)} of them an epoch (train.max_images_per_person="
            f"{t.max_images_per_person}, train.min_images_per_person={t.min_images_per_person})"
        )
    return text
