"""``siamese-faces train``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..config import Config, apply_overrides, load_file, preset_path
from . import options


def resolve_config(args) -> tuple[Config, str]:
    """Preset or file, then --data / --pairs-*, then --device and --set; each value checked."""
    if args.config and args.preset:
        raise ValueError("give --preset or --config, not both.")
    name = Path(args.config).stem if args.config else (args.preset or options.DEFAULT_PRESET)
    config = load_file(args.config) if args.config else load_file(preset_path(name))
    given = {
        "dir": args.data,
        "pairs_train": getattr(args, "pairs_train", None),  # benchmark: the View 2 file's folds
        "pairs_test": args.pairs_test,
        "depth": getattr(args, "depth", None),
    }
    data = dataclasses.replace(config.data, **{k: v for k, v in given.items() if v})
    config = dataclasses.replace(config, data=data)
    device = [f"train.device={args.device}"] if getattr(args, "device", None) else []
    return apply_overrides(config, device + (args.set or [])), name


def checked_config(args) -> tuple[Config, str]:
    """``resolve_config``, checked against the registries (a bad value stops here, before
    the data folder is looked for), with ``data.dir`` filled from the environment if empty."""
    from ..training.api import check_config, with_data_dir

    config, name = resolve_config(args)
    check_config(config)
    return with_data_dir(config), name


def train_from_args(args, resume: bool, resolved: tuple[Config, str] | None = None):
    """Train what the arguments name (or their ``checked_config``); the library's RunResult."""
    from ..training.api import train

    config, name = resolved or checked_config(args)
    run_dir = Path(args.out or f"runs/{name}-seed{config.train.seed}")
    return train(
        config,
        run_dir,
        resume,
        name=name,
        allow_overlap=args.allow_overlap,
        **options.data_options(args),
    )


def cmd_train(args) -> int:
    from ..training.api import finished

    run = train_from_args(args, args.resume)
    results = run.results
    if run.is_main:  # under torchrun every process returns here; one prints
        print(json.dumps(results, indent=2) if args.json else finished(results, run.run_dir))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train a Siamese network into a run folder")
    options.add_data(p)
    options.add_config(p)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    options.add_json(p, "results.json at the end")
    p.set_defaults(func=cmd_train)
