"""Shared fixtures: tiny synthetic face datasets written under tmp_path, and the real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from .helpers import write_lfw_like

# The parsers are checked for what they return, not how fast: on a loaded machine one example
# took 277 ms against Hypothesis's default 200 ms deadline and failed the run for no bug.
settings.register_profile("siamese-faces", deadline=None)
settings.load_profile("siamese-faces")

os.environ.setdefault("SIAMESE_FACES_PROGRESS", "0")


@pytest.fixture
def lfw_like(tmp_path: Path) -> Path:
    """A miniature LFW-a download: ``root/lfw2/<Name>/...`` with both pairs files beside it."""
    return write_lfw_like(tmp_path / "mini-lfw")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No test reads or writes the user's real image cache.
    monkeypatch.setenv("SIAMESE_FACES_CACHE", str(tmp_path / "cache"))
