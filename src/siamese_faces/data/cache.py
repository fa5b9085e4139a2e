"""A decoded, preprocessed uint8 image array on disk, so that only the first run decodes JPEGs.

The cache key covers every input that can change the array: each file's path, size and
modification time, the preprocessing, and this format's version. The array is written to a
temporary file and renamed, and its index (a JSON file that is the only thing that makes
the array trusted) is renamed into place after it: a crash at any point leaves either a
complete, indexed cache or nothing that a later run will read.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..io import atomic_write
from ..progress import progress
from .images import BadImageError, Preprocess, load_image

# 2: EXIF orientation applied, pixel limit; 3: the index names images by their row in the
# key's list, not by the path as first spelt (a hit under another spelling of the same
# folder, ../shared/x against /work/shared/x, handed back the first spelling's paths).
CACHE_VERSION = 3
CACHE_ENV = "SIAMESE_FACES_CACHE"


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "siamese-faces"


@dataclass
class ImageSet:
    """Decoded images of a list of files: ``images[row_of[path]]`` is ``(size, size)`` uint8."""

    images: np.ndarray  # (N, S, S) uint8
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    cache_hit: bool = False
    cache_file: Path | None = None
    seconds: float = 0.0

    @property
    def row_of(self) -> dict[Path, int]:
        return {p: i for i, p in enumerate(self.paths)}


def cache_key(paths: Sequence[Path], preprocess: Preprocess) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"version": CACHE_VERSION, "preprocess": asdict(preprocess)}, sort_keys=True
        ).encode()
    )
    for p in paths:
        st = os.stat(p)
        h.update(f"\n{os.path.abspath(p)}\t{st.st_size}\t{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def _decode_all(paths: Sequence[Path], preprocess: Preprocess, skip_bad: bool, workers: int):
    out = np.zeros((len(paths), preprocess.size, preprocess.size), dtype=np.uint8)
    ok = np.ones(len(paths), dtype=bool)
    skipped: list[tuple[Path, str]] = []

    def work(i: int):
        try:
            out[i] = load_image(paths[i], preprocess)
            return None
        except BadImageError as exc:
            return i, exc

    # Pillow releases the GIL while decoding and resizing, so threads use every core.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(work, range(len(paths)), chunksize=64)
        for result in progress(results, total=len(paths), desc="decoding images", unit="img"):
            if result is not None:
                i, exc = result
                if not skip_bad:
                    raise exc
                ok[i] = False
                skipped.append((paths[i], str(exc)))
    kept = [p for p, good in zip(paths, ok, strict=True) if good]
    return out[ok], kept, skipped


def load_images(
    paths: Sequence[Path],
    preprocess: Preprocess,
    cache_dir: Path | None = None,
    skip_bad: bool = False,
    workers: int | None = None,
    use_cache: bool = True,
) -> ImageSet:
    """Decode and preprocess ``paths`` through the on-disk cache.

    A bad image raises :class:`BadImageError`, or with ``skip_bad`` is left out and listed in
    ``ImageSet.skipped`` (never silently).
    """
    start = time.perf_counter()
    paths = [Path(p) for p in paths]
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(paths, preprocess)
    array_file, index_file = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"

    if use_cache and index_file.is_file() and array_file.is_file():
        loaded = _read_cache(array_file, index_file, key, paths)
        if loaded is not None:
            images, kept, skipped = loaded
            if skipped and not skip_bad:
                path, reason = skipped[0]
                raise BadImageError(reason)
            return ImageSet(images, kept, skipped, True, array_file, time.perf_counter() - start)

    images, kept, skipped = _decode_all(paths, preprocess, skip_bad, workers or os.cpu_count() or 1)
    if use_cache:
        row = {p: i for i, p in enumerate(paths)}
        atomic_write(array_file, lambda fh: np.save(fh, images, allow_pickle=False))
        index = {
            "key": key,
            "version": CACHE_VERSION,
            "preprocess": asdict(preprocess),
            "shape": list(images.shape),
            # Rows of the key's list, which any spelling of the same files shares.
            "rows": [row[p] for p in kept],
            "skipped": [[row[p], why] for p, why in skipped],
        }
        atomic_write(index_file, lambda fh: fh.write(json.dumps(index).encode()))
    return ImageSet(
        images, kept, skipped, False, array_file if use_cache else None, time.perf_counter() - start
    )


def _read_cache(array_file: Path, index_file: Path, key: str, paths: list[Path]):
    """The cached array and its index, with ``paths``' own spellings, or None if anything
    about them is off (then rebuilt)."""
    try:
        index = json.loads(index_file.read_text())
        images = np.load(array_file, allow_pickle=False)
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    if (
        index.get("key") != key
        or index.get("version") != CACHE_VERSION
        or list(images.shape) != index.get("shape")
        or len(index.get("rows", ())) != len(images)
    ):
        return None
    try:
        kept = [paths[i] for i in index["rows"]]
        skipped = [(paths[i], why) for i, why in index["skipped"]]
    except (IndexError, KeyError, TypeError, ValueError):
        return None
    return images, kept, skipped
