"""Trained runs as one verifier: the mean of their scores (an ensemble of seeds, after
training).

For cosine heads the mean of the runs' cosines is the cosine-style score of their
concatenated unit embeddings: still one (composite) tower that embeds both faces, and one
number that decides. The runs must share a validation split (same data.split_seed); the
threshold is chosen on those validation pairs, never on test pairs, as the runs chose theirs:
the head's own (a probability's 0.5) or by the first run's ``model.threshold_rule``; each
member alone by its own, so that a run alone gives the test accuracy it reported. Runs of
different recipes need not weigh the same: ``share="chosen"`` gives the first run the share
of the score (the others the rest, evenly) of highest validation AUC in 0, 0.05, ..., 1;
``"equal"`` weighs all alike. ``experiments/ensemble.py`` and ``benchmark lfw --seeds N``
use it.
"""

from __future__ import annotations

import numpy as np

from .api import open_run_data
from .metrics import accuracy, auc, head_threshold
from .predict import pair_outputs
from .runs import load_run

SHARES = [i / 20 for i in range(21)]  # the first run's share, for share="chosen"


def mixed(scores: list[np.ndarray], share: float) -> np.ndarray:
    """The first run's ``scores`` at ``share``, the others' mean at the rest."""
    if len(scores) == 1:
        return scores[0]
    return share * scores[0] + (1 - share) * np.mean(scores[1:], axis=0)


def chosen_share(val_scores: list[np.ndarray], y_val) -> float:
    """The first run's share of highest validation AUC (ties: the first in ``SHARES``)."""
    aucs = [auc(mixed(val_scores, w), y_val) for w in SHARES]
    return SHARES[max(range(len(SHARES)), key=lambda i: (aucs[i], -i))]


def run_scores(path, cache_dir=None) -> dict:
    """One run's validation and test scores (through its fitted parts), labels, split and
    threshold rule (``model.threshold_rule``: the rule the run itself was judged by)."""
    run = load_run(path)
    val_data, data = open_run_data(run, cache_dir=cache_dir)
    cl = run.config.train.channels_last
    val = pair_outputs(run.net, val_data.images, val_data.val, run.device, run.bf16, cl)[1]
    test = pair_outputs(run.net, data.images, data.test, run.device, run.bf16, cl)[1]
    return {
        "val": val.numpy(),
        "test": test.numpy(),
        "y_val": val_data.val.y.numpy(),
        "y_test": data.test.y.numpy(),
        "split": (tuple(val_data.split.val), run.config.data.split_seed),
        "rule": run.config.model.threshold_rule,
        "net": run.net,  # whose head says whether its threshold is fixed (a probability's)
        "seconds": run.results.get("train_seconds", 0.0),
    }


def threshold_of(run: dict, val_scores: np.ndarray) -> float:
    """The threshold ``run`` would take on these validation scores, as training takes it."""
    return head_threshold(run["net"], val_scores, run["y_val"], run["rule"])


def blend(runs: list[dict], share: str = "equal") -> tuple[float, np.ndarray, np.ndarray]:
    """The first run's share and the ensemble's validation and test scores."""
    if len({r["split"] for r in runs}) != 1:
        raise ValueError("the runs have different validation splits; an ensemble needs one.")
    val, test = [r["val"] for r in runs], [r["test"] for r in runs]
    first = 1 / len(runs) if share == "equal" else chosen_share(val, runs[0]["y_val"])
    return first, mixed(val, first), mixed(test, first)


def combine(runs: list[dict], share: str = "equal") -> dict:
    """The ensemble of ``runs`` (``run_scores``): shares, the threshold the first run would
    take on the shared validation pairs, accuracies; each member alone by its own."""
    first, v, t = blend(runs, share)
    y_val, y_test = runs[0]["y_val"], runs[0]["y_test"]
    threshold = threshold_of(runs[0], v)
    return {
        "members": len(runs),
        "first_share": first,
        "threshold_rule": runs[0]["rule"],
        "threshold": threshold,
        "val/acc": accuracy(v, y_val, threshold),
        "val/auc": auc(v, y_val),
        "test/acc": accuracy(t, y_test, threshold),
        "test/auc": auc(t, y_test),
        "train_seconds_total": round(sum(r["seconds"] for r in runs), 1),
        "members_test_acc": [accuracy(r["test"], y_test, threshold_of(r, r["val"])) for r in runs],
        "members_val_auc": [auc(r["val"], y_val) for r in runs],  # what choosing may read
    }
