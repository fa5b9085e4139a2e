"""experiments/validation_negatives.py: each way refits and thresholds on the validation
pairs drawn that way, and the pairs file's people are counted as they are."""

import pytest

from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation import api
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..helpers import script
from ..training.test_distill import IDENTITY
from ..training.test_training import tiny


@pytest.fixture(scope="module")
def negatives():
    return script("experiments", "validation_negatives")


def different_pairs(pairs) -> list:
    return [(p.image1, p.image2) for p in pairs.pairs if not p.same]


def test_each_way_thresholds_on_its_own_pairs_and_by_image_gives_the_run_back(
    lfw_like, tmp_path, negatives, monkeypatch
):
    cfg = tiny(lfw_like, *IDENTITY, "data.val_identity_pairs=40", "data.val_fraction=0.5")
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    seen, evaluate = [], api.evaluate

    def recorded(run, val_data, data):
        seen.append(val_data.val)
        return evaluate(run, val_data, data)

    monkeypatch.setattr(negatives, "evaluate", recorded)
    ways = ("images", "people")
    rows = [negatives.score(str(tmp_path / "run"), way) for way in ways]
    assert rows[0]["threshold"] == pytest.approx(load_run(tmp_path / "run").threshold)
    assert {r["trained_with"] for r in rows} == {"images"}
    formed = ["data.val_identity_pairs=40", "data.val_fraction=0.5"]
    for way, pairs in zip(ways, seen, strict=True):  # each thresholded on its way's pairs
        drawn = prepare(tiny(lfw_like, *IDENTITY, *formed, f"data.val_identity_negatives={way}"))
        assert different_pairs(drawn.val) == different_pairs(pairs)
    assert different_pairs(seen[0]) != different_pairs(seen[1])


def test_the_pairs_files_people_are_counted_against_both_draws(lfw_like, negatives):
    counted = negatives.pair_people(str(lfw_like / "pairsDevTrain.txt"))
    # by hand (tests/helpers.py): the different pairs name people of 3, 1, 2, 1, 2, 2, 1, 1
    # images; the nine people have 16 images, 3^2 + 5 * 2^2 + 3 * 1^2 = 32 summed squared
    assert counted["different_pairs"] == 4
    assert counted["images_of_their_people"] == pytest.approx(13 / 8)
    assert counted["images_of_a_person_drawn_alike"] == pytest.approx(16 / 9)
    assert counted["images_of_an_images_person"] == pytest.approx(32 / 16)
