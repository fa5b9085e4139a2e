"""A gallery of enrolled people for 1:N identification: SQLite holds the truth, FAISS searches.

One folder: ``gallery.sqlite`` (people, each image's embedding as a blob, and a version number
bumped by every change) and ``index.faiss`` (the search index, with the version it was built
from). Enrolling and removing are one SQLite transaction each; the index is derived data,
rebuilt whenever its version is not the database's. A crash at any moment therefore leaves
either the old or the new gallery, never an index and a name table that disagree: a torn
write is rolled back by SQLite, and an index left behind by a crash is older than the database
and rebuilt on the next open.

Embeddings are stored in the run's search form (``serving.api.search_form``): unit vectors
over sqrt(members) for a cosine head, so that an inner product is the run's own score (with a
cohort normalisation, longer vectors whose inner product with a probe's is the normalised
score: models/cohort.py). The index is
exact (``IndexFlatIP``) up to ``EXACT_UP_TO`` images and HNSW (approximate, a graph of 32
links a node) above.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import atomic_write_text

DB, INDEX = "gallery.sqlite", "index.faiss"
EXACT_UP_TO = 50_000
NAME = re.compile(r"^[\w][\w .'-]{0,99}$")  # letters (any script), digits, _ . ' - and space
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, enrolled_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS images (
  id INTEGER PRIMARY KEY,
  person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  source TEXT NOT NULL,
  vector BLOB NOT NULL
);
"""


class GalleryError(ValueError):
    """A gallery cannot do what was asked; the message says why and what to do."""


def check_name(name: str) -> str:
    """A person's name as enrolled: 1-100 letters, digits, spaces, ``_ . ' -``."""
    if not isinstance(name, str) or not NAME.match(name) or name.strip() != name:
        raise GalleryError(
            f"name {name[:40]!r}: use 1-100 letters, digits, spaces and _ . ' - "
            "(starting with a letter or digit), e.g. Ada_Lovelace."
        )
    return name


@dataclass(frozen=True)
class Match:
    name: str
    score: float
    source: str  # the enrolled image that matched best


class Gallery:
    """Enrolled people of one run (its weights' digest is recorded: another run's embeddings
    mean nothing here)."""

    def __init__(self, folder: str | Path, weights_sha256: str, dim: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one writer at a time in this process
        self._index_lock = threading.Lock()  # one index (re)build or load at a time
        self._index = None
        self._index_version = -1
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode = WAL")  # kept in the file: readers never wait
            db.executescript(SCHEMA)  # its own transaction (executescript commits first)
        finally:
            db.close()
        with self._db(write=True) as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("weights_sha256", weights_sha256), ("dim", str(dim)), ("version", "0")],
                )
            elif meta["weights_sha256"] != weights_sha256:
                raise GalleryError(
                    f"{self.folder}: this gallery was enrolled with another run's weights; "
                    "enroll into a new --gallery folder, or use the run it was made with."
                )
        self.dim = dim

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.folder / DB, timeout=30, isolation_level=None)
        db.execute("PRAGMA foreign_keys = ON")
        return db

    @contextmanager
    def _db(self, write: bool = False):
        """A transaction: a writer takes the write lock at once (the whole change or none); a
        reader gets a consistent snapshot and blocks no one."""
        db = self._connect()
        db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def _bump(self, db) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")

    def enroll(self, entries: list[tuple[str, np.ndarray, list[str]]]) -> int:
        """Add each ``(name, vectors, sources)`` (one vector per image, search form; a person
        is created if new), all in one transaction; the number of images added."""
        rows = []
        for name, vectors, sources in entries:
            check_name(name)
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(sources):
                raise GalleryError(f"enroll {name}: expected ({len(sources)}, {self.dim}) vectors.")
            rows.append((name, vectors, sources))
        with self._lock, self._db(write=True) as db:
            for name, vectors, sources in rows:
                db.execute("INSERT OR IGNORE INTO people (name) VALUES (?)", (name,))
                (person,) = db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
                db.executemany(
                    "INSERT INTO images (person, source, vector) VALUES (?, ?, ?)",
                    [(person, s, v.tobytes()) for s, v in zip(sources, vectors, strict=True)],
                )
            self._bump(db)
        self.refresh()
        return sum(len(r[2]) for r in rows)

    def remove(self, name: str) -> bool:
        """Remove ``name`` and its images; False if there was no such person."""
        with self._lock, self._db(write=True) as db:
            gone = db.execute("DELETE FROM people WHERE name = ?", (name,)).rowcount > 0
            if gone:
                self._bump(db)
        self.refresh()
        return gone

    def people(self) -> list[dict]:
        with self._db() as db:
            rows = db.execute(
                "SELECT p.name, COUNT(i.id), p.enrolled_at FROM people p "
                "LEFT JOIN images i ON i.person = p.id GROUP BY p.id ORDER BY p.name"
            ).fetchall()
        return [{"name": n, "images": c, "enrolled_at": t} for n, c, t in rows]

    def version(self) -> int:
        with self._db() as db:
            return _version(db)

    def refresh(self):
        """The search index of the database as it is now: loaded, or rebuilt and saved."""
        with self._index_lock:
            return self._refresh()

    def _refresh(self):
        import faiss

        version = self.version()
        if self._index is not None and self._index_version == version:
            return self._index
        path, stamp = self.folder / INDEX, self.folder / (INDEX + ".json")
        if path.is_file() and stamp.is_file() and _read_stamp(stamp) == version:
            self._index, self._index_version = faiss.read_index(str(path)), version
            return self._index
        with self._db() as db:  # the rows and their version read together
            version = _version(db)
            rows = db.execute("SELECT id, vector FROM images ORDER BY id").fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        index = _new_index(self.dim, len(rows))
        if len(rows):
            index.add_with_ids(vectors.reshape(len(rows), self.dim), ids)
        tmp = self.folder / f".{INDEX}.{os.getpid()}.{threading.get_ident()}.tmp"
        faiss.write_index(index, str(tmp))
        os.replace(tmp, path)  # the index, then its stamp: a crash between leaves it stale
        atomic_write_text(stamp, json.dumps(version))
        self._index, self._index_version = index, version
        return index

    def search(self, vectors: np.ndarray, top_k: int = 5) -> list[list[Match]]:
        """For each probe vector, the ``top_k`` best-matching people (each by their best
        image), best first."""
        index = self.refresh()
        if index.ntotal == 0:
            return [[] for _ in range(len(vectors))]
        # Enough neighbours that top_k distinct people are among them in most galleries.
        k = min(index.ntotal, max(top_k * 8, 32))
        scores, ids = index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        wanted = sorted({int(i) for i in ids.ravel() if i >= 0})
        with self._db() as db:
            owner = {
                r[0]: (r[1], r[2])
                for r in db.execute(
                    f"SELECT i.id, p.name, i.source FROM images i JOIN people p ON p.id = i.person "
                    f"WHERE i.id IN ({','.join('?' * len(wanted))})",
                    wanted,
                )
            }
        out = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            best: dict[str, Match] = {}
            for s, i in zip(row_scores, row_ids, strict=True):
                if i >= 0 and int(i) in owner:
                    name, source = owner[int(i)]
                    if name not in best:  # results come best first
                        best[name] = Match(name, float(s), source)
            out.append(list(best.values())[:top_k])
        return out


def _version(db) -> int:
    return int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])


def _read_stamp(stamp: Path) -> int | None:
    try:
        return int(json.loads(stamp.read_text()))
    except (ValueError, TypeError):
        return None  # damaged: the index is rebuilt


def _new_index(dim: int, count: int):
    import faiss

    if count <= EXACT_UP_TO:
        inner = faiss.IndexFlatIP(dim)
    else:
        inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efSearch = 128
    return faiss.IndexIDMap2(inner)
