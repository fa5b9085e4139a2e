"""Finished runs that a new run learns from: a teacher (``train.teacher``, distill.py) or a
starting point (``train.start_from``, e.g. a self-supervised pre-training run).

Either way the protocol's rule reaches through them: a run must not learn, at one remove,
from a person it validates or tests on. So each is checked against this run's held-out
people, from the source run's own data, before anything trains; and it must have seen its
faces exactly as this run does (the same size and crop).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import Config, ConfigError
from ..data.rundata import RunData, prepare


def check_sources_exist(cfg: Config) -> None:
    """A ConfigError for a ``train.teacher`` or ``train.start_from`` that names no finished
    run: checked before a sweep or benchmark starts, not when its trial comes up."""
    for setting, path in (
        ("train.teacher", cfg.train.teacher),
        ("train.start_from", cfg.train.start_from),
    ):
        if path:
            check_finished(setting, path)


def check_finished(setting: str, path: str | Path) -> None:
    """A ConfigError unless ``path`` is a run trained to its end. results.json is written
    last, after the best weights and what is fitted after training, so a run stopped part
    way (its best.safetensors already there) is refused rather than half used."""
    path = Path(path)
    if (path / "results.json").is_file():
        return
    why = (
        "it stopped before its end: best.safetensors but no results.json"
        if (path / "best.safetensors").is_file()
        else "no best.safetensors"
    )
    raise ConfigError(
        f"{setting}={str(path)!r}: no finished run there ({why}); train it to its end "
        "first (a stopped `siamese-faces train` resumes with --resume, a benchmark fold with "
        "its benchmark command run again), or correct the path."
    )


def source_run(setting: str, path: str, cfg: Config, data: RunData, device: torch.device):
    """The run folder ``path`` given as ``setting`` (``train.teacher`` or
    ``train.start_from``), loaded on ``device`` once it passed both checks; a ConfigError
    naming the fix if not."""
    from ..evaluation.runs import load_run  # the trainer needs it only for these settings

    check_finished(setting, path)
    path = Path(path)
    run = load_run(path, device)
    d = run.config.data
    if (d.size, tuple(d.crop)) != (cfg.data.size, tuple(cfg.data.crop)):
        raise ConfigError(
            f"{setting}={str(path)!r} sees {d.size}px faces cropped to {d.crop}, this run "
            f"{cfg.data.size}px cropped to {cfg.data.crop}: choose a run trained with the "
            "same data.size and data.crop."
        )
    check_people(setting, path, prepare(run.config).trained_people(), data)
    return run


def check_people(setting: str, path: Path, taught: set[str], data: RunData) -> None:
    """An error when the source run trained on a person this run validates or tests on."""
    held_out = {n for p in data.val.pairs for n in p.people}
    if data.test is not None:
        held_out |= {n for p in data.test.pairs for n in p.people}
    seen = sorted(taught & held_out)
    if seen:
        raise ConfigError(
            f"{setting}={str(path)!r} trained on {len(seen)} people this run validates or "
            f"tests on ({', '.join(seen[:3])}...); what it learnt from them would pass on. "
            "Train it on this run's data with the same data.split_seed, data.val_fraction "
            "and data.train_people."
        )


def start_from(net, cfg: Config, data: RunData, device: torch.device) -> None:
    """Copy the tower weights of ``train.start_from`` into ``net`` (the head, any class
    weights and the whitening start afresh: they belong to the source's objective)."""
    run = source_run("train.start_from", cfg.train.start_from, cfg, data, device)
    try:
        net.tower.load_state_dict(run.net.tower.state_dict())
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise ConfigError(
            f"train.start_from={cfg.train.start_from!r}: its tower is not this run's "
            f"({first}); use the same model.* settings as the run it starts from."
        ) from None
