"""experiments/descriptor_families.py: its joined side is the descriptor training fits."""

import pytest

from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..helpers import script
from ..training.test_distill import IDENTITY
from ..training.test_training import tiny


@pytest.fixture
def families():
    return script("experiments", "descriptor_families")


def test_the_joined_side_repeats_the_runs_own_fit_and_choice(lfw_like, tmp_path, families):
    cfg = tiny(
        lfw_like, *IDENTITY, "data.size=32", "model.descriptor=hog-lbp", "model.descriptor_dim=4"
    )
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    results = load_run(tmp_path / "run").results
    row = families.screen(str(tmp_path / "run"))
    assert row["joined"]["shares"]["joined"] == pytest.approx(results["descriptor_weight"])
    assert row["joined"]["val auc"] == pytest.approx(results["descriptor_val_auc"], abs=1e-4)
    apart = row["apart"]["shares"]
    assert set(apart) == {"tower", "hog", "lbp"}
    assert sum(apart.values()) == pytest.approx(1.0) and apart["tower"] >= 0.2 - 1e-9
    # the two shares' grid holds the tower alone (both at 0): never below it on validation
    assert row["apart"]["val auc"] >= results["descriptor_val_auc_tower"] - 1e-4
