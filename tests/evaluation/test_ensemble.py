"""evaluation.ensemble (experiments/ensemble.py, benchmark lfw --seeds): how the runs'
scores are weighed."""

from types import SimpleNamespace

import numpy as np
import pytest

from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.metrics import accuracy, auc, best_threshold, choose_threshold
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..training.test_distill import IDENTITY
from ..training.test_training import tiny


@pytest.fixture
def ensemble():
    from siamese_faces.evaluation import ensemble

    return ensemble


def test_equal_shares_are_the_runs_mean(ensemble):
    rng = np.random.default_rng(0)
    scores = [rng.normal(size=50) for _ in range(3)]
    np.testing.assert_allclose(ensemble.mixed(scores, 1 / 3), np.mean(scores, axis=0))
    np.testing.assert_array_equal(ensemble.mixed(scores[:1], 0.3), scores[0])  # alone: itself


def test_the_chosen_share_follows_the_run_that_separates_validation(ensemble):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    informative, noise = y + 0.8 * rng.normal(size=400), rng.normal(size=400)
    assert ensemble.chosen_share([informative, noise], y) >= 0.8
    assert ensemble.chosen_share([noise, informative], y) <= 0.2
    # two runs as good as each other and independent: the mean beats either alone
    other = y + 0.8 * rng.normal(size=400)
    assert 0.25 <= ensemble.chosen_share([informative, other], y) <= 0.75


def test_a_member_alone_gives_its_runs_own_accuracy_by_its_own_threshold_rule(
    lfw_like, tmp_path, ensemble
):
    """Each run is judged by its ``model.threshold_rule`` (the recipes' smoothed accuracy),
    not by the best accuracy's threshold: a run alone, and an ensemble of one, repeat the
    test accuracy the run reported (the best accuracy's rule gave fold 5 of the View 2
    `unrestricted` run 91.17% against its own 90.67%)."""
    for rule in ("smoothed-accuracy", "best-accuracy"):  # a cosine head: its rule decides
        cfg = tiny(lfw_like, *IDENTITY, f"model.threshold_rule={rule}", "train.epochs=2")
        fit(cfg, prepare(cfg), tmp_path / rule, DistContext())
        results = load_run(tmp_path / rule).results
        run = ensemble.run_scores(str(tmp_path / rule))
        assert run["rule"] == rule
        alone = ensemble.combine([run])
        assert alone["threshold"] == pytest.approx(results["threshold"])
        assert alone["test/acc"] == pytest.approx(results["test/acc"])
        assert alone["members_test_acc"] == [pytest.approx(results["test/acc"])]
        assert alone["threshold_rule"] == rule


def net(fixed: bool) -> SimpleNamespace:
    """A net as far as the threshold asks: a probability head's fixed 0.5, or none."""
    return SimpleNamespace(head=SimpleNamespace(uses_fixed_threshold=fixed, default_threshold=0.5))


def test_the_threshold_follows_the_first_runs_rule_and_each_member_its_own(ensemble):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)

    def run(rule: str) -> dict:  # a run's scores, as run_scores gives them
        val, test = y + rng.normal(size=300), y + rng.normal(size=300)
        fields = {"y_val": y, "y_test": y, "split": ("s",), "seconds": 1.0, "net": net(False)}
        return {"val": val, "test": test, "rule": rule, **fields}

    runs = [run("smoothed-accuracy"), run("best-accuracy")]
    v = np.mean([r["val"] for r in runs], axis=0)
    smoothed, best = choose_threshold(v, y, "smoothed-accuracy"), best_threshold(v, y)
    assert smoothed != pytest.approx(best)  # the two rules part on these scores
    assert ensemble.combine(runs)["threshold"] == pytest.approx(smoothed)
    assert ensemble.combine(runs[::-1])["threshold"] == pytest.approx(best)
    own = [choose_threshold(r["val"], y, r["rule"]) for r in runs]
    assert ensemble.combine(runs)["members_test_acc"] == [
        pytest.approx(accuracy(r["test"], y, t)) for r, t in zip(runs, own, strict=True)
    ]
    assert ensemble.combine(runs)["members_val_auc"] == [
        pytest.approx(auc(r["val"], y)) for r in runs
    ]
    fixed = [{**runs[0], "net": net(True)}]  # a probability head keeps its 0.5
    assert ensemble.combine(fixed)["threshold"] == 0.5
