"""experiments/threshold_rules.py: each rule is chosen on one half of the validation people
and scored on the other, half same and half different pairs."""

import numpy as np

from ..helpers import script


def synthetic_pairs(people: int = 30, pairs: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    names, y = [], []
    for _ in range(pairs):
        a, b = rng.integers(people, size=2)
        same = bool(rng.integers(2))
        names.append((f"p{a}", f"p{a}" if same else f"p{b if b != a else (a + 1) % people}"))
        y.append(same)
    y = np.array(y)
    return names, y, rng.normal(size=pairs) + 2 * y


def test_a_half_holds_its_own_people_as_many_same_pairs_as_different():
    rules = script("experiments", "threshold_rules")
    names, y, _ = synthetic_pairs()
    half = {f"p{i}" for i in range(15)}
    picked = rules.balanced_half(names, half, y, np.random.default_rng(0))
    assert len(picked) == len(set(picked.tolist())) > 0
    assert all(names[i][0] in half and names[i][1] in half for i in picked)
    assert y[picked].sum() * 2 == len(picked)


def test_held_out_accuracy_scores_each_rule_on_the_other_half(monkeypatch):
    rules = script("experiments", "threshold_rules")
    names, y, scores = synthetic_pairs()
    chosen_on = []
    real = rules.choose_threshold

    def spy(s, labels, rule):
        chosen_on.append((rule, len(s)))
        return real(s, labels, rule)

    monkeypatch.setattr(rules, "choose_threshold", spy)
    out = rules.held_out_accuracy(scores, y, names, repeats=3)
    assert set(out) == {"best-accuracy", "smoothed-accuracy"}
    assert all(0.7 < v < 0.95 for v in out.values())  # two unit normals 2 apart: about 0.84
    assert len(chosen_on) == 3 * 2 * 2 and all(n < len(y) // 2 for _, n in chosen_on)
