"""LFW View 2, the number the field reports: ten folds, each tested by a model trained without
its people, run as one sweep (each fold a trial in the sweep storage and an ordinary run
folder), so many machines share the folds through PostgreSQL and a killed run resumes.

For fold k the run's settings are the recipe's with ``data.fold = k``: training pairs (and,
unrestricted, identities) come from the other nine folds only, validation people are carved
out of those nine, and fold k's 600 pairs are scored once, at the threshold chosen on
validation. The result is LFW's: the mean accuracy over the folds and its standard error
(the standard deviation of the fold accuracies over the square root of their number). With
``seeds`` > 1 each fold trains that many seeds and is scored by their ensemble (the mean of
their scores, ``evaluation.ensemble``), each seed's own accuracy kept beside it.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock

from ..config import Config, changed_settings, from_dict
from ..data.source import saved_name_for
from ..evaluation.api import evaluate, open_run_data, read_evaluation, save_evaluation
from ..evaluation.ensemble import blend, combine, run_scores
from ..evaluation.metrics import roc_curve
from ..evaluation.runs import load_run
from ..io import atomic_write_text
from .results import completed
from .sweep import HEARTBEAT_S, SweepSpec, default_storage, first_seeds, run_sweep

FAR_GRID = np.linspace(0.0, 1.0, 201)  # where each fold's ROC is read, to average them


def parse_folds(text: str, limit: int = 10) -> list[int]:
    """``"1-10"``, ``"3"`` or ``"1,4,7"`` as sorted fold numbers within 1..``limit``."""
    folds: set[int] = set()
    try:
        for part in text.replace(" ", "").split(","):
            lo, _, hi = part.partition("-")
            folds.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise ValueError(f"--folds {text!r}: give folds as 1-10, 3 or 1,4,7.") from None
    if not folds or min(folds) < 1 or max(folds) > limit:
        raise ValueError(f"--folds {text!r}: folds are numbered 1..{limit}.")
    return sorted(folds)


def view2_spec(base: Config, name: str, folds: list[int]) -> SweepSpec:
    """The benchmark as a sweep: one grid point a fold."""
    return SweepSpec(name=name, base=base, grid={"data.fold": list(folds)})


def run_benchmark(
    spec: SweepSpec,
    data: str,
    root: Path,
    storage: str | None = None,
    workers: int = 1,
    cache_dir: str | None = None,
    heartbeat: int = HEARTBEAT_S,
    seeds: int = 1,
) -> dict:
    """Train every fold (``seeds`` seeds of each) not yet finished (sharing ``storage`` with
    other machines), then summarise the finished ones; returns the summary written to
    ``results.json``."""
    storage = storage or default_storage(spec, root)
    out = root / spec.name
    # Written again as each fold finishes: a run cut short (a machine taken back) still leaves
    # its finished folds' records, which --merge joins where their run folders are gone.
    after = functools.partial(summarize, spec, storage, out, cache_dir, seeds=seeds)
    run_sweep(
        spec,
        data,
        storage,
        workers,
        seeds,
        str(root),
        cache_dir,
        heartbeat=heartbeat,
        after_trial=after,
    )
    return summarize(spec, storage, out, cache_dir, seeds=seeds)


def fold_scores(
    run_dir: Path, cache_dir: str | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """A fold run's test scores and labels: read from its folder, or (the first time) evaluated
    with its weights and saved there."""
    config = from_dict(json.loads((run_dir / "config.json").read_text()), source=str(run_dir))
    ev = read_evaluation(run_dir, saved_name_for(config.data))
    if ev is None:
        if not (run_dir / "best.safetensors").is_file():
            return None  # copied without its weights: its accuracy stands, its ROC is unknown
        run = load_run(run_dir)
        ev = evaluate(run, *open_run_data(run, cache_dir=cache_dir))
        save_evaluation(run, ev)
    return np.array([float(r["score"]) for r in ev.rows]), np.array(
        [int(r["same"]) for r in ev.rows]
    )


def _on_grid(scores: np.ndarray, labels: np.ndarray) -> list[float]:
    far, tar, _ = roc_curve(scores, labels)
    return np.interp(FAR_GRID, far, tar).tolist()


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and LFW's standard error: sample standard deviation over sqrt(n)."""
    if len(values) < 2:
        return (values[0] if values else float("nan")), float("nan")
    return statistics.mean(values), statistics.stdev(values) / math.sqrt(len(values))


def earlier_folds(paths: list[str | Path], spec: SweepSpec, seeds: int = 1) -> list[dict]:
    """The fold records of earlier ``results.json`` files (another machine's whose storage
    this one cannot reach, or a session's whose run folders are gone), refused when they
    summarise other settings than ``spec``'s (the data folder and machine settings aside;
    ``config.changed_settings``) or another number of seeds a fold."""
    want = spec.base.to_dict()
    folds = []
    for path in paths:
        try:
            saved = json.loads(Path(path).read_text())
            records, config = saved["folds"], saved["config"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f"{path}: not a results.json of `benchmark lfw` ({e}); give the file a "
                "--summary-only run wrote."
            ) from None
        differ = sorted(changed_settings(config, want, source=str(path), ignore=("data.dir",)))
        if differ:
            raise ValueError(
                f"{path}: summarises other settings than this benchmark's ({', '.join(differ)}); "
                "merge only the folds of the same recipe."
            )
        if saved.get("seeds", 1) != seeds:
            raise ValueError(
                f"{path}: its folds are of {saved.get('seeds', 1)} seed(s) each, this "
                f"benchmark's of {seeds} (--seeds); merge only folds of the same seeds."
            )
        folds += [{**f, "from": str(path)} for f in records]
    return folds


def summarize(
    spec: SweepSpec,
    storage: str,
    out: Path,
    cache_dir: str | None = None,
    earlier: Sequence[dict] = (),
    seeds: int = 1,
) -> dict:
    """Accuracy and AUC per fold, mean ± SE, the ROC averaged over folds, time per fold: of
    ``spec``'s folds that the storage holds as finished (every one of their ``seeds``
    seeds), and of ``earlier`` fold records (:func:`earlier_folds`) for folds the storage
    does not hold. Written under a lock in ``out``: workers finishing folds at once (or a
    --summary-only beside them) write one after the other, each reading the storage inside
    the lock, so the last summary written holds every finished fold."""
    out.mkdir(parents=True, exist_ok=True)
    with FileLock(out / "results.lock"):
        return _summarize(spec, storage, out, cache_dir, earlier, seeds)


def finished_folds(spec: SweepSpec, storage: str, seeds: int) -> dict[int, list[dict]]:
    """The finished trials of each of ``spec``'s folds whose ``seeds`` seeds all finished,
    in seed order."""
    wanted, want_seeds = set(spec.grid["data.fold"]), first_seeds(spec, seeds)
    trials: dict[int, dict[int, dict]] = {}
    for t in completed(spec, storage):
        fold, seed = t["params"]["data.fold"], t["params"].get("train.seed", 0)
        if fold in wanted and seed in want_seeds:
            trials.setdefault(fold, {})[seed] = t
    return {
        fold: [by_seed[s] for s in want_seeds]
        for fold, by_seed in trials.items()
        if len(by_seed) == len(want_seeds)
    }


def fold_record(trials: list[dict], out: Path, cache_dir: str | None) -> dict:
    """A finished fold's record: its one trial's numbers, or its seeds' ensemble's."""
    t = trials[0]
    record = {
        "fold": t["params"]["data.fold"],
        "train_seconds": sum(x["train_seconds"] for x in trials),
        "epochs": t["epochs_run"],
        "best_epochs": [x.get("best_epoch") for x in trials],  # each seed's, chosen on validation
        "run_dir": t["run_dir"],
    }
    if len(trials) > 1:
        return {**record, **seeds_ensemble(trials, out, cache_dir)}
    scored = fold_scores(Path(t["run_dir"]), cache_dir)
    # its ROC on a common grid, so that folds from several summaries average
    tar = None if scored is None else _on_grid(*scored)
    return {**record, "acc": t["test/acc"], "auc": t["test/auc"], "tar": tar}


def seeds_ensemble(trials: list[dict], out: Path, cache_dir: str | None) -> dict:
    """The accuracy, AUC and ROC of a fold's seeds as one verifier (the mean of their scores,
    the threshold chosen on the validation pairs they share), each seed's own beside them;
    kept in ``out/ensembles`` so that each summary after the first reads it."""
    dirs = [t["run_dir"] for t in trials]
    kept = out / "ensembles" / f"fold={trials[0]['params']['data.fold']}.json"
    saved = json.loads(kept.read_text()) if kept.is_file() else {}
    if saved.get("run_dirs") == dirs:
        return saved["record"]
    runs = [run_scores(d, cache_dir) for d in dirs]
    both, (_, _, test) = combine(runs), blend(runs)
    record = {
        "acc": both["test/acc"],
        "auc": both["test/auc"],
        "tar": _on_grid(test, runs[0]["y_test"]),
        "seeds": [
            {"seed": t["params"]["train.seed"], "acc": t["test/acc"], "auc": t["test/auc"]}
            for t in trials
        ],
    }
    kept.parent.mkdir(exist_ok=True)
    atomic_write_text(kept, json.dumps({"run_dirs": dirs, "record": record}))
    return record


def _summarize(
    spec: SweepSpec,
    storage: str,
    out: Path,
    cache_dir: str | None,
    earlier: Sequence[dict],
    seeds: int,
) -> dict:
    wanted = set(spec.grid["data.fold"])
    by_fold = {f["fold"]: f for f in earlier if f["fold"] in wanted}
    for fold, trials in finished_folds(spec, storage, seeds).items():
        by_fold[fold] = fold_record(trials, out, cache_dir)  # wins over an earlier record
    folds = [by_fold[k] for k in sorted(by_fold)]
    tars = [f["tar"] for f in folds if f.get("tar")]
    seconds = [f["train_seconds"] for f in folds if f.get("train_seconds") is not None]
    acc, se = mean_se([f["acc"] for f in folds])
    # An earlier record may hold an accuracy alone (transcribed from a session's note whose
    # run folder was lost): its AUC is unknown, and the mean AUC is of the folds that have one.
    aucs = [f["auc"] for f in folds if f.get("auc") is not None]
    summary = {
        "name": spec.name,
        "folds": folds,
        "acc_mean": acc,
        "acc_se": se,
        "auc_mean": statistics.mean(aucs) if aucs else float("nan"),
        "auc_folds": len(aucs),
        "train_seconds_per_fold": statistics.mean(seconds) if seconds else None,
        "seeds": seeds,
        "seed_acc_means": seed_means(folds, seeds),
        "roc": {
            "far": FAR_GRID.tolist(),
            "tar": np.mean(tars, 0).tolist() if tars else [],
            "folds": len(tars),
        },
        "config": spec.base.to_dict(),
    }
    if folds:  # an empty summary (no fold with all its seeds yet) leaves an earlier one be
        write(summary, out)
    return summary


def seed_means(folds: list[dict], seeds: int) -> list[float]:
    """Each seed's own mean accuracy over the folds that record it (an ensemble's), in seed
    order."""
    alone = [f["seeds"] for f in folds if f.get("seeds")]
    if seeds < 2 or not alone:
        return []
    return [statistics.mean(s[i]["acc"] for s in alone) for i in range(seeds)]


def auc_text(summary: dict) -> str:
    """The mean AUC, saying of how many folds when some folds' records hold none."""
    n, k = len(summary["folds"]), summary["auc_folds"]
    if n and not k:
        return "unknown (no fold's scores)"
    return f"{summary['auc_mean']:.4f}" + ("" if k == n else f" (over {k} of {n} folds)")


def fold_row(f: dict, seeds: int) -> list:
    """A fold's row of results.md: with seeds, each seed's own accuracy after the ensemble's."""
    alone = [", ".join(f"{100 * m['acc']:.2f}%" for m in f.get("seeds", []))] if seeds > 1 else []
    return [
        f["fold"],
        f"{100 * f['acc']:.2f}%",
        *alone,
        "—" if f.get("auc") is None else f"{f['auc']:.4f}",
        "—" if f.get("train_seconds") is None else f"{f['train_seconds']:.0f}",
        "—" if f.get("epochs") is None else f["epochs"],
        f.get("from", "this storage"),
    ]


def seeds_text(summary: dict) -> str:
    """What an ensemble's summary adds: how each fold is scored, and each seed alone."""
    seeds = summary.get("seeds", 1)
    if seeds < 2:
        return ""
    alone = ", ".join(f"{100 * m:.2f}%" for m in summary["seed_acc_means"])
    return (
        f" Each fold is scored by the ensemble of its {seeds} seeds (the mean of their "
        f"scores); each seed alone: {alone} over the same folds."
    )


def write(summary: dict, out: Path) -> Path:
    """results.json, results.md and roc.png in ``out``; returns the Markdown file."""
    from ..reporting import figures
    from ..reporting.document import Section, to_markdown

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2))
    seeds = summary.get("seeds", 1)
    rows = [fold_row(f, seeds) for f in summary["folds"]]
    n, seconds = len(rows), summary["train_seconds_per_fold"]
    sec = Section(f"{summary['name']}: {n} fold(s)").p(
        f"Accuracy {100 * summary['acc_mean']:.2f} ± {100 * summary['acc_se']:.2f}% (mean ± "
        f"standard error over {n} folds), AUC {auc_text(summary)}"
        + ("." if seconds is None else f", {seconds:.0f} s of training a fold.")
        + " Each fold is scored by a model that never saw its people, at the threshold chosen "
        "on validation people carved out of the other folds." + seeds_text(summary)
    )
    alone = ["each seed alone"] if seeds > 1 else []
    train_s = "training s" + (" (all seeds)" if seeds > 1 else "")
    head = ["fold", "accuracy", *alone, "AUC", train_s, "epochs", "summarised from"]
    sec.table(head, rows)
    if summary["roc"]["tar"]:
        far, tar = summary["roc"]["far"], summary["roc"]["tar"]
        folds = summary["roc"]["folds"]
        ax = figures.roc_points(far, tar, label=f"mean of {folds} folds")
        sec.img(figures.save(ax.figure, out / "roc.png"), f"ROC averaged over {folds} folds")
    md = out / "results.md"
    atomic_write_text(md, to_markdown(f"LFW View 2: {summary['name']}", [sec], out))
    return md
