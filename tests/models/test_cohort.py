"""Score normalisation against a cohort (models/cohort.py): against the cohort itself, in
every form the library scores with (pairs, every pair, an inner-product index), and fitted
on training faces only."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from siamese_faces.config import ConfigError
from siamese_faces.models.cohort import CohortNorm, person_means

from ..helpers import script


def units(n, dim=8, seed=0):
    return F.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)), dim=1)


def slow(s, a, b, cohort):
    """AS-norm over the whole cohort, one cosine at a time."""
    halves = []
    for u in (a, b):
        near = [float(u @ c) for c in cohort]
        halves.append((s - np.mean(near)) / np.std(near, ddof=1))
    return sum(halves) / 2


def test_pass_through_until_fitted_then_the_whole_cohort_slow_loop():
    norm, u, cohort = CohortNorm(8), units(6), units(30, seed=1)
    s = (u[:3] * u[3:]).sum(1)
    assert torch.equal(norm(s, u[:3], u[3:]), s)
    assert norm.fit(cohort) == {"cohort": 30}
    got = norm(s, u[:3], u[3:])
    for i in range(3):
        assert float(got[i]) == pytest.approx(slow(float(s[i]), u[i], u[3 + i], cohort), rel=1e-4)
    every = norm(u[:3] @ u[3:].T, u[:3], u[3:])  # (N, M): each row against each column
    for i in range(3):
        for j in range(3):
            want = slow(float(u[i] @ u[3 + j]), u[i], u[3 + j], cohort)
            assert float(every[i, j]) == pytest.approx(want, rel=1e-4)


def test_the_same_as_the_experiments_as_norm_with_k_all():
    experiment = script("experiments", "score_norm")
    u, cohort = units(10), units(25, seed=2)
    labels = torch.arange(25) % 7  # people with several faces: the cohort is their means
    people = person_means(cohort, labels)
    assert len(people) == 7
    torch.testing.assert_close(people.norm(dim=1), torch.ones(7))
    norm = CohortNorm(8)
    assert norm.fit(cohort, labels) == {"cohort": 7}
    ia, ib = torch.tensor([0, 1, 2, 3]), torch.tensor([9, 8, 7, 6])
    want = experiment.as_norm(u, ia, ib, people, 0)
    torch.testing.assert_close(norm((u[ia] * u[ib]).sum(1), u[ia], u[ib]), want)


def test_search_forms_give_the_normalised_score_as_an_inner_product():
    norm, probes, enrolled = CohortNorm(8), units(5), units(7, seed=3)
    norm.fit(units(40, seed=4))
    product = norm.search_forms(probes, "query") @ norm.search_forms(enrolled, "key").T
    torch.testing.assert_close(product, norm(probes @ enrolled.T, probes, enrolled))


def test_a_cohort_of_one_is_refused_with_the_fix():
    with pytest.raises(ValueError, match='model.score_norm = "none"'):
        CohortNorm(8).fit(units(3), torch.zeros(3, dtype=torch.long))


def test_only_a_cosine_head_is_normalised():
    from siamese_faces.config import Config, apply_overrides

    with pytest.raises(ConfigError, match="model.score_norm"):
        apply_overrides(Config(), ["model.head=l1_sigmoid", "model.score_norm=s-norm"])
