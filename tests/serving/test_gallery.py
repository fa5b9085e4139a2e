"""The gallery: exact search, names, transactions that survive a kill, concurrent writers."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("faiss", reason="the gallery needs faiss-cpu (the [serve] extra, in [test])")

from siamese_faces.serving import gallery as G  # noqa: E402
from siamese_faces.serving.gallery import Gallery, GalleryError, check_name  # noqa: E402

DIM = 8


def unit(rng, n):
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def filled(tmp_path, people=30, per=3, seed=0):
    rng = np.random.default_rng(seed)
    g = Gallery(tmp_path / "g", "sha", DIM)
    vectors = {f"P{k:02d}": unit(rng, per) for k in range(people)}
    g.enroll([(n, v, [f"{n}/{i}.jpg" for i in range(per)]) for n, v in vectors.items()])
    return g, vectors


@pytest.mark.parametrize("exact_up_to", [50_000, 10])  # exact, then HNSW
def test_search_matches_a_brute_force_loop(tmp_path, monkeypatch, exact_up_to):
    monkeypatch.setattr(G, "EXACT_UP_TO", exact_up_to)
    g, vectors = filled(tmp_path)
    probes = unit(np.random.default_rng(1), 5)
    for probe, matches in zip(probes, g.search(probes, top_k=4), strict=True):
        best = {n: float((v @ probe).max()) for n, v in vectors.items()}
        want = sorted(best, key=best.get, reverse=True)[:4]
        assert [m.name for m in matches] == want
        assert np.allclose([m.score for m in matches], [best[n] for n in want], atol=1e-5)


def test_people_listing_removal_and_reopening(tmp_path):
    g, _ = filled(tmp_path, people=3, per=2)
    assert [(p["name"], p["images"]) for p in g.people()] == [("P00", 2), ("P01", 2), ("P02", 2)]
    assert g.remove("P01") and not g.remove("P01")
    again = Gallery(tmp_path / "g", "sha", DIM)  # a new process would see the same
    assert [p["name"] for p in again.people()] == ["P00", "P02"]
    assert again.refresh().ntotal == 4


def test_another_runs_gallery_is_refused(tmp_path):
    filled(tmp_path, people=2)
    with pytest.raises(GalleryError, match="another run's weights"):
        Gallery(tmp_path / "g", "other-sha", DIM)


@pytest.mark.parametrize("name", ["", " Ann", "a/b", "../x", "<script>", "x" * 101, "A\nB"])
def test_bad_names_are_refused(name):
    with pytest.raises(GalleryError, match="use 1-100 letters"):
        check_name(name)


def test_good_names_pass():
    for name in ("Ada_Lovelace", "José María", "O'Brien", "李小龍", "Jean-Luc 2"):
        assert check_name(name) == name


WRITER = """
import sys, numpy as np
from siamese_faces.serving.gallery import Gallery
g = Gallery(sys.argv[1], "sha", 8)
rng = np.random.default_rng(int(sys.argv[2]))
k = 0
while True:
    v = rng.normal(size=(50, 8)).astype(np.float32)
    g.enroll([(f"W{k:05d}", v, [f"{k}/{i}" for i in range(50)])])
    if k % 3 == 2:
        g.remove(f"W{k - 1:05d}")
    k += 1
"""


@pytest.mark.parametrize("delay", [0.4, 0.9, 1.7])
def test_a_kill_never_leaves_index_and_names_disagreeing(tmp_path, delay):
    folder = tmp_path / "g"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(int(delay * 10))])
    time.sleep(delay + 1.0)  # the interpreter starts, then it writes for a while
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    g = Gallery(folder, "sha", DIM)
    index = g.refresh()
    images = sum(p["images"] for p in g.people())
    assert images > 0 and index.ntotal == images
    found = g.search(np.ones((1, DIM), np.float32), top_k=len(g.people()))[0]
    assert {m.name for m in found} <= {p["name"] for p in g.people()}


def test_concurrent_enroll_and_remove_stay_consistent(tmp_path):
    g = Gallery(tmp_path / "g", "sha", DIM)
    rng = np.random.default_rng(0)

    def writer(start):
        for k in range(start, start + 20):
            g.enroll([(f"C{k:03d}", unit(rng, 2), ["a", "b"])])
            if k % 2:
                g.remove(f"C{k:03d}")

    threads = [threading.Thread(target=writer, args=(s,)) for s in (0, 100, 200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    people = g.people()
    assert len(people) == 30 and all(p["images"] == 2 for p in people)
    assert Gallery(tmp_path / "g", "sha", DIM).refresh().ntotal == 60
