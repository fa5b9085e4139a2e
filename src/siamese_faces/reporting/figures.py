"""Figures, drawn from saved results files (never by re-running training).

Each function takes the data it draws and an optional ``ax``, like scikit-learn's displays;
``save`` writes a figure to PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..evaluation.metrics import roc_curve  # noqa: E402


def save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def curves(rows: list[dict], axes=None):
    """Loss and accuracy per epoch, train and validation, from metrics.csv rows."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = [int(r["epoch"]) for r in rows]
    for ax, metric in zip(axes, ("loss", "acc"), strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            ax.plot(
                epochs,
                [float(r[f"{split}/{metric}"]) for r in rows],
                style,
                marker="o",
                ms=3,
                label=f"{split}/{metric}",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return axes


def roc(scores, labels, ax=None, label: str = ""):
    far, tar, _ = roc_curve(scores, labels)
    return roc_points(far, tar, ax, label)


def roc_points(far, tar, ax=None, label: str = ""):
    """An ROC curve given as its points (e.g. the mean of several folds' curves)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot(far, tar, label=label or None)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.grid(alpha=0.3)
    if label:
        ax.legend(loc="lower right")
    return ax


def score_histogram(scores, labels, threshold: float, ax=None):
    scores, labels = np.asarray(scores), np.asarray(labels).astype(bool)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.6))
    bins = np.linspace(scores.min(), scores.max(), 40) if len(scores) else 10
    ax.hist(scores[labels], bins=bins, alpha=0.6, label="same person")
    ax.hist(scores[~labels], bins=bins, alpha=0.6, label="different people")
    ax.axvline(threshold, color="k", ls="--", label=f"threshold {threshold:.3g}")
    ax.set_xlabel("score (higher = more alike)")
    ax.set_ylabel("pairs")
    ax.legend()
    return ax


def pair_examples(examples: list[dict], title: str, cols: int = 4):
    """Image pairs side by side, each captioned with names, truth and score.

    ``examples``: dicts with ``image1``/``image2`` (2-D uint8 arrays), ``caption``.
    """
    n = max(1, len(examples))
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2.0 * 2 * cols, 2.75 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, ex in enumerate(examples):
        r, c = divmod(k, cols)
        axes[r, 2 * c].imshow(ex["image1"], cmap="gray", vmin=0, vmax=255)
        axes[r, 2 * c + 1].imshow(ex["image2"], cmap="gray", vmin=0, vmax=255)
        axes[r, 2 * c].set_title(ex["caption"], fontsize=7, loc="left")
    fig.suptitle(title, fontsize=10)
    return fig


def error_rate_by(values, errors, label: str, bins: int = 5, ax=None):
    """Error rate within quantile bins of ``values`` (e.g. brightness): what makes pairs hard."""
    values, errors = np.asarray(values, float), np.asarray(errors, bool)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:  # every value equal: one bin holding every pair
        edges = np.array([edges[0], edges[0]])
    which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    rates = [
        errors[which == b].mean() if (which == b).any() else np.nan for b in range(len(edges) - 1)
    ]
    centres = [(edges[b] + edges[b + 1]) / 2 for b in range(len(edges) - 1)]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.2))
    ax.bar(range(len(rates)), rates, color="tab:red", alpha=0.7)
    ax.set_xticks(range(len(rates)), [f"{c:.3g}" for c in centres], fontsize=7)
    ax.set_xlabel(f"{label} (quantile bins)")
    ax.set_ylabel("error rate")
    ax.grid(alpha=0.3, axis="y")
    return ax, {"bin_centres": centres, "error_rate": rates}
