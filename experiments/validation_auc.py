"""Validation AUC of finished runs on one shared validation set (DevTest is not read).

    python experiments/validation_auc.py RUN... [--val-fraction 0.1] [--val-identity-pairs 2000]

Runs trained with different validation settings each chose their epoch on their own
validation pairs; to compare them on validation, score them all on the same people: the
validation side of the split with ``--val-fraction`` (made with each run's split seed), with
``--val-identity-pairs`` more pairs formed from those people's names. A split with a smaller
fraction holds a subset of the people of one with a larger fraction (same seed; checked
here), so a run may be scored on the people of any fraction up to its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

from siamese_faces.data.rundata import prepare
from siamese_faces.data.splits import load_split
from siamese_faces.evaluation.metrics import auc
from siamese_faces.evaluation.predict import pair_outputs
from siamese_faces.evaluation.runs import load_run


def shared_validation_auc(path: str, fraction: float, formed: int) -> tuple[float, int]:
    run = load_run(path)
    d = dataclasses.replace(
        run.config.data,
        val_fraction=fraction,
        val_identity_pairs=formed,
        protocol="unrestricted" if formed else run.config.data.protocol,
        pairs_test="",
    )
    data = prepare(dataclasses.replace(run.config, data=d), allow_overlap=True)
    own = load_split(run.path / "split.json", data.train_pairs)  # the run's own split
    trained = {n for i in own.train for n in data.train_pairs.pairs[i].people}
    people = {n for p in data.val.pairs for n in p.people}
    if people & trained:
        raise ValueError(
            f"{path}: {len(people & trained)} validation people of fraction {fraction} were "
            "training people of this run; use a fraction no larger than the run's own."
        )
    _, scores = pair_outputs(run.net, data.images, data.val, run.device, run.bf16)
    return auc(scores.numpy(), data.val.y.numpy()), len(data.val)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--val-identity-pairs", type=int, default=2000)
    args = p.parse_args()
    values = []
    for path in args.runs:
        value, pairs = shared_validation_auc(path, args.val_fraction, args.val_identity_pairs)
        values.append(value)
        print(f"{path}: validation AUC {value:.4f} ({pairs} pairs)", flush=True)
    if len(values) > 1:
        print(f"mean {statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}")


if __name__ == "__main__":
    main()
