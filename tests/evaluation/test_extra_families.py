"""experiments/extra_families.py: its recipe side is the descriptor training fits, and each
family's grid holds the recipe's rule."""

import pytest
import torch

from siamese_faces.data.rundata import batch_images
from siamese_faces.evaluation.api import validation_data
from siamese_faces.evaluation.runs import load_run
from siamese_faces.models.descriptors import make_descriptor

from ..helpers import script
from ..models.test_descriptors import fitted_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return fitted_run(tmp_path_factory, "families")[0].path


def test_the_recipe_side_repeats_the_runs_own_fit_and_each_family_can_only_add(trained):
    families = script("experiments", "extra_families")
    results = load_run(trained).results
    row = families.screen(str(trained), ["tt", "lpq", "stage2"])
    assert row["recipe"]["shares"]["histograms"] == pytest.approx(results["descriptor_weight"])
    assert row["recipe"]["val auc"] == pytest.approx(results["descriptor_val_auc"], abs=1e-4)
    for name in ("tt", "lpq", "stage2"):
        shares = row[name]["shares"]
        assert set(shares) == {"tower", "histograms", name}
        assert sum(shares.values()) == pytest.approx(1.0)
        # the grid holds the recipe's rule (the family's share 0): never below it on validation
        assert row[name]["val auc"] >= row["recipe"]["val auc"] - 1e-9
        assert row[f"{name} instead"]["shares"].keys() == {"tower", name}


def test_its_families_read_what_they_name(trained):
    families = script("experiments", "extra_families")
    run = load_run(trained)
    data = validation_data(run)
    rows = torch.arange(3)
    lit = make_descriptor(32, 4, 8, (1,), ("tan-triggs",))
    faces = batch_images(data.images, rows, run.device)  # as the screen reads them
    tt = families.family_features(run, data.images, rows, "tt")
    torch.testing.assert_close(tt, lit.features(faces))
    # a 32-pixel face: the stem halves it to 16, the second stage to 8 (8 channels)
    assert families.family_features(run, data.images, rows, "stage2").shape == (3, 8 * 8 * 8)
    lpq = families.family_features(run, data.images, rows, "lpq")
    # 256 codes a cell, one 16-pixel cell of the 26-pixel valid area, face and mirror
    assert lpq.shape == (3, 2 * 256) and torch.allclose(lpq.square().sum(1), torch.tensor(2.0))
