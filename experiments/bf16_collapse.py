"""Collapses of `study2019` with bf16 against fp32 (experiments/bf16_collapse.sh's runs).

A run has collapsed when its DevTest accuracy is within one point of 50%: the network gives
(nearly) one output for every pair, the failure the 2019 study saw too.

    python experiments/bf16_collapse.py runs/collapse [--json]
"""

from __future__ import annotations

import argparse
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
        rows.setdefault(precision, []).append(
            {
                "run": results.parent.name,
                "test_acc": r["test/acc"],
                "collapsed": abs(r["test/acc"] - 0.5) <= 0.01,
                "epochs": r["epochs_run"],
                "train_seconds": r["train_seconds"],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| precision | runs | collapsed | DevTest acc of the others (mean ± std) | per seed |")
    print("|---|---|---|---|---|")
    for precision, rs in sorted(rows.items()):
        ok = [r["test_acc"] for r in rs if not r["collapsed"]]
        spread = (
            f"{100 * statistics.mean(ok):.1f} ± {100 * statistics.stdev(ok):.1f}%"
            if len(ok) > 1
            else "-"
        )
        seeds = ", ".join(f"{100 * r['test_acc']:.1f}" for r in rs)
        collapsed = sum(r["collapsed"] for r in rs)
        print(f"| {precision} | {len(rs)} | {collapsed} | {spread} | {seeds} |")


if __name__ == "__main__":
    main()
