"""Each member tower's own share of the verdict, against the members' mean (no training): a
screen on trained runs of a recipe with several members (``model.members``).

    python experiments/member_shares.py runs/lever/unr-seed0 [--json]

The recipe scores a pair by ``(1 - a) mean_m cos_m + a cos_histograms``: the members'
whitened cosines weigh the same, and the histograms' share ``a`` is chosen on validation. Here
every member also gets its own share, ``sum_m w_m cos_m + a cos_histograms`` with the shares
on a grid of twentieths that sum to 1, chosen on the validation pairs by AUC, and the threshold
most accurate on them. The members and histograms are the run's as trained (its whitening and
fitted directions, never refitted); a share is only a weight of their cosines. As a check that
the choice carries over to people it was not made on, each rule is also chosen on one half of
the validation people's pairs (pairs whose two people fall in that half, the halves drawn by
``--split-seed``) and scored on the other half, both ways round. No test pair is read before
both rules are fixed; like ``descriptor_families.py`` the screen leaves out S-norm on both
sides, so its numbers are below the runs' own.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from siamese_faces.evaluation.predict import embed_rows
from siamese_faces.members import member_units
from siamese_faces.training.trainer import DESCRIPTOR_WEIGHTS, descriptor_features

sys.path.insert(0, str(Path(__file__).parent))
from descriptor_families import (  # noqa: E402
    pair_cosines,
    print_means,
    scored_rules,
    screen_runs,
    tower_alone,
)
from threshold_rules import split_people, within  # noqa: E402


def member_grid(members: int, step: int = 20) -> list[dict]:
    """Every share of each member and of the histograms, in ``1 / step``, summing to 1."""
    grid = []
    for parts in itertools.product(range(step + 1), repeat=members):
        if sum(parts) <= step:
            shares = {f"member{m}": p / step for m, p in enumerate(parts)}
            grid.append({**shares, "histograms": (step - sum(parts)) / step})
    return grid


def mean_grid(members: int) -> list[dict]:
    """The recipe's rule: the members' mean, the histograms' share on its grid."""
    return [
        {**{f"member{m}": (1 - a) / members for m in range(members)}, "histograms": a}
        for a in DESCRIPTOR_WEIGHTS
    ]


def cosines(run, data) -> dict:
    """Each member's and the histograms' cosines of the validation and test pairs."""
    net, d, members = run.net, run.net.descriptor, run.config.model.members
    cl = run.config.train.channels_last
    out = {}
    for side, pairs in {"val": data.val, "test": data.test}.items():
        r, ia, ib = pairs.faces()
        units = member_units(
            embed_rows(net, data.images, r, run.device, run.bf16, 256, cl), members
        )
        out[side] = {f"member{m}": pair_cosines(units[:, m], ia, ib) for m in range(members)}
        hist = d.embed_features(descriptor_features(d, data.images, r, run.device))
        out[side]["histograms"] = pair_cosines(hist, ia, ib)
    return out


def people_halves(data, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the validation pairs whose two people both fall in one half of the
    validation people, for each half (pairs across the halves are in neither)."""
    names = [p.people for p in data.val.pairs]
    halves = split_people(names, np.random.default_rng(split_seed))
    return within(names, halves[0]), within(names, halves[1])


def screen(path: str, split_seed: int) -> dict:
    run, data = tower_alone(path)
    members = run.config.model.members
    if members < 2:
        raise SystemExit(f"{path}: one member (model.members = 1); nothing to share out")
    cos = cosines(run, data)
    rules = {"mean": mean_grid(members), "own": member_grid(members)}
    yv, yt = data.val.y.numpy(), data.test.y.numpy()
    out = {"run": path, **scored_rules(cos, rules, yv, yt)}
    halves = people_halves(data, split_seed)
    for name, grid in rules.items():
        held_out = []
        for choose, score in (halves, halves[::-1]):
            side = {
                "val": {k: v[choose] for k, v in cos["val"].items()},
                "test": {k: v[score] for k, v in cos["val"].items()},
            }
            held_out.append(scored_rules(side, {name: grid}, yv[choose], yv[score])[name])
        out[name]["held-out half auc"] = [h["test auc"] for h in held_out]
        out[name]["held-out half acc"] = [h["test acc"] for h in held_out]
    out["halves pairs"] = [int(h.sum()) for h in halves]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = screen_runs(args.runs, lambda path: screen(path, args.split_seed), args.json)
    if rows is not None:
        print_means(rows, ("mean", "own"), ("val auc", "held-out half auc", "test auc"))


if __name__ == "__main__":
    main()
