"""A trained run put to work, as functions: enroll people into a gallery, identify photos.

The command line (``enroll``, ``identify``) and the service call these; nothing here parses
arguments or prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..data.cache import load_images
from ..data.layout import open_dataset
from ..evaluation.runs import LoadedRun
from ..io import atomic_write_text
from .gallery import Gallery, GalleryError, Match

ENROLL_BATCH = 512  # images decoded and embedded at once while enrolling


def search_form(run: LoadedRun, h: torch.Tensor, side: str = "key") -> np.ndarray:
    """Embeddings as the gallery stores them (``side = "key"``) or searches with them
    (``"query"``): vectors whose inner product is the run's score. Without a cohort
    normalisation both are the unit vectors; with one, they differ (models/cohort.py)."""
    units = getattr(run.net.head, "units", None)
    if units is None:
        raise GalleryError(
            f"{run.path}: a gallery searches by cosine; this run's head is "
            f'{run.config.model.head!r}. Use a run with model.head = "cosine" (the default '
            "recipe's)."
        )
    u = units(h.float())
    if run.net.normalises:
        u = run.net.score_norm.search_forms(u, side)
    return u.numpy().astype(np.float32)


def open_gallery(run: LoadedRun, folder: str | Path) -> Gallery:
    """The gallery in ``folder`` (created if new) for ``run``'s embeddings."""
    blank = torch.zeros(1, run.config.data.size, run.config.data.size, dtype=torch.uint8)
    return Gallery(folder, run.weights_sha256, search_form(run, run.embed(blank)).shape[1])


def embed_photos(
    run: LoadedRun, paths: list[Path], skip_bad: bool = False, side: str = "key"
) -> tuple[np.ndarray, list[Path], list]:
    """Search-form embeddings of image files (decoded in parallel, aligned if the run aligns),
    to enroll (``side = "key"``) or to search with (``"query"``); the files kept and those
    skipped as bad (``skip_bad``)."""
    loaded = load_images(paths, run.preprocess, skip_bad=skip_bad, use_cache=False)
    h = run.embed(torch.from_numpy(loaded.images))
    return search_form(run, h, side), loaded.paths, loaded.skipped


def enroll_folder(
    run: LoadedRun, gallery: Gallery, tree: str | Path, skip_bad: bool = False, progress=None
) -> dict:
    """Every person of an identity-folder tree into ``gallery`` (one transaction a batch of
    people); counts, and the images skipped."""
    dataset = open_dataset(tree)
    names = sorted(dataset.people)
    added, skipped, batch, size = 0, [], [], 0
    for k, name in enumerate(names):
        batch.append(name)
        size += len(dataset.people[name].images)
        if size < ENROLL_BATCH and k < len(names) - 1:
            continue
        owner = {p: n for n in batch for p in dataset.people[n].images}
        vectors, kept, bad = embed_photos(run, list(owner), skip_bad)
        skipped += bad
        rows: dict[str, list[int]] = {}  # each person's kept images, in enrolling order
        for i, p in enumerate(kept):
            rows.setdefault(owner[p], []).append(i)
        added += gallery.enroll(
            [(n, vectors[r], [str(kept[i]) for i in r]) for n, r in rows.items()]
        )
        if progress:
            progress(k + 1, len(names))
        batch, size = [], 0
    return {"people": len(names), "images": added, "skipped": [[str(p), w] for p, w in skipped]}


def identify(
    run: LoadedRun, gallery: Gallery, paths: list[Path], top_k: int, threshold: float
) -> list[dict]:
    """For each photo, the ``top_k`` best-matching enrolled people and the answer: the best
    one if its score is above ``threshold``, else ``unknown``."""
    vectors, kept, _ = embed_photos(run, paths, side="query")
    out = []
    for path, matches in zip(kept, gallery.search(vectors, top_k), strict=True):
        best: Match | None = matches[0] if matches else None
        known = best is not None and best.score > threshold
        out.append(
            {
                "photo": str(path),
                "answer": best.name if known else "unknown",
                "threshold": threshold,
                "matches": [{"name": m.name, "score": m.score, "image": m.source} for m in matches],
            }
        )
    return out


def unknown_threshold(run: LoadedRun, far: float) -> tuple[float, str]:
    """The score below which a probe is "unknown": the threshold at false-accept rate ``far``
    on the run's validation pairs (never a test person), computed once and kept in the run."""
    from ..evaluation.api import validation_data
    from ..evaluation.calibrate import calibrate

    path = run.path / "identify-thresholds.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    key = f"far={far:g}"
    entry = saved.get(key)
    if not entry or entry.get("weights_sha256") != run.weights_sha256:
        val_data = validation_data(run)
        entry = calibrate(run, val_data, val_data.val, "validation pairs", far)
        saved[key] = entry
        atomic_write_text(path, json.dumps(saved, indent=2))
    return entry["threshold"], entry["origin"]
