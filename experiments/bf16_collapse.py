"""Collapses of `study2019` with bf16 against fp32 (experiments/bf16_collapse.sh's runs).

A run has collapsed when, at some epoch, the network gives one output for every pair (the
failure the 2019 study saw too): its validation AUC is then 0.5 (within 0.005). Whether the
kept weights (the best epoch) score near chance on DevTest (within 2 points of 50%) is
counted apart: early stopping often keeps an epoch from before the collapse.

    python experiments/bf16_collapse.py runs/collapse [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = {}
    for results in sorted(Path(args.runs).glob("bf16-*-seed*/results.json")):
        precision = "bf16" if results.parent.name.startswith("bf16-true") else "fp32"
        r = json.loads(results.read_text())
        with open(results.parent / "metrics.csv") as fh:
            aucs = [float(row["val/auc"]) for row in csv.DictReader(fh)]
        rows.setdefault(precision, []).append(
            {
                "run": results.parent.name,
                "test_acc": r["test/acc"],
                "collapsed": any(abs(a - 0.5) <= 0.005 for a in aucs),
                "at_chance": abs(r["test/acc"] - 0.5) <= 0.02,
                "epochs": r["epochs_run"],
                "train_seconds": r["train_seconds"],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        "| precision | runs | collapsed at some epoch | DevTest at chance | DevTest acc "
        "(mean ± std) | per seed |"
    )
    print("|---|---|---|---|---|---|")
    for precision, rs in sorted(rows.items()):
        ok = [r["test_acc"] for r in rs]
        spread = (
            f"{100 * statistics.mean(ok):.1f} ± {100 * statistics.stdev(ok):.1f}%"
            if len(ok) > 1
            else "-"
        )
        seeds = ", ".join(f"{100 * r['test_acc']:.1f}" for r in rs)
        collapsed, chance = sum(r["collapsed"] for r in rs), sum(r["at_chance"] for r in rs)
        print(f"| {precision} | {len(rs)} | {collapsed} | {chance} | {spread} | {seeds} |")


if __name__ == "__main__":
    main()
