"""Files written so that a crash never leaves half of one: a temporary name, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fh)`` on a temporary file beside ``target``, then rename it over ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LaterWrites:
    """Files written by :func:`atomic_write` on one thread of their own, in the order given, so
    that the caller need not wait on the disk (training's checkpoints: 33 MB and more an
    epoch, each flushed to the disk before its rename). ``wait`` returns once every file
    given is written, raising the first error met; until then each file is as it was before,
    never half-written."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []

    def write(self, target: Path, data: bytes | memoryview) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="later-writes")
        self._pending.append(self._pool.submit(atomic_write, target, lambda fh: fh.write(data)))

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        for done in pending:
            done.result()

    def close(self) -> None:
        """``wait``, then let the thread go."""
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None


def atomic_write_text(target: Path, text: str) -> None:
    atomic_write(target, lambda fh: fh.write(text.encode("utf-8")))


def csv_text(rows: list[dict]) -> str:
    """Rows of equal keys as CSV text with a header (empty text for no rows)."""
    import csv
    import io

    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def unreadable(path: Path, what: str, exc: OSError) -> str | None:
    """Why ``path`` (a ``what``: "pairs file", "image file") could not be read, as a message,
    for the errors a user can fix; None for any other."""
    if isinstance(exc, FileNotFoundError):
        return f"{path}: {what} not found."
    if isinstance(exc, IsADirectoryError):
        return f"{path}: a folder, not {'an' if what[0] in 'aeiou' else 'a'} {what}."
    if isinstance(exc, PermissionError):
        return f"{path}: {what} not readable (permission denied)."
    return None
