import math

import numpy as np
import pytest

from siamese_faces.evaluation import metrics as M

REPORT_KEYS = {"acc", "acc_ci95", "auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3", "confusion"}


def test_accuracy_and_best_threshold_exact():
    s, y = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    assert M.accuracy(s, y, 0.5) == 0.75
    t = M.best_threshold(s, y)
    assert M.accuracy(s, y, t) == 0.75  # no threshold separates 0.4 (diff) from 0.35 (same)
    assert M.best_threshold([1, 2, 3, 4], [0, 0, 1, 1]) == 2.5


def slow_smoothed_threshold(scores, labels):
    """The smoothed rule as its docstring states it, one candidate and one pair at a time."""
    same = [s for s, y in zip(scores, labels, strict=True) if y]
    different = [s for s, y in zip(scores, labels, strict=True) if not y]

    def width(v):
        return 1.06 * np.std(v, ddof=1) * len(v) ** -0.2

    def phi(x):
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    s = sorted(set(scores))
    cands = [s[0] - 1] + [(a + b) / 2 for a, b in zip(s[:-1], s[1:], strict=True)] + [s[-1] + 1]
    expected = [
        sum(phi((v - t) / width(same)) for v in same)
        + sum(phi((t - v) / width(different)) for v in different)
        for t in cands
    ]
    return cands[int(np.argmax(expected))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_smoothed_threshold_matches_a_slow_loop(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 120)
    s = rng.normal(size=120) + 1.5 * y
    assert M.smoothed_threshold(s, y, block=7) == pytest.approx(slow_smoothed_threshold(s, y))
    assert M.choose_threshold(s, y, "smoothed-accuracy") == M.smoothed_threshold(s, y)
    assert M.choose_threshold(s, y, "best-accuracy") == M.best_threshold(s, y)


def test_smoothed_threshold_lands_nearer_the_best_one_for_new_pairs():
    # Two unit normals 2 apart, 150 pairs each: the threshold most accurate on new pairs is
    # 1. Over many draws, the smoothed rule's choice lies nearer it than the step function's.
    errors = {"best": [], "smoothed": []}
    for seed in range(60):
        rng = np.random.default_rng(seed)
        y = np.repeat([0, 1], 150)
        s = rng.normal(size=300) + 2 * y
        errors["best"].append(abs(M.best_threshold(s, y) - 1))
        errors["smoothed"].append(abs(M.smoothed_threshold(s, y) - 1))
    assert np.mean(errors["smoothed"]) < 0.8 * np.mean(errors["best"])


def test_smoothed_threshold_with_nothing_to_smooth_is_the_best_ones():
    for s, y in (([0.1, 0.2, 0.9], [0, 0, 1]), ([0.3, 0.3, 0.1, 0.9], [1, 1, 0, 0])):
        assert M.smoothed_threshold(s, y) == M.best_threshold(s, y)
    with pytest.raises(ValueError, match="use one of best-accuracy, smoothed-accuracy"):
        M.choose_threshold([0.1, 0.9], [0, 1], "median")


def test_roc_with_ties_moves_tied_pairs_together():
    far, tar, thr = M.roc_curve([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0])
    assert far.tolist() == [0, 0, 0.5, 1] and tar.tolist() == [0, 0.5, 1, 1]
    assert thr.tolist() == [math.inf, 0.9, 0.8, 0.1]
    assert M.auc([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0]) == 0.875  # the tie counts one half
    assert M.equal_error_rate([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0]) == pytest.approx(0.25)


def test_perfect_and_inverted_and_constant_scores():
    assert M.auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert M.auc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert M.auc([5, 5, 5, 5], [0, 1, 0, 1]) == 0.5
    assert M.equal_error_rate([1, 2, 3, 4], [0, 0, 1, 1]) == 0.0
    assert M.equal_error_rate([5, 5, 5, 5], [0, 1, 0, 1]) == pytest.approx(0.5)


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    s, y = rng.integers(0, 6, 60).astype(float), rng.integers(0, 2, 60)
    pos, neg = s[y == 1], s[y == 0]
    slow = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert M.auc(s, y) == pytest.approx(slow)


def test_single_class_gives_nan_not_a_crash():
    assert math.isnan(M.auc([0.1, 0.2], [1, 1]))
    assert math.isnan(M.equal_error_rate([0.1, 0.2], [0, 0]))
    assert math.isnan(M.tar_at_far([0.1, 0.2], [1, 1], 0.01))
    assert M.accuracy([0.1, 0.9], [1, 1], 0.5) == 0.5


def test_tar_at_far():
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    y = [1, 1, 0, 1, 0, 0]
    assert M.tar_at_far(s, y, 0.0) == pytest.approx(2 / 3)
    assert M.tar_at_far(s, y, 1 / 3) == 1.0


def test_confusion_and_wilson():
    c = M.confusion([0.9, 0.2, 0.7, 0.1], [1, 1, 0, 0], 0.5)
    assert c == {"true_accept": 1, "false_reject": 1, "false_accept": 1, "true_reject": 1}
    lo, hi = M.wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = M.wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and 0.7 < lo < 0.73


def test_ten_fold_never_uses_a_folds_own_pairs(monkeypatch):
    rng = np.random.default_rng(1)
    folds = np.repeat(np.arange(10), 20)
    s, y = rng.normal(size=200), rng.integers(0, 2, 200)
    seen = []
    real = M.best_threshold

    def spy(scores, labels):
        seen.append(set(np.asarray(scores).tolist()))
        return real(scores, labels)

    monkeypatch.setattr(M, "best_threshold", spy)
    monkeypatch.setattr(M, "smoothed_threshold", spy)
    for rule in M.THRESHOLD_RULES:
        seen.clear()
        result = M.ten_fold(s, y, folds, rule)
        assert len(result["fold_acc"]) == 10 and len(seen) == 10
        for f in range(10):
            assert not seen[f] & set(s[folds == f].tolist())
            assert len(seen[f]) == 180


def test_verification_report_is_complete():
    r = M.verification_report([0.9, 0.2, 0.7, 0.1], [1, 1, 0, 0], 0.5)
    assert set(r) >= REPORT_KEYS | {"threshold", "pairs"}
