"""experiments/joint_bayes.py: the Joint Bayesian score is the log-likelihood ratio of its
two Gaussians, its covariances are the pooled ones, and the validation halves never score a
pair with a person it was fitted on."""

import pytest
import torch
from torch.distributions import MultivariateNormal

from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.api import open_run_data
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..helpers import script
from ..training.test_distill import IDENTITY
from ..training.test_training import tiny


@pytest.fixture
def jb():
    return script("experiments", "joint_bayes")


def test_the_score_ranks_pairs_by_the_log_likelihood_ratio(jb):
    g = torch.Generator().manual_seed(0)
    d = 3
    a, b = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g)
    model = {
        "centre": torch.randn(d, generator=g, dtype=torch.float64),
        "s_mu": a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64),
        "s_eps": (b @ b.T).double() + 0.1 * torch.eye(d, dtype=torch.float64),
    }
    h1, h2 = torch.randn(5, d, generator=g), torch.randn(5, d, generator=g)
    total = model["s_mu"] + model["s_eps"]
    same = torch.cat([torch.cat([total, model["s_mu"]], 1), torch.cat([model["s_mu"], total], 1)])
    diff = torch.block_diag(total, total)
    z = torch.cat([h1, h2], 1).double() - torch.cat([model["centre"]] * 2)
    llr = MultivariateNormal(torch.zeros(2 * d, dtype=torch.float64), same).log_prob(z)
    llr = llr - MultivariateNormal(torch.zeros(2 * d, dtype=torch.float64), diff).log_prob(z)
    got = jb.scores(model, h1, h2)
    # -z^T M z is twice the log-likelihood ratio less a constant: the differences agree.
    torch.testing.assert_close(got - got[0], 2 * (llr - llr[0]))


def test_the_covariances_are_the_pooled_within_person_one_and_that_of_the_means(jb):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(9, 2, generator=g)
    classes = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3])  # person 3 has one face
    got = jb.fit(x, classes, ridge=0.0)
    xc = x.double() - x.double().mean(0)
    within, means = torch.zeros(2, 2, dtype=torch.float64), []
    for c in range(4):
        faces = xc[classes == c]
        means.append(faces.mean(0))
        if len(faces) > 1:
            r = faces - faces.mean(0)
            within += r.T @ r
    means = torch.stack(means)
    torch.testing.assert_close(got["s_eps"], within / (8 - 3))  # 8 faces of 3 people
    torch.testing.assert_close(got["s_mu"], means.T @ means / 4)
    ridged = jb.fit(x, classes, ridge=1.0)["s_eps"]
    eye = torch.eye(2, dtype=torch.float64)
    torch.testing.assert_close(ridged, got["s_eps"] + got["s_eps"].diagonal().mean() * eye)


def test_the_halves_fit_on_people_whose_pairs_are_never_scored(jb, lfw_like, tmp_path):
    cfg = tiny(lfw_like, *IDENTITY)
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    val_data, _ = open_run_data(load_run(tmp_path / "run"))
    rows, classes, keep = jb.validation_halves(val_data)
    fitted = {val_data.paths[int(r)].parent.name for r in rows}
    scored = [p for p, k in zip(val_data.val.pairs, keep.tolist(), strict=True) if k]
    assert fitted and scored
    assert not fitted & {n for p in scored for n in p.people}
    assert len(classes) == len(rows) and len(set(classes.tolist())) == len(fitted)
