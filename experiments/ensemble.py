"""An ensemble of trained seeds as one verifier: the mean of their scores.

    python experiments/ensemble.py runs/accuracy/restricted-seed* [--json]
    python experiments/ensemble.py RUN_A RUN_B --share chosen [--json]

For cosine heads the mean of the seeds' cosines is the cosine-style score of their
concatenated unit embeddings: still one (composite) tower that embeds both faces, and one
number that decides. The runs must share a validation split (same data.split_seed); the
threshold is chosen on those validation pairs, never on DevTest. Runs of different recipes
(e.g. the `unrestricted` net and the `default` tower of one View 2 fold) need not weigh the
same: ``--share chosen`` gives the first run the share of the score (the others the rest,
evenly) of highest validation AUC in 0, 0.05, ..., 1; ``equal`` (the default) weighs all
alike.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from siamese_faces.evaluation.api import open_run_data
from siamese_faces.evaluation.metrics import accuracy, auc, best_threshold
from siamese_faces.evaluation.predict import pair_outputs
from siamese_faces.evaluation.runs import load_run

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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--share", choices=["equal", "chosen"], default="equal")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    val_scores, test_scores, splits, seconds = [], [], set(), 0.0
    for path in args.runs:
        run = load_run(path)
        val_data, data = open_run_data(run)
        splits.add((tuple(val_data.split.val), run.config.data.split_seed))
        cl = run.config.train.channels_last
        for pairs, store, d in (
            (val_data.val, val_scores, val_data),
            (data.test, test_scores, data),
        ):
            _, scores = pair_outputs(run.net, d.images, pairs, run.device, run.bf16, cl)
            store.append(scores.numpy())
        y_val, y_test = val_data.val.y.numpy(), data.test.y.numpy()
        seconds += run.results.get("train_seconds", 0.0)
    if len(splits) != 1:
        raise SystemExit("the runs have different validation splits; an ensemble needs one.")
    share = 1 / len(args.runs) if args.share == "equal" else chosen_share(val_scores, y_val)
    v, t = mixed(val_scores, share), mixed(test_scores, share)
    threshold = best_threshold(v, y_val)
    result = {
        "runs": args.runs,
        "members": len(args.runs),
        "first_share": share,
        "threshold": threshold,
        "val/acc": accuracy(v, y_val, threshold),
        "val/auc": auc(v, y_val),
        "test/acc": accuracy(t, y_test, threshold),
        "test/auc": auc(t, y_test),
        "train_seconds_total": round(seconds, 1),
        "members_test_acc": [
            accuracy(s, y_test, best_threshold(sv, y_val))
            for s, sv in zip(test_scores, val_scores, strict=True)
        ],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"ensemble of {len(args.runs)} (the first at {share:g}): "
            f"test accuracy {100 * result['test/acc']:.1f}% "
            f"(AUC {result['test/auc']:.3f}; validation {100 * result['val/acc']:.1f}%); "
            f"members alone {', '.join(f'{100 * a:.1f}%' for a in result['members_test_acc'])};"
            f" training time {result['train_seconds_total']:.0f} s in all"
        )


if __name__ == "__main__":
    main()
