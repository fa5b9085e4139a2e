"""A sweep's results: one table (Markdown + CSV) in the study's columns, and figures.

Built from the Optuna storage and the trials' run folders only (never by training).
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from ..io import atomic_write_text, csv_text
from .sweep import SweepSpec, open_study, setting_text, trial_key

COLUMNS = [("train.batch_size", "batch"), ("train.lr", "lr"), ("train.optimizer", "optimizer")]


def completed(spec: SweepSpec, storage: str) -> list[dict]:
    """Every finished trial: its settings and the numbers its run wrote."""
    from optuna.trial import TrialState

    study = open_study(spec, storage)
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        out.append({"trial": t.number, "params": t.user_attrs["params"], **t.user_attrs})
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return float("nan"), float("nan")
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _fmt(values: list[float], pct: bool = False, digits: int = 4, whole: bool = False) -> str:
    m, s = _mean_std(values)
    if pct:
        return f"{100 * m:.1f}%" if len(values) < 2 else f"{100 * m:.1f} ± {100 * s:.1f}%"
    if whole:  # seconds and epochs: 2192, not 2.19e+03
        return f"{m:.0f}" if len(values) < 2 else f"{m:.0f} ± {s:.0f}"
    return f"{m:.{digits}g}" if len(values) < 2 else f"{m:.{digits}g} ± {s:.2g}"


def _reference_for(spec: SweepSpec, point: dict) -> dict | None:
    for ref in spec.reference:
        if all(point.get(k) == v for k, v in ref.items() if "." in k):
            return ref
    return None


# The numbers of each trial: (results key, table column, how to show the mean ± std).
MEASURES = [
    ("train_seconds", "time s", {"whole": True}),
    ("test/loss", "test loss", {}),
    ("test/acc", "test acc", {"pct": True}),
    ("val/loss", "val loss", {}),
    ("val/acc", "val acc", {"pct": True}),
    ("test/auc", "test AUC", {}),
    ("epochs_run", "epochs", {"whole": True}),
]
STUDY_COLUMNS = ["study: test acc", "study: val acc", "study: time s (K80)"]
FLAT_KEYS = [k for k, _, _ in MEASURES[:-1]] + ["epochs_run", "best_epoch", "run_dir"]


def _point(trial: dict) -> dict:
    return {k: v for k, v in trial["params"].items() if k != "train.seed"}


def _group(trials: list[dict]) -> list[list[dict]]:
    """Trials of the same settings together (seeds averaged), in the order they were queued."""
    groups: dict[str, list[dict]] = {}
    for t in trials:
        groups.setdefault(trial_key(_point(t)), []).append(t)
    return sorted(groups.values(), key=lambda ts: min(t["trial"] for t in ts))


def _study_cells(ref: dict) -> list:
    return [
        f"{ref['test_acc']}%" if "test_acc" in ref else "",
        f"{ref['val_acc']}%" if "val_acc" in ref else "",
        ref.get("time_s", ""),
    ]


def table(spec: SweepSpec, trials: list[dict]) -> tuple[list[str], list[list], list[dict]]:
    """Rows grouped by setting (seeds averaged), with the study's reported numbers beside;
    also one flat row a trial (for results.csv)."""
    varied = sorted({k for t in trials for k in t["params"] if k != "train.seed"})
    extra = [k for k in varied if k not in dict(COLUMNS)]
    head = (
        ["experiment", *(name for _, name in COLUMNS), *extra, "seeds"]
        + [column for _, column, _ in MEASURES]
        + STUDY_COLUMNS
    )
    rows, flat = [], []
    for ts in _group(trials):
        point = _point(ts[0])
        cfg = spec.config_for(point)
        ref = _reference_for(spec, point) or {}
        col = {k: getattr(cfg.train, k.split(".")[1]) for k, _ in COLUMNS}
        measures = [
            _fmt([float(t.get(key, float("nan"))) for t in ts], **how) for key, _, how in MEASURES
        ]
        rows.append(
            [ref.get("exp", ""), *(col[k] for k, _ in COLUMNS), *(point.get(k, "") for k in extra)]
            + [len(ts), *measures, *_study_cells(ref)]
        )
        settings = list(dict(COLUMNS)) + extra
        flat += [
            {
                "experiment": ref.get("exp", ""),
                **{k: t["params"].get(k, col.get(k)) for k in settings},
                "seed": t["params"].get("train.seed", 0),
                **{k: t.get(k, "") for k in FLAT_KEYS},
            }
            for t in ts
        ]
    return head, rows, flat


def write(spec: SweepSpec, storage: str, out: Path) -> Path:
    """results.md, results.csv and figures in ``out``; returns the Markdown file."""
    from ..reporting import figures
    from ..reporting.document import Section, to_markdown

    trials = completed(spec, storage)
    head, rows, flat = table(spec, trials)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.csv", csv_text(flat))
    sec = Section(f"{spec.name}: {len(trials)} finished trial(s)").table(head, rows)
    sec.p(
        "Test = the 1,000 DevTest pairs, reported only; every choice (epoch, threshold) was "
        "made on the validation pairs. Study columns: the numbers its report gives for the "
        "same setting (one run each, on a K80, with its letter split)."
    )
    if trials:
        for path, caption in draw(trials, out, figures):
            sec.img(path, caption)
    md = out / "results.md"
    atomic_write_text(md, to_markdown(f"Sweep {spec.name}", [sec], out))
    return md


def draw(trials: list[dict], out: Path, figures) -> list[tuple[Path, str]]:
    """The sweep's figures, saved in ``out``: (file, caption) each."""
    made = [
        (
            figures.save(validation_curves(trials), out / "validation-curves.png"),
            "Validation accuracy and loss per epoch, every trial overlaid",
        )
    ]
    if any(k != "train.seed" for t in trials for k in t["params"]):
        made.append(
            (
                figures.save(accuracy_by_setting(trials), out / "accuracy-by-setting.png"),
                "Test and validation accuracy against each swept setting",
            )
        )
    made.append(
        (
            figures.save(time_per_trial(trials), out / "time-per-trial.png"),
            "Training time of each trial",
        )
    )
    return made


def validation_curves(trials: list[dict]):
    """Validation accuracy and loss per epoch of every trial, from its metrics.csv."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for t in trials:
        metrics = Path(t["run_dir"]) / "metrics.csv"
        if not metrics.is_file():
            continue
        with open(metrics) as fh:
            rows = list(csv.DictReader(fh))
        for ax, key in zip(axes, ("val/acc", "val/loss"), strict=True):
            ax.plot(
                [int(r["epoch"]) for r in rows],
                [float(r[key]) for r in rows],
                alpha=0.6,
                label=Path(t["run_dir"]).name,
            )
    for ax, key in zip(axes, ("validation accuracy", "validation loss"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    if len(trials) <= 16:
        axes[1].legend(fontsize=6)
    return fig


def accuracy_by_setting(trials: list[dict]):
    """Test and validation accuracy against each swept setting, one panel a setting."""
    import matplotlib.pyplot as plt

    varied = sorted({k for t in trials for k in t["params"] if k != "train.seed"})
    fig, axes = plt.subplots(1, len(varied), figsize=(4 * len(varied), 3.4), squeeze=False)
    for ax, k in zip(axes[0], varied, strict=True):
        # keyed by text, so a list setting (a crop box) is one tick too; numbers in numeric
        # order (32 before 128), other settings by name
        raw = {setting_text(t["params"][k]): t["params"][k] for t in trials}
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw.values())
        values = sorted(raw, key=raw.get if numeric else None)
        for metric, marker in (("test/acc", "o"), ("val/acc", "x")):
            ax.scatter(
                [values.index(setting_text(t["params"][k])) for t in trials],
                [t.get(metric, float("nan")) for t in trials],
                marker=marker,
                label=metric,
                alpha=0.7,
            )
        long = max(map(len, values)) > 8  # a crop box's text: slanted, or the ticks overlap
        ax.set_xticks(
            range(len(values)),
            values,
            fontsize=7,
            rotation=25 if long else 0,
            ha="right" if long else "center",
        )
        ax.set_xlabel(k)
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    return fig


def time_per_trial(trials: list[dict]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(trials)), 3.4))
    names = [Path(t["run_dir"]).name for t in trials]
    ax.bar(range(len(trials)), [t.get("train_seconds", 0) for t in trials])
    ax.set_xticks(range(len(trials)), names, rotation=80, fontsize=6)
    ax.set_ylabel("training time, s")
    return fig
