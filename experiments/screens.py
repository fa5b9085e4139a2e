"""What the refit screens share (``descriptor_pca.py``, ``validation_negatives.py``): their
command line over runs and ways, and how their rows are reported."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path


def screen_parser(doc: str, ways: Iterable[str]) -> argparse.ArgumentParser:
    """Runs, ``--ways`` (comma-separated, of ``ways``), ``--json`` and ``--summary FILE``;
    the script adds its own options."""
    ways = list(ways)
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("runs", nargs="*")
    p.add_argument("--ways", default=",".join(ways), help=f"comma-separated, of {', '.join(ways)}")
    p.add_argument("--json", action="store_true", help="print every row as JSON")
    p.add_argument("--summary", metavar="FILE", help="the summary of a saved --json output")
    return p


def saved_summary(args, summary: Callable) -> bool:
    """``summary`` of the rows saved in ``--summary FILE``, if one was given (then True)."""
    if args.summary:
        summary(json.loads(Path(args.summary).read_text()))
    return bool(args.summary)


def report_rows(rows: Iterable[dict], summary: Callable, as_json: bool) -> None:
    """Each row on stderr as it comes (a long screen shows how far it got), then all of them
    as JSON on stdout if ``as_json``, and their ``summary`` (on stderr beside the JSON)."""
    done = []
    for row in rows:
        done.append(row)
        print(json.dumps(row), file=sys.stderr)
    if as_json:
        print(json.dumps(done, indent=2))
    summary(done, sys.stderr if as_json else sys.stdout)
