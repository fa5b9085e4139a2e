"""Progress bars for long steps (decoding, training), on stderr so stdout stays parseable."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

PROGRESS_ENV = "SIAMESE_FACES_PROGRESS"


def progress(iterable=None, **kwargs):
    """A tqdm bar; quiet when ``SIAMESE_FACES_PROGRESS=0`` (tests, sweeps' worker logs)."""
    disable = os.environ.get(PROGRESS_ENV, "1") == "0"
    # When stderr is not a terminal (CI, a log file) redraw seldom instead of every step.
    mininterval = 0.1 if sys.stderr.isatty() else 10.0
    return tqdm(
        iterable,
        disable=disable,
        mininterval=mininterval,
        file=sys.stderr,
        dynamic_ncols=True,
        **kwargs,
    )
