"""``siamese-faces report`` and ``siamese-faces run`` (the main job: everything, end to end)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ways", type=int, default=20, help="N of the one-shot test (default 20)")
    p.add_argument("--trials", type=int, default=1000, help="one-shot trials (default 1000)")


def _eval_namespace(args) -> argparse.Namespace:
    """What the evaluation helpers read: the run's own data, nothing overridden."""
    return argparse.Namespace(
        data=None,
        pairs=None,
        skip_bad_images=args.skip_bad_images,
        cache_dir=args.cache_dir,
        allow_overlap=False,
        ways=args.ways,
        trials=args.trials,
    )


def cmd_report(args) -> int:
    from .report import build

    index = build([Path(r) for r in args.runs], Path(args.out), _eval_namespace(args))
    print(f"report: {index} (and {index.parent / 'report.md'})")
    return 0


def cmd_run(args) -> int:
    """Analyse the data, train the default recipe, evaluate, one-shot, report."""
    from ..data.source import open_source
    from ..data.stats import dataset_stats, format_stats
    from ..training.cli import DEFAULT_PRESET, cmd_train
    from .report import build

    start = time.perf_counter()

    def step(n: int, text: str) -> None:
        print(f"\n[{n}/4 {time.perf_counter() - start:6.0f}s] {text}", file=sys.stderr, flush=True)

    step(1, "dataset analysis")
    print(
        format_stats(
            dataset_stats(
                open_source(args.data, args.pairs_train, args.pairs_test, args.allow_overlap)
            )
        ),
        file=sys.stderr,
    )
    run_dir = Path(args.out)
    if (run_dir / "results.json").is_file():
        step(2, f"training: {run_dir} is already trained; using it (--out NEW to train again)")
    else:
        step(2, f"training {args.config or args.preset or DEFAULT_PRESET} -> {run_dir}")
        args.resume = (run_dir / "last.pt").is_file()  # an interrupted main job continues
        args.json = False
        cmd_train(args)
    step(3, f"evaluation and {args.ways}-way one-shot identification")
    report_dir = Path(args.report or run_dir / "report")
    step(4, f"report -> {report_dir}")
    index = build([run_dir], report_dir, _eval_namespace(args))
    print(f"\ndone in {time.perf_counter() - start:.0f} s. Report: {index.resolve()}")
    return 0


def add_reporting_commands(sub) -> None:
    from ..cli import _data_args
    from ..training.cli import add_config_args

    p = sub.add_parser("report", help="HTML and Markdown report of one or more runs")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders; the first is detailed")
    p.add_argument("--out", metavar="DIR", required=True, help="where to write the report")
    p.add_argument("--skip-bad-images", action="store_true")
    p.add_argument("--cache-dir", metavar="DIR")
    _report_args(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("run", help="the main job: analyse, train, evaluate, one-shot, report")
    _data_args(p)
    add_config_args(p, default_out="runs/main")
    p.add_argument("--report", metavar="DIR", help="report folder (default: RUN/report)")
    _report_args(p)
    p.set_defaults(func=cmd_run)
