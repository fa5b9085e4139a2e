"""experiments/compare_view2.py: paired fold differences of two View 2 benchmarks."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cmp():
    return script("experiments", "compare_view2")


def results(path: Path, accs: dict[int, int]) -> Path:
    """A results.json with these folds' accuracies, given as right answers out of 600."""
    folds = [{"fold": k, "acc": right / 600, "auc": 0.9 + k / 1000} for k, right in accs.items()]
    path.write_text(json.dumps({"folds": folds, "acc_mean": 0.0}))
    return path


def test_differences_are_paired_on_the_shared_folds_only(tmp_path, cmp):
    new = results(tmp_path / "new.json", {1: 560, 2: 570, 3: 555, 9: 540})
    base = results(tmp_path / "base.json", {1: 554, 2: 570, 3: 558, 4: 500, 10: 530})
    c = cmp.compare(cmp.fold_accuracies(new), cmp.fold_accuracies(base))
    assert c["folds"] == [1, 2, 3]
    diffs = [6 / 600, 0.0, -3 / 600]  # worked by hand
    assert c["diff_mean"] == pytest.approx(sum(diffs) / 3)
    sd = math.sqrt(sum((d - sum(diffs) / 3) ** 2 for d in diffs) / 2)
    assert c["diff_se"] == pytest.approx(sd / math.sqrt(3))
    assert (c["higher"], c["lower"], c["same"]) == (1, 1, 1)
    assert c["new_acc_mean"] == pytest.approx((560 + 570 + 555) / 1800)
    assert c["base_acc_mean"] == pytest.approx((554 + 570 + 558) / 1800)
    assert c["new_auc_mean"] == pytest.approx(0.902)


def test_a_fold_merged_without_its_auc_is_left_out_of_the_auc_mean_only(tmp_path, cmp):
    new = results(tmp_path / "new.json", {1: 560, 2: 570})
    saved = json.loads(new.read_text())
    saved["folds"][1]["auc"] = None  # as an early summary's folds are merged by --merge
    new.write_text(json.dumps(saved))
    base = results(tmp_path / "base.json", {1: 554, 2: 571})
    c = cmp.compare(cmp.fold_accuracies(new), cmp.fold_accuracies(base))
    assert c["new_auc_mean"] == pytest.approx(0.901)
    assert c["base_auc_mean"] == pytest.approx(0.9015)
    assert c["diff_mean"] == pytest.approx((6 - 1) / 1200)
    assert "new 94.17% (AUC 0.9010 of 1 folds), base 93.75% (AUC 0.9015)" in cmp.text(c)


def test_the_command_prints_each_fold_and_the_summary(tmp_path):
    new = results(tmp_path / "new.json", {1: 560, 2: 570})
    base = results(tmp_path / "base.json", {1: 554, 2: 571})
    out = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "compare_view2.py"), str(new), str(base)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "   1   93.33%   92.33%    +1.00" in out
    assert "new - base +0.42 ± 0.58 points" in out
    assert "higher on 1, lower on 1, the same on 0" in out


def test_no_shared_fold_and_a_wrong_file_are_refused_by_name(tmp_path, cmp):
    new = results(tmp_path / "new.json", {1: 560})
    base = results(tmp_path / "base.json", {2: 560})
    with pytest.raises(SystemExit, match=r"no fold in both benchmarks \(new has \[1\], base \[2\]"):
        cmp.compare(cmp.fold_accuracies(new), cmp.fold_accuracies(base))
    wrong = tmp_path / "metrics.json"
    wrong.write_text('{"acc": 0.9}')
    with pytest.raises(SystemExit, match=r"metrics.json: not a results.json"):
        cmp.fold_accuracies(wrong)


def test_trainings_give_each_mean_and_the_std_between_them(tmp_path, cmp):
    a = results(tmp_path / "a.json", {1: 540, 2: 552})  # 91.00%
    b = results(tmp_path / "b.json", {1: 546, 2: 558})  # 92.00%
    c = results(tmp_path / "c.json", {1: 549, 2: 549})  # 91.50%
    t = cmp.trainings([str(a), str(b), str(c)])
    assert t["acc_means"] == pytest.approx([0.91, 0.92, 0.915])
    assert t["mean"] == pytest.approx(0.915)
    assert t["std"] == pytest.approx(0.005)  # worked by hand: deviations -0.5, +0.5, 0 points
    assert (
        "3 trainings of 2 folds: 91.50 ± 0.50% (mean ± std of their means)" in cmp.trainings_text(t)
    )


def test_trainings_on_other_folds_or_alone_are_refused(tmp_path, cmp):
    a = results(tmp_path / "a.json", {1: 540, 2: 552})
    b = results(tmp_path / "b.json", {1: 546, 3: 558})
    with pytest.raises(
        SystemExit, match=r"different folds \(.*a.json: \[1, 2\]; .*b.json: \[1, 3\]"
    ):
        cmp.trainings([str(a), str(b)])
    with pytest.raises(SystemExit, match="two or more"):
        cmp.trainings([str(a)])
