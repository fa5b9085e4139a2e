"""An ensemble of trained seeds as one verifier: the mean of their scores.

    python experiments/ensemble.py runs/accuracy/restricted-seed* [--json]
    python experiments/ensemble.py RUN_A RUN_B --share chosen [--json]

For cosine heads the mean of the seeds' cosines is the cosine-style score of their
concatenated unit embeddings: still one (composite) tower that embeds both faces, and one
number that decides. The runs must share a validation split (same data.split_seed); the
threshold is chosen on those validation pairs, never on DevTest, as the runs chose theirs:
the head's own (a probability's 0.5) or by the first run's ``model.threshold_rule``; each
member alone by its own, so that a run alone gives the test accuracy it reported. Runs of
different recipes (e.g. the `unrestricted` net and the `default` tower of one View 2 fold)
need not weigh the same: ``--share chosen`` gives the first run the share of the score (the
others the rest, evenly) of highest validation AUC in 0, 0.05, ..., 1; ``equal`` (the
default) weighs all alike.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from siamese_faces.evaluation.api import open_run_data
from siamese_faces.evaluation.metrics import accuracy, auc
from siamese_faces.evaluation.predict import pair_outputs
from siamese_faces.evaluation.runs import load_run
from siamese_faces.training.trainer import head_threshold

SHARES = [i / 20 for i in range(21)]  # the first run's share, for --share chosen


def mixed(scores: list[np.ndarray], share: float) -> np.ndarray:
    """The first run's ``scores`` at ``share``, the others' mean at the rest."""
    if len(scores) == 1:
        return scores[0]
    return share * scores[0] + (1 - share) * np.mean(scores[1:], axis=0)


def chosen_share(val_scores: list[np.ndarray], y_val) -> float:
    """The first run's share of highest validation AUC (ties: the first in ``SHARES``)."""
    aucs = [auc(mixed(val_scores, w), y_val) for w in SHARES]
    return SHARES[max(range(len(SHARES)), key=lambda i: (aucs[i], -i))]


def run_scores(path: str) -> dict:
    """One run's validation and test scores (through its fitted parts), labels, split and
    threshold rule (``model.threshold_rule``: the rule the run itself was judged by)."""
    run = load_run(path)
    val_data, data = open_run_data(run)
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


def combine(runs: list[dict], share: str = "equal") -> dict:
    """The ensemble of ``runs`` (``run_scores``): shares, the threshold the first run would
    take on the shared validation pairs, accuracies; each member alone by its own."""
    if len({r["split"] for r in runs}) != 1:
        raise SystemExit("the runs have different validation splits; an ensemble needs one.")
    val, test = [r["val"] for r in runs], [r["test"] for r in runs]
    y_val, y_test = runs[0]["y_val"], runs[0]["y_test"]
    first = 1 / len(runs) if share == "equal" else chosen_share(val, y_val)
    v, t = mixed(val, first), mixed(test, first)
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
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--share", choices=["equal", "chosen"], default="equal")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    result = {"runs": args.runs, **combine([run_scores(path) for path in args.runs], args.share)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        share = result["first_share"]
        print(
            f"ensemble of {len(args.runs)} (the first at {share:g}): "
            f"test accuracy {100 * result['test/acc']:.1f}% "
            f"(AUC {result['test/auc']:.3f}; validation {100 * result['val/acc']:.1f}%); "
            f"members alone {', '.join(f'{100 * a:.1f}%' for a in result['members_test_acc'])};"
            f" training time {result['train_seconds_total']:.0f} s in all"
        )


if __name__ == "__main__":
    main()
