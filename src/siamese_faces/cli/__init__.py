"""The ``siamese-faces`` command line: one sub-command per thing a user does.

The only place that parses arguments: each command turns its options into a call of the
library (``training.api``, ``evaluation.api``, ``reporting.report``, ``sweeps``) and prints.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import benchmark, data, evaluate, report, serve, sweep, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siamese-faces",
        description="One-shot face verification with Siamese networks: analyse a face dataset, "
        "train, evaluate, verify two photos, report.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an error instead of one line (also: {DEBUG_ENV}=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for commands in (data, train, evaluate, serve, report, sweep, benchmark):
        commands.add_commands(sub)
    return parser


# Exit codes (README, "When things go wrong").
EXIT_INPUT = 2  # a setting, a file or its content is wrong: the message says which and the fix
EXIT_SYSTEM = 3  # the system refused: permission, a full disk, an unreachable storage
EXIT_DIVERGED = 4  # training diverged (NaN or infinite loss or scores)
EXIT_INTERRUPTED = 130  # Ctrl-C
DEBUG_ENV = "SIAMESE_FACES_DEBUG"
MAX_MESSAGE = 600  # characters: an error never echoes a whole file


def classify(exc: BaseException) -> tuple[int, str] | None:
    """An expected failure's exit code and one-line message; None for a bug (a traceback)."""
    # Only a run that imported PyTorch can diverge: an error before that imports nothing more.
    diverged = tuple(
        getattr(sys.modules[m], name)
        for m, name in (
            ("siamese_faces.training.trainer", "Diverged"),
            ("siamese_faces.evaluation.metrics", "NonFiniteScores"),
        )
        if m in sys.modules
    )
    if diverged and isinstance(exc, diverged):
        return EXIT_DIVERGED, str(exc)
    if isinstance(exc, ValueError):  # ConfigError, DatasetError, PairsFormatError, ...
        return EXIT_INPUT, str(exc)
    if isinstance(exc, OSError):
        where = exc.filename or "a file"
        return EXIT_SYSTEM, f"{where}: {exc.strerror or exc}; check the path and its permissions."
    if type(exc).__module__.startswith("sqlalchemy"):  # Optuna's storage
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return EXIT_SYSTEM, f"the sweep storage: {first}; check --storage and that the server runs."
    return None


def skip_hint(exc: BaseException, args: argparse.Namespace) -> str:
    """The second fix for an image a command cannot use, where the command has one: only a
    command with ``--skip-bad-images`` names it (verify's two photos have none to spare)."""
    images = sys.modules.get("siamese_faces.data.images")  # an image error imported it
    if images is None or not isinstance(exc, images.BadImageError):
        return ""
    if not hasattr(args, "skip_bad_images") or args.skip_bad_images:
        return ""
    return " Or pass --skip-bad-images to leave it out; what is left out is reported."


def main(argv: list[str] | None = None) -> int:
    import os

    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        if getattr(args, "batch_work", False):
            # A command that embeds many faces in batches keeps freed tensors' memory for the
            # next batch, as training does (train.reuse_memory): else each batch's large
            # tensors come on fresh pages, faulted in and zeroed (evaluate of the main job's
            # run spent 8-12 s of system time on them: README, design notes). Not serve,
            # whose memory after a burst goes back.
            from ..runtime import reuse_freed_memory

            reuse_freed_memory()
        return args.func(args)
    except KeyboardInterrupt:
        print("siamese-faces: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        known = classify(exc)
        if known is None or debug:
            raise  # a bug, or --debug: the traceback is what is needed
        code, text = known
        text = " ".join(text.split())
        if len(text) > MAX_MESSAGE:
            text = text[:MAX_MESSAGE] + "..."
        print(f"siamese-faces: error: {text}{skip_hint(exc, args)}", file=sys.stderr)
        return code
