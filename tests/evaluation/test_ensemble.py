"""experiments/ensemble.py: how the runs' scores are weighed."""

import numpy as np
import pytest

from ..helpers import script


@pytest.fixture
def ensemble():
    return script("experiments", "ensemble")


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
