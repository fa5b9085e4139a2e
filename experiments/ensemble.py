"""An ensemble of trained seeds as one verifier: the mean of their scores.

    python experiments/ensemble.py runs/accuracy/restricted-seed* [--json]
    python experiments/ensemble.py RUN_A RUN_B --share chosen [--json]

The runs must share a validation split; the threshold is chosen on it by the first run's
rule, each member alone by its own (``siamese_faces.evaluation.ensemble``, which `benchmark
lfw --seeds N` uses too). ``--share chosen`` weighs runs of different recipes (e.g. the
`unrestricted` net and the `default` tower of one View 2 fold) by validation AUC; ``equal``
(the default) weighs all alike.
"""

from __future__ import annotations

import argparse
import json

from siamese_faces.evaluation.ensemble import combine, run_scores


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--share", choices=["equal", "chosen"], default="equal")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    try:
        result = {"runs": args.runs, **combine([run_scores(r) for r in args.runs], args.share)}
    except ValueError as e:
        raise SystemExit(str(e)) from None
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
