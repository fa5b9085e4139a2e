"""``siamese-faces sweep``: run (or resume) a sweep, then write its table and figures."""

from __future__ import annotations

import sys
from pathlib import Path

from . import options


def cmd_sweep(args) -> int:
    import optuna

    from ..data.layout import resolve_data_dir
    from ..sweeps.results import write
    from ..sweeps.sweep import default_storage, load_sweep, run_sweep

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_sweep(args.file)  # every point validated before anything runs
    root = Path(args.root)
    storage = args.storage or default_storage(spec, root)
    if not args.tables_only:
        if args.workers < 1 or args.seeds < 1:
            raise ValueError("--workers and --seeds must be at least 1.")
        data = str(resolve_data_dir(args.data))
        summary = run_sweep(
            args.file,
            data,
            storage,
            args.workers,
            args.seeds,
            str(root),
            args.cache_dir,
            args.max_trials,
            args.heartbeat,
        )
        print(f"sweep {summary['name']} ran for {summary['seconds']:.0f} s", file=sys.stderr)
    md = write(spec, storage, Path(args.out or root / spec.name / "results"))
    print(f"results: {md} (and results.csv, figures beside it)")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid or search of trainings on Optuna, then tabulate")
    p.add_argument("file", metavar="FILE", help="a sweep file (TOML with a [sweep] table)")
    options.add_data(p, pairs=(), overlap=False, skip_bad=False)
    options.add_workers(p, "trials", "runs/sweeps")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="seeds per grid point (mean ± std): train.seed (0 unless set) and the next ones",
    )
    p.add_argument("--out", metavar="DIR", help="where the table and figures go")
    p.add_argument("--max-trials", type=int, help="stop each worker after this many trials")
    p.add_argument(
        "--tables-only",
        action="store_true",
        help="only rebuild the table and figures from the storage",
    )
    p.set_defaults(func=cmd_sweep)
