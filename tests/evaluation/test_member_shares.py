"""experiments/member_shares.py: its members' mean is the verdict training chose, and its
held-out halves split the validation people."""

import numpy as np
import pytest
import torch

from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.api import validation_data
from siamese_faces.evaluation.predict import embed_rows
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..helpers import script
from ..training.test_distill import IDENTITY
from ..training.test_training import tiny


@pytest.fixture
def shares():
    return script("experiments", "member_shares")


def test_the_members_mean_repeats_the_runs_own_choice(lfw_like, tmp_path, shares):
    cfg = tiny(
        lfw_like,
        *IDENTITY,
        "data.size=32",
        "model.members=2",
        "model.descriptor=hog-lbp",
        "model.descriptor_dim=4",
    )
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    results = load_run(tmp_path / "run").results
    row = shares.screen(str(tmp_path / "run"), split_seed=0)
    mean = row["mean"]["shares"]
    assert mean["histograms"] == pytest.approx(results["descriptor_weight"])
    assert mean["member0"] == mean["member1"]
    assert row["mean"]["val auc"] == pytest.approx(results["descriptor_val_auc"], abs=1e-4)
    # pair by pair, the mean rule's score is the fitted net's cosine of the two faces
    run = load_run(tmp_path / "run")
    alone, data = shares.tower_alone(str(tmp_path / "run"))
    cos = shares.cosines(alone, data)["val"]
    exact = next(g for g in shares.mean_grid(2) if g["histograms"] == mean["histograms"])
    mixed = sum(w * cos[k] for k, w in exact.items())  # the row's shares are rounded
    rows, ia, ib = data.val.faces()
    h = embed_rows(run.net.eval(), data.images, rows, run.device, run.bf16)
    assert torch.allclose(mixed, (h[ia] * h[ib]).sum(1), atol=1e-4)
    own = row["own"]["shares"]
    assert set(own) == {"member0", "member1", "histograms"}
    assert sum(own.values()) == pytest.approx(1.0)
    assert len(row["own"]["held-out half auc"]) == 2 == len(row["mean"]["held-out half acc"])


def test_the_halves_hold_pairs_of_people_on_one_side_only(lfw_like, tmp_path, shares):
    cfg = tiny(lfw_like, "data.size=32")
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    data = validation_data(load_run(tmp_path / "run"))
    first, second = shares.people_halves(data, split_seed=3)
    assert not (first & second).any() and first.any() and second.any()
    people = [set(), set()]
    for mask, seen in zip((first, second), people, strict=True):
        for i in np.flatnonzero(mask):
            seen.update(data.val.pairs[i].people)
    assert people[0] and people[1] and not people[0] & people[1]


def test_the_grid_of_shares_sums_to_one():
    grid = script("experiments", "member_shares").member_grid(2, step=4)
    assert len(grid) == 15  # (p0, p1) with p0 + p1 <= 4
    assert all(sum(g.values()) == pytest.approx(1.0) and min(g.values()) >= 0 for g in grid)
    assert {"member0": 0.5, "member1": 0.0, "histograms": 0.5} in grid
