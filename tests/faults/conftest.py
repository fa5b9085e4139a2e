"""A small world for the fault battery: a miniature LFW tree, a trained tiny run, and files
of every bad kind, made once for the module."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ..helpers import write_lfw_like
from ..training.test_training import TINY

FAST = [*TINY, "train.epochs=1", "data.val_fraction=0.3"]


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


VALID_PAIRS = "1\nAlice_A\t1\t2\nAlice_A\t3\tDan_D\t1\n"

# A bad text file of each kind: name -> bytes (None: the path does not exist; "dir": a folder).
TEXT_KINDS = {
    "missing": None,
    "folder": "dir",
    "empty": b"",
    "garbage": bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8)),
    "non_utf8": b"1\n\xff\xfe\xfa\tbad\n",
    "nul_bytes": b"\x00" * 256,
    "huge_line": b"x" * 200_000,
    "truncated": VALID_PAIRS.encode()[:20],
    "wrong_header": b"two\nAlice_A\t1\t2\n",
    "bad_index": b"1\nAlice_A\t1_0\t2\nAlice_A\t3\tDan_D\t1\n",
    "escape_name": b"1\n../etc\t1\t2\nAlice_A\t3\tDan_D\t1\n",
    "unknown_person": b"1\nNobody_N\t1\t2\nAlice_A\t3\tDan_D\t1\n",
}


def write_kind(path: Path, content) -> Path:
    """``content`` bytes at ``path``; ``"dir"``: a folder there; None: nothing (missing)."""
    if content == "dir":
        path.mkdir(parents=True, exist_ok=True)
    elif content is not None:
        path.write_bytes(content)
    return path


def make_text(folder: Path, kind: str, suffix: str = ".txt") -> Path:
    return write_kind(folder / f"{kind}{suffix}", TEXT_KINDS[kind])


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """``data``: a miniature LFW-a; ``run``: a run trained on it; ``bad``: for bad files."""
    from siamese_faces.config import Config, apply_overrides
    from siamese_faces.data.rundata import prepare
    from siamese_faces.runtime import DistContext
    from siamese_faces.training.trainer import fit

    root = tmp_path_factory.mktemp("world")
    data = write_lfw_like(root / "mini-lfw")
    lines = ["2\t1", "Gus_G\t1\t2", "Gus_G\t1\tHal_H\t1", "Alice_A\t1\t2", "Alice_A\t3\tDan_D\t1"]
    (data / "pairs.txt").write_text("\n".join(lines) + "\n")
    cache = root / "cache"
    cfg = apply_overrides(
        Config(), [f"data.dir={data}", *TINY, "train.epochs=1", "data.val_fraction=0.3"]
    )
    fit(cfg, prepare(cfg, cache_dir=cache), root / "run", DistContext())
    bad = root / "bad"
    bad.mkdir()
    face = root / "face.png"
    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(face)
    return {
        "root": root,
        "data": data,
        "run": root / "run",
        "bad": bad,
        "face": face,
        "cache": cache,
    }
