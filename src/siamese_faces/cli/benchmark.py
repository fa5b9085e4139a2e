"""``siamese-faces benchmark lfw``: LFW View 2's ten folds for a recipe."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from . import options


def cmd_benchmark_lfw(args) -> int:
    import optuna

    from ..data.layout import DATA_ENV, resolve_data_dir
    from ..sweeps.benchmark import (
        earlier_folds,
        parse_folds,
        run_benchmark,
        summarize,
        view2_spec,
    )
    from ..sweeps.sweep import default_storage, storage_file
    from .train import resolve_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config, name = resolve_config(args)  # no --pairs-train: each fold trains on the others
    if args.workers < 1 or args.seeds < 1:
        raise ValueError("--workers and --seeds must be at least 1.")
    # A summary reads the storage and the run folders, never an image: it needs no dataset.
    if not args.summary_only or args.data or os.environ.get(DATA_ENV):
        data = str(resolve_data_dir(args.data))
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, dir=data))
    spec = view2_spec(config, args.name or f"lfw-view2-{name}", parse_folds(args.folds))
    if args.merge and not args.summary_only:
        raise ValueError("--merge goes with --summary-only: it trains nothing.")
    if args.summary_only:  # the folds finished so far, from the storage and run folders
        storage = args.storage or default_storage(spec, Path(args.root))
        db = storage_file(spec, Path(args.root))
        if not args.storage and not args.merge and not db.is_file():
            raise ValueError(
                f"{db}: no such storage, so no fold of {spec.name!r} ran under --root "
                f"{args.root}; give the --root and --name (or --storage) the folds ran with."
            )
        Path(args.root).mkdir(parents=True, exist_ok=True)  # --merge alone: an empty storage
        earlier = earlier_folds(args.merge, spec, args.seeds)
        out = Path(args.root) / spec.name
        summary = summarize(spec, storage, out, args.cache_dir, earlier, args.seeds)
    else:
        summary = run_benchmark(
            spec,
            config.data.dir,
            Path(args.root),
            args.storage,
            args.workers,
            args.cache_dir,
            args.heartbeat,
            args.seeds,
        )
    print(result_line(summary, args.seeds, Path(args.root) / spec.name / "results.md"))
    return 0


def result_line(summary: dict, seeds: int, md: Path) -> str:
    """The benchmark's result in one line, or that no fold has finished (all its seeds)."""
    from ..sweeps.benchmark import auc_text

    n, name = len(summary["folds"]), summary["name"]
    if not n:
        what = "finished" if seeds == 1 else f"all its {seeds} seeds finished"
        return f"{name}: no fold has {what} yet; nothing to summarise -> {md}"
    each = "" if seeds == 1 else f", the ensemble of {seeds} seeds a fold"
    return (
        f"{name}: {100 * summary['acc_mean']:.2f} ± {100 * summary['acc_se']:.2f}% over "
        f"{n} fold(s) (mean ± SE{each}), AUC {auc_text(summary)} -> {md}"
    )


def add_commands(sub) -> None:
    p = sub.add_parser("benchmark", help="a benchmark's protocol: LFW View 2's ten folds")
    bench = p.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    p = bench.add_parser("lfw", help="train a model a fold on the other nine, test on the fold")
    options.add_data(p, pairs=("test",), overlap=False, skip_bad=False)
    options.add_config(p, out=False)
    p.add_argument("--folds", default="1-10", help="which folds, e.g. 1-10, 3 or 1,4,7")
    p.add_argument("--name", help="the benchmark's name in the storage (default lfw-view2-RECIPE)")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="trainings a fold (train.seed and the next ones), each fold scored by their "
        "ensemble, the mean of their scores, each seed's own accuracy beside it (default 1)",
    )
    options.add_workers(p, "folds", "runs/benchmark")
    p.add_argument(
        "--summary-only",
        action="store_true",
        help="train nothing: summarise the folds the storage holds as finished",
    )
    p.add_argument(
        "--merge",
        nargs="+",
        default=[],
        metavar="RESULTS_JSON",
        help="with --summary-only: also the folds of these earlier results.json files (another "
        "machine's, or a session's whose run folders are gone), for folds the storage lacks",
    )
    p.set_defaults(func=cmd_benchmark_lfw)
