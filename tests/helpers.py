"""Helpers for the tests: tiny synthetic face datasets and the real data's location."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "lfw-a"


def script(folder: str, name: str):
    """``folder/name.py`` of the repository (a benchmark or experiment script) as a module."""
    path = Path(__file__).resolve().parents[1] / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # where a dataclass of the script looks its module up
    spec.loader.exec_module(module)
    return module


needs_lfw = pytest.mark.skipif(
    not (REAL_DATA / "lfw2").is_dir(),
    reason=f"the real LFW-a data is not at {REAL_DATA} (CI and developer machines have it)",
)


def command_parsers(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    """``(words, parser)`` for ``parser`` and every sub-command under it, nested ones
    included (``"data stats"``; the top parser's words are ``""``)."""
    yield " ".join(words), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_parsers(sub, (*words, name))


def face(seed: int, size: int = 40) -> np.ndarray:
    """A small grayscale 'face': a person-specific pattern plus noise (deterministic)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size), dtype=np.uint8)


def write_people(tree: Path, people: dict[str, int], size: int = 40) -> None:
    """``tree/<Name>/<Name>_0001.jpg`` ... for each person and image count."""
    for k, (name, n) in enumerate(sorted(people.items())):
        (tree / name).mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            Image.fromarray(face(1000 * k + i, size)).save(tree / name / f"{name}_{i:04d}.jpg")


def write_pairs(path: Path, same: list[tuple], different: list[tuple]) -> Path:
    assert len(same) == len(different), "View 1 files have as many same as different lines"
    lines = [str(len(same))]
    lines += ["\t".join(map(str, s)) for s in same]
    lines += ["\t".join(map(str, d)) for d in different]
    path.write_text("\n".join(lines) + "\n")
    return path


TRAIN_PEOPLE = {"Alice_A": 3, "Bob_B": 2, "Carol_C": 2, "Dan_D": 1, "Eve_E": 2, "Fay_F": 1}
TEST_PEOPLE = {"Gus_G": 2, "Hal_H": 1, "Ivy_I": 2}
TRAIN_SAME = [("Alice_A", 1, 2), ("Bob_B", 1, 2), ("Carol_C", 1, 2), ("Eve_E", 1, 2)]
TRAIN_DIFF = [
    ("Alice_A", 3, "Dan_D", 1),
    ("Bob_B", 1, "Fay_F", 1),
    ("Carol_C", 2, "Eve_E", 1),
    ("Dan_D", 1, "Fay_F", 1),
]
TEST_SAME = [("Gus_G", 1, 2), ("Ivy_I", 1, 2)]
TEST_DIFF = [("Gus_G", 1, "Hal_H", 1), ("Hal_H", 1, "Ivy_I", 2)]


POSTGRES = os.environ.get("SIAMESE_FACES_TEST_POSTGRES")
needs_postgres = pytest.mark.skipif(
    not POSTGRES,
    reason="no PostgreSQL: .ci/run starts one and sets "
    "SIAMESE_FACES_TEST_POSTGRES; set it to run this test locally",
)


@contextlib.contextmanager
def postgres_database(prefix: str):
    """A fresh database on the test server for one test (its URL), dropped afterwards."""
    import time

    from sqlalchemy import create_engine, text

    name = f"{prefix}_{os.getpid()}_{int(time.time() * 1000)}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.dispose()
        with create_engine(POSTGRES, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def write_lfw_like(root: Path) -> Path:
    """A miniature LFW-a download: ``root/lfw2/<Name>/...`` with both View 1 pairs files."""
    write_people(root / "lfw2", {**TRAIN_PEOPLE, **TEST_PEOPLE})
    write_pairs(root / "pairsDevTrain.txt", TRAIN_SAME, TRAIN_DIFF)
    write_pairs(root / "pairsDevTest.txt", TEST_SAME, TEST_DIFF)
    return root
