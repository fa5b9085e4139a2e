"""Two View 2 benchmarks fold by fold: the folds both hold, each fold's difference, its mean ± SE.

python experiments/compare_view2.py NEW_RESULTS_JSON BASE_RESULTS_JSON [--json]
python experiments/compare_view2.py --trainings RESULTS_JSON RESULTS_JSON... [--json]

Each file is a ``results.json`` that `siamese-faces benchmark lfw` wrote (or a byte copy of one
under docs/measurements/). One fold's accuracy moves by a point or more from the next fold's,
more than a recipe's lever moves it, so a lever is read on the folds both benchmarks trained,
as paired differences (new − base), with the folds it wins and loses counted: the part of a
ten-fold run done so far says whether the rest is worth its hours.

With ``--trainings``, the files are trainings of one recipe (other seeds, other machines),
each on the same folds: each one's mean over them, and the mean ± std of those means, the
spread of the recipe's number itself from one training to the next.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from siamese_faces.sweeps.benchmark import mean_se

# Accuracies are counts out of a fold's 600 pairs: closer than this, two folds tie.
TIE = 1e-9


def fold_accuracies(path: str | Path) -> dict[int, dict]:
    """Fold number -> its record (acc, auc) of a benchmark's results.json; a fold merged from
    a file that kept only its accuracy (``--merge`` of an early summary) has AUC nan."""
    try:
        folds = json.loads(Path(path).read_text())["folds"]
        return {
            int(f["fold"]): {"acc": float(f["acc"]), "auc": float(f.get("auc") or math.nan)}
            for f in folds
        }
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(
            f"{path}: not a results.json of `siamese-faces benchmark lfw` ({e!r}); give the file "
            "a benchmark or its --summary-only wrote."
        ) from None


def compare(new: dict[int, dict], base: dict[int, dict]) -> dict:
    """The paired differences of ``new`` against ``base`` on the folds both hold."""
    shared = sorted(new.keys() & base.keys())
    if not shared:
        raise SystemExit(
            f"no fold in both benchmarks (new has {sorted(new)}, base {sorted(base)}); compare "
            "benchmarks that trained some of the same folds."
        )
    diffs = [new[k]["acc"] - base[k]["acc"] for k in shared]
    out = {"folds": shared}
    for name, records in (("new", new), ("base", base)):
        out[f"{name}_acc"] = [records[k]["acc"] for k in shared]
        out[f"{name}_acc_mean"], out[f"{name}_acc_se"] = mean_se(out[f"{name}_acc"])
        # over the shared folds that kept an AUC (nan when none did)
        aucs = [records[k]["auc"] for k in shared if not math.isnan(records[k]["auc"])]
        out[f"{name}_auc_mean"], out[f"{name}_auc_folds"] = mean_se(aucs)[0], len(aucs)
    out["diff_mean"], out["diff_se"] = mean_se(diffs)
    out["higher"] = sum(d > TIE for d in diffs)
    out["lower"] = sum(d < -TIE for d in diffs)
    out["same"] = len(diffs) - out["higher"] - out["lower"]
    return out


def trainings(paths: list[str]) -> dict:
    """Each benchmark's mean accuracy over its folds, and the mean ± std of those means;
    benchmarks that hold different folds are refused, naming them (their means would weigh
    other folds)."""
    if len(paths) < 2:
        raise SystemExit("--trainings takes two or more results.json files of one recipe.")
    # a list, not a dict by path: a file given twice counts twice, as the command line says
    records = [fold_accuracies(path) for path in paths]
    held = [sorted(r) for r in records]
    if len(set(map(tuple, held))) > 1:
        raise SystemExit(
            "the trainings hold different folds ("
            + "; ".join(f"{path}: {f}" for path, f in zip(paths, held, strict=True))
            + "); compare them fold by fold without --trainings, or train the missing folds."
        )
    means = [statistics.mean(fold["acc"] for fold in r.values()) for r in records]
    return {
        "folds": held[0],
        "files": list(paths),
        "acc_means": means,
        "mean": statistics.mean(means),
        "std": statistics.stdev(means),
    }


def trainings_text(t: dict) -> str:
    rows = [f"{100 * m:6.2f}%  {path}" for path, m in zip(t["files"], t["acc_means"], strict=True)]
    rows.append(
        f"{len(t['files'])} trainings of {len(t['folds'])} folds: {100 * t['mean']:.2f} ± "
        f"{100 * t['std']:.2f}% (mean ± std of their means)"
    )
    return "\n".join(rows)


def auc_text(c: dict, name: str) -> str:
    of = "" if c[f"{name}_auc_folds"] == len(c["folds"]) else f" of {c[f'{name}_auc_folds']} folds"
    return f"AUC {c[f'{name}_auc_mean']:.4f}{of}"


def text(c: dict) -> str:
    rows = [f"{'fold':>4}  {'new':>7}  {'base':>7}  {'new-base':>8}"]
    for k, a, b in zip(c["folds"], c["new_acc"], c["base_acc"], strict=True):
        rows.append(f"{k:>4}  {100 * a:6.2f}%  {100 * b:6.2f}%  {100 * (a - b):+7.2f}")
    rows.append(
        f"{len(c['folds'])} folds: new {100 * c['new_acc_mean']:.2f}% ({auc_text(c, 'new')}), "
        f"base {100 * c['base_acc_mean']:.2f}% ({auc_text(c, 'base')}); new - base "
        f"{100 * c['diff_mean']:+.2f} ± {100 * c['diff_se']:.2f} points (mean ± SE of the "
        f"differences); higher on {c['higher']}, lower on {c['lower']}, the same on {c['same']}"
    )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", help="NEW BASE: the lever's and the recipe's results.json")
    p.add_argument(
        "--trainings",
        action="store_true",
        help="the files are trainings of one recipe: their means and the std between them",
    )
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    args = p.parse_args()
    if args.trainings:
        t = trainings(args.files)
        print(json.dumps(t, indent=1) if args.json else trainings_text(t))
        return
    if len(args.files) != 2:
        p.error("give NEW and BASE, two results.json files (or --trainings and several)")
    c = compare(*(fold_accuracies(f) for f in args.files))
    print(json.dumps(c, indent=1) if args.json else text(c))


if __name__ == "__main__":
    main()
