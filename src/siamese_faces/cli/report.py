"""``siamese-faces report`` and ``siamese-faces run`` (the main job: everything, end to end)."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from . import options


def cmd_report(args) -> int:
    from ..reporting.report import build_report

    index = build_report(
        [Path(r) for r in args.runs],
        Path(args.out),
        ways=args.ways,
        trials=args.trials,
        **options.data_options(args),
    )
    print(f"report: {index} (and {index.parent / 'report.md'})")
    return 0


def cmd_run(args) -> int:
    """Analyse the data, train the default recipe, evaluate, one-shot, report."""
    from ..data.generate import pairs_for_run
    from ..data.source import source_of
    from ..data.stats import dataset_stats, format_stats
    from ..reporting.report import build_report
    from ..training.api import PAIRS_DIR, check_run_folder
    from .train import checked_config, train_from_args

    config, name = checked_config(args)  # a bad setting stops before the analysis
    start = time.perf_counter()
    run_dir = Path(args.out)

    def step(n: int, text: str) -> None:
        print(f"\n[{n}/4 {time.perf_counter() - start:6.0f}s] {text}", file=sys.stderr, flush=True)

    step(1, "dataset analysis")
    if not (run_dir / "results.json").is_file():  # a dataset without pairs files gets them
        if run_dir.is_dir():  # refused before anything is written into it
            check_run_folder(run_dir, (run_dir / "last.pt").is_file())
        made = pairs_for_run(config.data, run_dir / PAIRS_DIR, say=_say)
        config = dataclasses.replace(config, data=made)
    resolved = config, name
    source = source_of(config.data, args.allow_overlap)
    print(format_stats(dataset_stats(source)), file=sys.stderr)
    if (run_dir / "results.json").is_file():
        step(2, f"training: {run_dir} is already trained; using it (--out NEW to train again)")
    else:
        step(2, f"training {args.config or args.preset or options.DEFAULT_PRESET} -> {run_dir}")
        resume = (run_dir / "last.pt").is_file()  # an interrupted job goes on
        train_from_args(args, resume, resolved)
    step(3, f"evaluation and {args.ways}-way one-shot identification")
    report_dir = Path(args.report or run_dir / "report")
    step(4, f"report -> {report_dir}")
    index = build_report(
        [run_dir], report_dir, ways=args.ways, trials=args.trials, **options.data_options(args)
    )
    print(f"\ndone in {time.perf_counter() - start:.0f} s. Report: {index.resolve()}")
    return 0


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def add_commands(sub) -> None:
    p = sub.add_parser("report", help="HTML and Markdown report of one or more runs")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders; the first is detailed")
    p.add_argument("--out", metavar="DIR", required=True, help="where to write the report")
    options.add_data(p, data=False, pairs=(), overlap=False)
    options.add_oneshot(p)
    p.set_defaults(func=cmd_report, batch_work=True)

    p = sub.add_parser("run", help="the main job: analyse, train, evaluate, one-shot, report")
    options.add_data(p)
    options.add_config(p, default_out="runs/main")
    p.add_argument("--report", metavar="DIR", help="report folder (default: RUN/report)")
    options.add_oneshot(p)
    p.set_defaults(func=cmd_run)
