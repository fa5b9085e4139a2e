"""Test-time flip averaging on and off for trained runs (no training: the same weights).

python experiments/ablate_flip.py runs/accuracy/default-seed*
"""

from __future__ import annotations

import argparse
import json
import statistics

from siamese_faces.evaluation.cli import evaluate_run, open_run_data
from siamese_faces.evaluation.runs import load_run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = []
    for path in args.runs:
        run = load_run(path)
        val_data, data = open_run_data(None, run)
        row = {"run": path}
        for flip in (True, False):
            run.net.flip_tta = flip
            result, _ = evaluate_run(run, val_data, data)  # threshold re-chosen on validation
            row[f"flip={flip}"] = result["at_val_threshold"]["acc"]
            row[f"auc flip={flip}"] = result["at_val_threshold"]["auc"]
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(
            f"{r['run']}: with flip {100 * r['flip=True']:.1f}% (AUC {r['auc flip=True']:.3f}), "
            f"without {100 * r['flip=False']:.1f}% (AUC {r['auc flip=False']:.3f})"
        )
    on = [r["flip=True"] for r in rows]
    off = [r["flip=False"] for r in rows]

    def sd(v):
        return statistics.stdev(v) if len(v) > 1 else 0.0

    print(
        f"mean: with {100 * statistics.mean(on):.1f} ± {100 * sd(on):.1f}%, without "
        f"{100 * statistics.mean(off):.1f} ± {100 * sd(off):.1f}%"
    )


if __name__ == "__main__":
    main()
