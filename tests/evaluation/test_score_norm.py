"""experiments/score_norm.py: AS-norm against a slow loop, its cohort of training people only,
and scores without it equal to the run's own."""

import numpy as np
import pytest
import torch

from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.api import open_run_data
from siamese_faces.evaluation.api import pair_scores as run_scores
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..helpers import script
from ..training.test_distill import IDENTITY
from ..training.test_training import tiny


@pytest.fixture
def norm():
    return script("experiments", "score_norm")


@pytest.fixture
def run(lfw_like, tmp_path):
    cfg = tiny(lfw_like, *IDENTITY, "model.flip_tta=true", "model.members=2")
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    return load_run(tmp_path / "run")


def test_without_it_the_scores_are_the_runs_own_and_the_cohort_is_its_training_people(run, norm):
    val_data, _ = open_run_data(run)
    plain = norm.pair_scores(run, val_data, val_data.val, None, 0)
    np.testing.assert_allclose(plain, run_scores(run, val_data, val_data.val)[1], rtol=1e-5)
    cohort = norm.cohort_of(run, val_data)  # one a training person: none validates or tests
    assert len(cohort) == len(set(val_data.identity_labels.tolist()))
    torch.testing.assert_close(cohort.norm(dim=1), torch.ones(len(cohort)))
    normed = norm.pair_scores(run, val_data, val_data.val, cohort, 0)
    assert normed.shape == plain.shape and not np.allclose(normed, plain)


@pytest.mark.parametrize("top_k", [0, 3])
def test_as_norm_against_a_slow_loop(norm, top_k):
    g = torch.Generator().manual_seed(0)
    unit = lambda n: torch.nn.functional.normalize(torch.randn(n, 8, generator=g), dim=1)  # noqa: E731
    u, cohort = unit(6), unit(10)
    ia, ib = torch.tensor([0, 1, 2, 5]), torch.tensor([3, 4, 5, 0])
    got = norm.as_norm(u, ia, ib, cohort, top_k)
    for i in range(len(ia)):
        s = float(u[ia[i]] @ u[ib[i]])
        halves = []
        for row in (int(ia[i]), int(ib[i])):
            near = sorted((float(u[row] @ c) for c in cohort), reverse=True)
            near = near[:top_k] if top_k else near
            halves.append((s - np.mean(near)) / np.std(near, ddof=1))
        assert float(got[i]) == pytest.approx(sum(halves) / 2, rel=1e-5)


def test_a_restricted_run_is_normalised_by_images_never_by_names(lfw_like, tmp_path, norm):

    cfg = tiny(lfw_like, "model.head=cosine", "model.flip_tta=true")
    assert cfg.data.protocol == "restricted"
    fit(cfg, prepare(cfg), tmp_path / "r", DistContext())
    run = load_run(tmp_path / "r")
    val_data, _ = open_run_data(run)
    with pytest.raises(SystemExit, match="may not group its faces by name"):
        norm.cohort_of(run, val_data)
    cohort = norm.cohort_of(run, val_data, "images")
    trained = torch.unique(torch.cat([val_data.train.a, val_data.train.b]))
    assert len(cohort) == len(trained)  # a face a training image, and only those
    validated = set(torch.cat([val_data.val.a, val_data.val.b]).tolist())
    assert not validated & set(trained.tolist())


def test_written_normalised_is_the_run_trained_with_it(lfw_like, tmp_path, norm):
    from safetensors.torch import load_file

    settings = [*IDENTITY, "model.flip_tta=true", "model.members=2", "model.wccn=0.1"]
    plain, normed = tiny(lfw_like, *settings), tiny(lfw_like, *settings, "model.score_norm=s-norm")
    fit(plain, prepare(plain), tmp_path / "plain", DistContext())
    trained = fit(normed, prepare(normed), tmp_path / "normed", DistContext())
    run = load_run(tmp_path / "plain")
    val_data, _ = open_run_data(run)
    out = norm.write_normalised(run, val_data, tmp_path / "written")
    assert out == tmp_path / "written" / "plain"
    want, got = (load_file(str(d / "best.safetensors")) for d in (tmp_path / "normed", out))
    assert set(got) == set(want) and any(k.startswith("score_norm.") for k in got)
    for key, value in want.items():  # training does not see the cohort: the same weights
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-5)
    written = load_run(out)
    assert written.config.model.score_norm == "s-norm"
    assert written.threshold == pytest.approx(trained["threshold"], abs=1e-4)
