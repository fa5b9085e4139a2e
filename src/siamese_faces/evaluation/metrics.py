"""Pure metric functions on scores (higher = more alike) and labels (1 = same person)."""

from __future__ import annotations

import numpy as np
import torch


class NonFiniteScores(ValueError):
    """Scores hold NaN or infinity: the model that gave them diverged."""


def finite(scores) -> np.ndarray:
    """``scores`` as float64, or :class:`NonFiniteScores`: a NaN compares false with every
    threshold, so accuracy, a threshold or an AUC computed from one would be a silent lie."""
    s = np.asarray(scores, dtype=np.float64)
    bad = int((~np.isfinite(s)).sum())
    if bad:
        raise NonFiniteScores(
            f"{bad} of {s.size} scores are NaN or infinite: the model diverged; train again "
            "with a lower train.lr."
        )
    return s


def accuracy(scores, labels, threshold: float) -> float:
    """Fraction of pairs where ``score > threshold`` agrees with the label."""
    scores, labels = finite(scores), np.asarray(labels).astype(bool)
    if len(scores) == 0:
        raise ValueError("accuracy of no pairs is undefined")
    return float(np.mean((scores > threshold) == labels))


def best_threshold(scores, labels) -> float:
    """The threshold that maximises accuracy on these pairs (choose it on validation only).

    Candidates are the midpoints between consecutive distinct scores and one below/above all;
    among equally good ones the middle one is taken, the most robust to a shifted score.
    """
    cands = candidates(scores)
    accs = np.array([accuracy(scores, labels, t) for t in cands])
    best = np.flatnonzero(accs == accs.max())
    return float(cands[best[len(best) // 2]])


def candidates(scores) -> np.ndarray:
    """The thresholds worth trying: midpoints between consecutive distinct scores, and one
    below and one above them all."""
    s = np.unique(finite(scores))
    if len(s) == 0:
        raise ValueError("cannot choose a threshold on no pairs")
    return np.concatenate([[s[0] - 1.0], (s[:-1] + s[1:]) / 2, [s[-1] + 1.0]])


def smoothed_threshold(scores, labels, block: int = 256) -> float:
    """The threshold that maximises the accuracy of the pairs' scores smoothed by a Gaussian
    kernel, each class (same, different) with Silverman's bandwidth ``1.06 sd n^(-1/5)``.

    Accuracy on a few thousand validation pairs is a step function whose flat top is found
    by a handful of pairs near it, so its argmax moves with whichever pairs validation
    happened to draw. Smoothing each class's scores into a density estimate and maximising
    the expected accuracy under it averages over those pairs: on held-out halves of the
    validation people the threshold it picks is more accurate on the other half
    (docs/accuracy.md). Without two scores of each class, or with a class of one value, there
    is nothing to smooth: the best accuracy's threshold."""
    s, y = _arrays(scores, labels)
    same, different = s[y], s[~y]
    if min(len(same), len(different)) < 2:
        return best_threshold(s, y)
    h_same, h_diff = (1.06 * v.std(ddof=1) * len(v) ** -0.2 for v in (same, different))
    if min(h_same, h_diff) <= 0:
        return best_threshold(s, y)
    cands = candidates(s)
    same_t, diff_t = torch.from_numpy(same), torch.from_numpy(different)
    correct = np.empty(len(cands))
    for i in range(0, len(cands), block):  # (block, pairs) at a time: bounded memory
        t = torch.from_numpy(cands[i : i + block])[:, None]
        right = torch.special.ndtr((same_t - t) / h_same).sum(1)
        correct[i : i + block] = (right + torch.special.ndtr((t - diff_t) / h_diff).sum(1)).numpy()
    return float(cands[int(np.argmax(correct))])


THRESHOLD_RULES = ("best-accuracy", "smoothed-accuracy")


def in_words(rule: str) -> str:
    """A threshold rule as a threshold's origin names it: "best accuracy"."""
    return rule.replace("-", " ")


def choose_threshold(scores, labels, rule: str = "best-accuracy") -> float:
    """The threshold of these pairs by ``rule`` (``model.threshold_rule``; choose it on
    validation only)."""
    if rule not in THRESHOLD_RULES:
        raise ValueError(f"threshold rule {rule!r}: use one of {', '.join(THRESHOLD_RULES)}.")
    if rule == "smoothed-accuracy":
        return smoothed_threshold(scores, labels)
    return best_threshold(scores, labels)


def _arrays(scores, labels):
    s = finite(scores)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must be equal-length vectors")
    return s, y


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-accept rates, true-accept rates and thresholds, "same" meaning ``score >= t``.

    Tied scores move together (one point per distinct score), so the curve never claims a
    split of pairs that no threshold can make. Starts at (0, 0) with threshold +inf.
    A missing class gives NaN rates for that class.
    """
    s, y = _arrays(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.flatnonzero(np.diff(s)) if len(s) else np.array([], dtype=int)
    ends = np.concatenate([distinct, [len(s) - 1]]) if len(s) else np.array([], dtype=int)
    tp = np.cumsum(y)[ends] if len(s) else np.array([])
    fp = (ends + 1) - tp
    npos, nneg = y.sum(), (~y).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        tar = np.concatenate([[0.0], tp / npos]) if npos else np.full(len(ends) + 1, np.nan)
        far = np.concatenate([[0.0], fp / nneg]) if nneg else np.full(len(ends) + 1, np.nan)
    thresholds = np.concatenate([[np.inf], s[ends]]) if len(s) else np.array([np.inf])
    return far, tar, thresholds


def auc(scores, labels) -> float:
    """Area under the ROC curve (ties count one half); NaN when a class is missing."""
    far, tar, _ = roc_curve(scores, labels)
    if np.isnan(far).any() or np.isnan(tar).any():
        return float("nan")
    return float(np.trapezoid(tar, far))


def equal_error_rate(scores, labels) -> float:
    """The rate where false accepts equal false rejects, interpolated on the ROC curve."""
    far, tar, _ = roc_curve(scores, labels)
    if np.isnan(far).any() or np.isnan(tar).any():
        return float("nan")
    frr = 1 - tar
    i = int(np.flatnonzero(far >= frr)[0])  # exists: at the end far = 1 >= frr = 0
    if i == 0:
        return float(far[0])
    # Between points i-1 and i the difference far - frr changes sign: interpolate linearly.
    d0, d1 = far[i - 1] - frr[i - 1], far[i] - frr[i]
    w = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(far[i - 1] + w * (far[i] - far[i - 1]))


def tar_at_far(scores, labels, target_far: float) -> float:
    """Highest true-accept rate among thresholds whose false-accept rate is <= ``target_far``."""
    far, tar, _ = roc_curve(scores, labels)
    if np.isnan(far).any() or np.isnan(tar).any():
        return float("nan")
    ok = far <= target_far + 1e-12
    return float(tar[ok].max())


def threshold_at_far(scores, labels, target_far: float) -> tuple[float, float]:
    """The lowest threshold whose false-accept rate (``score > threshold`` on different
    pairs) is at most ``target_far``, and the rate it achieves. With fewer than 1/target_far
    different pairs the rate cannot be resolved: the threshold is then their highest score
    (no false accept on these pairs)."""
    s, y = _arrays(scores, labels)
    different = np.sort(s[~y])[::-1]  # highest first
    if len(different) == 0:
        raise ValueError("cannot choose a threshold at a false-accept rate without different pairs")
    allowed = int(np.floor(target_far * len(different) + 1e-9))  # false accepts allowed
    threshold = float(different[min(allowed, len(different) - 1)])
    return threshold, float((different > threshold).mean())


def confusion(scores, labels, threshold: float) -> dict[str, int]:
    """Counts of true/false accepts and rejects at ``score > threshold``."""
    s, y = _arrays(scores, labels)
    pred = s > threshold
    return {
        "true_accept": int((pred & y).sum()),
        "false_reject": int((~pred & y).sum()),
        "false_accept": int((pred & ~y).sum()),
        "true_reject": int((~pred & ~y).sum()),
    }


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (well-behaved near 0 and 1)."""
    if n == 0:
        return float("nan"), float("nan")
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def ten_fold(scores, labels, folds, rule: str = "best-accuracy") -> dict:
    """LFW's protocol: for each fold, the threshold is chosen on the other folds only (by
    ``rule``, as :func:`choose_threshold`)."""
    s, y = _arrays(scores, labels)
    folds = np.asarray(folds)
    accs, thresholds = [], []
    for f in np.unique(folds):
        test = folds == f
        t = choose_threshold(s[~test], y[~test], rule)
        thresholds.append(t)
        accs.append(accuracy(s[test], y[test], t))
    return {
        "fold_acc": accs,
        "thresholds": thresholds,
        "mean": float(np.mean(accs)),
        "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
    }


def verification_report(scores, labels, threshold: float) -> dict:
    """Every verification metric at once, as plain JSON-able numbers."""
    s, y = _arrays(scores, labels)
    c = confusion(s, y, threshold)
    correct = c["true_accept"] + c["true_reject"]
    lo, hi = wilson_interval(correct, len(s))
    return {
        "pairs": len(s),
        "threshold": threshold,
        "acc": correct / len(s) if len(s) else float("nan"),
        "acc_ci95": [lo, hi],
        "auc": auc(s, y),
        "eer": equal_error_rate(s, y),
        "tar_at_far_1e-2": tar_at_far(s, y, 1e-2),
        "tar_at_far_1e-3": tar_at_far(s, y, 1e-3),
        "confusion": c,
    }


def head_threshold(net, val_scores, val_y, rule: str = "best-accuracy") -> float:
    """The head's own threshold (0.5 for a probability), or for heads without one (distance,
    cosine) the one ``rule`` (``model.threshold_rule``) chooses on these validation pairs;
    never chosen on the reported pairs."""
    if net.head.uses_fixed_threshold:
        return net.head.default_threshold
    return choose_threshold(val_scores, val_y, rule)
