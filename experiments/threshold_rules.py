"""Which threshold rule (``model.threshold_rule``) transfers better to people it was not
chosen on, measured on validation pairs alone (no test pair is read):

    python experiments/threshold_rules.py runs/main-desc/main-seed* [--repeats 40] [--json]

For each run, its validation people are split at random into two halves, and each half keeps
the validation pairs whose two people are both in it, as many same pairs as different ones
(LFW's test folds are half same; a half of the people holds most of their same pairs and a
quarter of the different ones). The threshold each rule chooses on one half is scored on the
other (accuracy, both ways), over ``--repeats`` splits; the run's row is the mean, the last
row the mean over runs. The scores are the run's own, as ``evaluate`` computes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import numpy as np

from siamese_faces.evaluation.api import open_run_data, pair_scores
from siamese_faces.evaluation.metrics import THRESHOLD_RULES, accuracy, choose_threshold
from siamese_faces.evaluation.runs import load_run


def split_people(names, rng) -> tuple[set[str], set[str]]:
    """The people of pairs ``names`` (each pair's two names) in two random halves."""
    people = sorted({n for pair in names for n in pair})
    half = set(rng.permutation(people)[: len(people) // 2].tolist())
    return half, set(people) - half


def within(names, half: set[str]) -> np.ndarray:
    """Which pairs have both their people in ``half``."""
    return np.array([a in half and b in half for a, b in names], dtype=bool)


def balanced_half(names, half: set[str], y: np.ndarray, rng) -> np.ndarray:
    """The pairs whose two people are both in ``half``, as many same as different."""
    inside = np.flatnonzero(within(names, half))
    same, different = inside[y[inside]], inside[~y[inside]]
    n = min(len(same), len(different))
    return np.concatenate(
        [rng.choice(same, n, replace=False), rng.choice(different, n, replace=False)]
    )


def held_out_accuracy(scores, y, names, repeats: int, seed: int = 0) -> dict[str, float]:
    """Each rule's mean accuracy on one half of the people at the threshold it chose on the
    other half."""
    rng = np.random.default_rng(seed)
    out = {rule: [] for rule in THRESHOLD_RULES}
    for _ in range(repeats):
        half, other = split_people(names, rng)
        a = balanced_half(names, half, y, rng)
        b = balanced_half(names, other, y, rng)
        for chosen_on, scored_on in ((a, b), (b, a)):
            for rule in THRESHOLD_RULES:
                t = choose_threshold(scores[chosen_on], y[chosen_on], rule)
                out[rule].append(accuracy(scores[scored_on], y[scored_on], t))
    return {rule: statistics.mean(v) for rule, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--repeats", type=int, default=40, help="random splits of the people a run")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = []
    for path in args.runs:
        run = load_run(path)
        val_data, _ = open_run_data(run)
        _, scores = pair_scores(run, val_data, val_data.val)
        y = val_data.val.y.numpy().astype(bool)
        names = [pair.people for pair in val_data.val.pairs]
        rows.append({"run": path, **held_out_accuracy(scores, y, names, args.repeats)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress
    mean = {rule: statistics.mean(r[rule] for r in rows) for rule in THRESHOLD_RULES}
    if args.json:
        print(json.dumps({"rows": rows, "mean": mean}, indent=2))
    else:
        print("mean over runs: " + ", ".join(f"{k} {v:.4f}" for k, v in mean.items()))


if __name__ == "__main__":
    main()
