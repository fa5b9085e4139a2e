"""``siamese-faces train`` and ``siamese-faces evaluate``."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from ..config import Config, apply_overrides, load_file, preset_names, preset_path

DEFAULT_PRESET = "default"  # the recipe of docs/accuracy.md that trains in minutes


def resolve_config(args) -> tuple[Config, str]:
    """Preset or file, then --data/--pairs-*, then --set; every value validated here."""
    if args.config and args.preset:
        raise ValueError("give --preset or --config, not both.")
    name = Path(args.config).stem if args.config else (args.preset or DEFAULT_PRESET)
    config = load_file(args.config) if args.config else load_file(preset_path(name))
    data = {
        k: v
        for k, v in (
            ("dir", args.data),
            ("pairs_train", args.pairs_train),
            ("pairs_test", args.pairs_test),
        )
        if v
    }
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, **data))
    device = [f"train.device={args.device}"] if getattr(args, "device", None) else []
    config = apply_overrides(config, device + (args.set or []))
    if not config.data.dir:
        from ..data.layout import resolve_data_dir

        config = dataclasses.replace(
            config, data=dataclasses.replace(config.data, dir=str(resolve_data_dir(None)))
        )
    return config, name


def cmd_train(args) -> int:
    from .distributed import init_distributed, shutdown
    from .rundata import prepare
    from .trainer import fit

    config, name = resolve_config(args)  # a bad value stops here, before any data is read
    run_dir = Path(args.out or f"runs/{name}-seed{config.train.seed}")
    if (run_dir / "last.pt").exists() and not args.resume:
        raise ValueError(
            f"{run_dir} already holds a run; pass --resume to continue it, or "
            "--out NEW_FOLDER to start another."
        )
    ctx = init_distributed(config.train.device)
    try:
        data = prepare(config, args.skip_bad_images, args.cache_dir, args.allow_overlap)
        for path, why in data.skipped:
            print(f"skipped bad image {path}: {why}", file=sys.stderr)
        if ctx.is_main:
            print(
                f"training {name} -> {run_dir} on {ctx.device} (world size {ctx.world}): "
                f"{len(data.train)} train / {len(data.val)} validation pairs"
                + (
                    f"; {len(data.identity_rows)} images of "
                    f"{len(data.identity_labels.unique())} training people"
                    if len(data.identity_rows)
                    else ""
                ),
                file=sys.stderr,
            )
        results = fit(config, data, run_dir, ctx, resume=args.resume)
    finally:
        shutdown(ctx)
    if ctx.is_main:
        print(
            json.dumps(results, indent=2)
            if args.json
            else f"done: best epoch {results['best_epoch']} of {results['epochs_run']}, "
            f"val/acc {results['val/acc']:.4f}, "
            f"test/acc {results.get('test/acc', float('nan')):.4f}"
            f" in {results['train_seconds']:.0f} s -> {run_dir}"
        )
    return 0


def add_config_args(p, default_out: str | None = None) -> None:
    g = p.add_argument_group("configuration")
    g.add_argument(
        "--preset",
        choices=preset_names(),
        help=f"a shipped configuration (default: {DEFAULT_PRESET})",
    )
    g.add_argument("--config", metavar="FILE", help="an experiment file (TOML)")
    g.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set train.lr=3e-4 (repeatable)",
    )
    g.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="where to train: the setting train.device (default auto: CUDA when present)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=default_out,
        help=f"run folder (default: {default_out or 'runs/<name>-seed<seed>'})",
    )


def add_training_commands(sub) -> None:
    from ..cli import _data_args

    p = sub.add_parser("train", help="train a Siamese network into a run folder")
    _data_args(p)
    add_config_args(p)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--json", action="store_true", help="print results.json at the end")
    p.set_defaults(func=cmd_train)
