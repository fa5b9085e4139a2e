"""Progress bars for long steps (decoding, training), on stderr so stdout stays parseable."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

PROGRESS_ENV = "SIAMESE_FACES_PROGRESS"


def progress(iterable=None, enabled: bool = True, **kwargs):
    """A tqdm bar on stderr, shown when ``enabled`` and stderr is a terminal."""
    # Bars are for terminals; in a log file (CI, a sweep worker) the per-epoch lines suffice.
    # SIAMESE_FACES_PROGRESS=1 forces them on, =0 off.
    env = os.environ.get(PROGRESS_ENV, "")
    disable = not enabled or env == "0" or (env != "1" and not sys.stderr.isatty())
    return tqdm(iterable, disable=disable, file=sys.stderr, dynamic_ncols=True, **kwargs)
