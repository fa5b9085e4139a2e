"""The run's operating threshold, owned by its user: chosen on the run's validation pairs
(the default) or on the user's own labelled pairs, at a false-accept rate or for the best
accuracy, and saved with where it came from (``RUN/threshold.json``). ``verify``, ``identify``
and the service use it and name it in every answer."""

from __future__ import annotations

import json
from pathlib import Path

from ..data.rundata import PairSet, RunData
from ..io import atomic_write_text
from .api import pair_scores
from .metrics import accuracy, choose_threshold, in_words, threshold_at_far
from .runs import THRESHOLD_FILE, LoadedRun


def calibrate(
    run: LoadedRun, data: RunData, pairs: PairSet, source: str, far: float | None = None
) -> dict:
    """The threshold on ``pairs`` (images in ``data``): at false-accept rate ``far``, or
    (``far=None``) the most accurate one by the run's ``model.threshold_rule``, as training
    and ``evaluate`` choose it; with what it gives on those pairs."""
    if len(pairs) == 0:
        raise ValueError(f"{source}: no pairs to calibrate on.")
    _, scores = pair_scores(run, data, pairs)
    y = pairs.y.numpy()
    if far is None:
        chosen_by = run.config.model.threshold_rule
        threshold, achieved = choose_threshold(scores, y, chosen_by), None
        rule = in_words(chosen_by)
    else:
        threshold, achieved = threshold_at_far(scores, y, far)
        rule = f"false-accept rate {far:g}"
    same = y.astype(bool)
    return {
        "threshold": threshold,
        "rule": rule,
        "origin": f"{source}, {rule}",
        "pairs": len(pairs),
        "different_pairs": int((~same).sum()),
        "far": achieved if far is not None else float((scores[~same] > threshold).mean()),
        "tar": float((scores[same] > threshold).mean()),
        "accuracy": accuracy(scores, y, threshold),
        "weights_sha256": run.weights_sha256,
    }


def save_threshold(run: LoadedRun, result: dict) -> Path:
    """Make ``result`` the run's operating threshold (every later load uses it)."""
    path = run.path / THRESHOLD_FILE
    atomic_write_text(path, json.dumps(result, indent=2))
    run.threshold, run.threshold_origin = result["threshold"], result["origin"]
    return path
