"""Mean ± std over seeds of finished runs, grouped by the name before ``-seed``.

python experiments/summarize.py runs/accuracy/*  [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import statistics
from pathlib import Path


def load(run: Path) -> dict:
    r = json.loads((run / "results.json").read_text())
    r["run"] = str(run)
    one = run / "oneshot-20way-1shot.json"
    r["oneshot20"] = json.loads(one.read_text())["acc"] if one.is_file() else math.nan
    # The chosen epoch's validation AUC, before any whitening (which is fitted after training).
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    r["best_val_auc"] = float(rows[r["best_epoch"] - 1]["val/auc"])
    seconds = [float(row["seconds"]) for row in rows]
    # An epoch's time after the first (which warms up), and the training time outside the
    # epochs: loading the best weights, the fit after training, the checkpoints saved.
    r["epoch_seconds"] = [min(seconds[1:] or seconds), max(seconds[1:] or seconds)]
    r["seconds_outside_epochs"] = round(r["train_seconds"] - sum(seconds), 1)
    # The mean epoch after the first, validated or not (train.validate_after): what an
    # epoch's validation costs, within one run.
    kinds: dict[str, list[float]] = {"validated": [], "unvalidated": []}
    for row, s in zip(rows[1:], seconds[1:], strict=True):
        kinds["unvalidated" if math.isnan(float(row["val/auc"])) else "validated"].append(s)
    r["epoch_seconds_mean"] = {k: statistics.mean(v) if v else math.nan for k, v in kinds.items()}
    return r


def summarize(runs: list[Path]) -> dict[str, dict]:
    groups: dict[str, list[dict]] = {}
    for run in runs:
        if (run / "results.json").is_file():
            groups.setdefault(re.sub(r"-seed\d+$", "", run.name), []).append(load(run))
    out = {}
    for name, rs in sorted(groups.items()):
        accs = [r["test/acc"] for r in rs]
        out[name] = {
            "seeds": len(rs),
            "test_acc": accs,
            "test_acc_mean": statistics.mean(accs),
            "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "test_auc": [r.get("test/auc", math.nan) for r in rs],
            "oneshot20": [r["oneshot20"] for r in rs],
            "val_acc": [r["val/acc"] for r in rs],
            "best_val_auc": [r["best_val_auc"] for r in rs],
            "epochs_run": [r["epochs_run"] for r in rs],
            "best_epoch": [r["best_epoch"] for r in rs],
            "train_seconds": [r["train_seconds"] for r in rs],
            "epoch_seconds": [r["epoch_seconds"] for r in rs],
            "seconds_outside_epochs": [r["seconds_outside_epochs"] for r in rs],
            "epoch_seconds_mean": [r["epoch_seconds_mean"] for r in rs],
            # validation AUC of the embedding joined to the histograms (model.descriptor)
            "descriptor_val_auc": [r.get("descriptor_val_auc", math.nan) for r in rs],
            # each stage of the fit after training (runs trained before it was recorded: {})
            "fit_seconds": [r.get("fit_seconds", {}) for r in rs],
        }
    return out


def pct(values) -> str:
    return ", ".join("—" if math.isnan(v) else f"{100 * v:.1f}%" for v in values)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    s = summarize(args.runs)
    if args.json:
        print(json.dumps(s, indent=2))
        return
    print(
        "| runs | seeds | DevTest acc per seed | mean ± std | AUC | 20-way one-shot | "
        "val acc | best val AUC | epochs (best) | train time s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, g in s.items():
        ep = ", ".join(f"{e} ({b})" for e, b in zip(g["epochs_run"], g["best_epoch"], strict=True))
        aucs = ", ".join("—" if math.isnan(a) else f"{a:.3f}" for a in g["test_auc"])
        secs = ", ".join(f"{t:.0f}" for t in g["train_seconds"])
        val_aucs = ", ".join(f"{a:.4f}" for a in g["best_val_auc"])
        print(
            f"| {name} | {g['seeds']} | {pct(g['test_acc'])} | {100 * g['test_acc_mean']:.1f} "
            f"± {100 * g['test_acc_std']:.1f}% | {aucs} | {pct(g['oneshot20'])} | "
            f"{pct(g['val_acc'])} | {val_aucs} | {ep} | {secs} |"
        )


if __name__ == "__main__":
    main()
