"""The ``siamese-faces`` command line: one sub-command per thing a user does.

The only place that parses arguments: each command turns its options into a call of the
library (``training.api``, ``evaluation.api``, ``reporting.report``, ``sweeps``) and prints.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import benchmark, data, evaluate, report, sweep, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siamese-faces",
        description="One-shot face verification with Siamese networks: analyse a face dataset, "
        "train, evaluate, verify two photos, report.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for commands in (data, train, evaluate, report, sweep, benchmark):
        commands.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..data.images import BadImageError
    from ..data.layout import DatasetError
    from ..data.lfw import PairsFormatError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatasetError, PairsFormatError, BadImageError, ValueError) as exc:
        # User errors: one clear line, no traceback. Bugs (other exceptions) keep theirs.
        print(f"siamese-faces: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("siamese-faces: interrupted", file=sys.stderr)
        return 130
