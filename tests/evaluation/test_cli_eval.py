"""evaluate, verify and oneshot on a tiny trained run."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from siamese_faces.cli import main
from siamese_faces.config import Config, apply_overrides
from siamese_faces.data.lfw import DuplicatePairsWarning
from siamese_faces.data.rundata import prepare
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..training.test_distill import IDENTITY
from ..training.test_training import TINY
from .test_metrics import REPORT_KEYS

VERIFY = ["verify", "--align", "none"]  # the tiny runs' synthetic faces are no faces to find


@pytest.fixture
def run(lfw_like, tmp_path):
    cfg = apply_overrides(Config(), [f"data.dir={lfw_like}", *TINY, "train.epochs=2"])
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    return tmp_path / "run"


def test_evaluate_writes_every_metric_and_the_scores(run, capsys):
    assert main(["evaluate", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("at_model_threshold", "at_val_threshold"):
        assert REPORT_KEYS <= set(out[key])
    with open(run / "scores-pairsDevTest.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    # Pairs past the parser are image files: the scores name them relative to the tree.
    assert list(rows[0])[:4] == ["name1", "image1", "name2", "image2"]
    assert (rows[0]["name1"], rows[0]["image1"]) == ("Gus_G", "Gus_G/Gus_G_0001.jpg")


def test_view2_pairs_get_the_ten_fold_protocol(run, lfw_like, capsys):
    lines = ["10 1"] + ["Gus_G\t1\t2\nGus_G\t1\tHal_H\t1" for _ in range(10)]
    (lfw_like / "pairs.txt").write_text("\n".join(lines) + "\n")
    with pytest.warns(DuplicatePairsWarning):  # the same two pairs in every fold
        assert main(["evaluate", str(run), "--pairs", str(lfw_like / "pairs.txt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["ten_fold"]["fold_acc"]) == 10


@pytest.mark.parametrize(
    "mode, size, ext",
    [("L", (40, 40), ".jpg"), ("RGB", (77, 51), ".png"), ("RGBA", (300, 200), ".png")],
)
def test_verify_any_image(run, lfw_like, tmp_path, capsys, mode, size, ext):
    src = lfw_like / "lfw2" / "Gus_G" / "Gus_G_0001.jpg"
    other = tmp_path / f"other{ext}"
    Image.open(src).convert(mode).resize(size).save(other)
    assert main([*VERIFY, str(run), str(src), str(other), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out["same"], bool) and np.isfinite(out["score"])
    assert out["threshold"] == 0.5


def test_verify_same_file_scores_highest(run, lfw_like, capsys):
    a = lfw_like / "lfw2" / "Gus_G" / "Gus_G_0001.jpg"
    b = lfw_like / "lfw2" / "Hal_H" / "Hal_H_0001.jpg"
    main([*VERIFY, str(run), str(a), str(a), "--json"])
    same = json.loads(capsys.readouterr().out)["score"]
    main([*VERIFY, str(run), str(a), str(b), "--json"])
    assert same >= json.loads(capsys.readouterr().out)["score"]


def test_verify_csv_batch(run, lfw_like, tmp_path, capsys):
    lfw2 = lfw_like / "lfw2"
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        f"image1,image2\n{lfw2}/Gus_G/Gus_G_0001.jpg,{lfw2}/Gus_G/Gus_G_0002.jpg\n"
        f"{lfw2}/Gus_G/Gus_G_0001.jpg,{lfw2}/Hal_H/Hal_H_0001.jpg\n"
    )
    assert (
        main(
            [
                *VERIFY,
                str(run),
                "--csv",
                str(pairs),
                "--out",
                str(tmp_path / "o.csv"),
            ]
        )
        == 0
    )
    with open(tmp_path / "o.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and set(rows[0]) == {"image1", "image2", "score", "same"}


def test_verify_bad_file_is_a_clear_error(run, tmp_path, capsys):
    (tmp_path / "x.jpg").write_bytes(b"")
    assert (
        main(
            [
                *VERIFY,
                str(run),
                str(tmp_path / "x.jpg"),
                str(tmp_path / "x.jpg"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    # The fix is the file's: verify has no --skip-bad-images to offer (it once said to pass it).
    assert "x.jpg" in err and "replace the file" in err and "--skip-bad-images" not in err


def test_a_run_trained_on_a_relative_path_says_where_to_run_it(
    lfw_like, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(lfw_like.parent)
    cfg = apply_overrides(Config(), [f"data.dir={lfw_like.name}", *TINY, "train.epochs=1"])
    fit(cfg, prepare(cfg), tmp_path / "rel", DistContext())
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    # Once blamed --data ("--data must name the folder"), which names other test images.
    assert main(["oneshot", str(tmp_path / "rel"), "--data", str(lfw_like)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'rel'}: its training data {lfw_like.name} " in err
    assert "run this from the folder the run was trained from, as its path is relative" in err
    monkeypatch.chdir(lfw_like.parent)
    assert main(["oneshot", str(tmp_path / "rel"), "--ways", "2", "--trials", "5"]) == 0


def test_oneshot_is_reproducible(run, capsys):
    args = ["oneshot", str(run), "--ways", "2", "--trials", "30", "--seed", "1", "--json"]
    assert main(args) == 0
    a = json.loads(capsys.readouterr().out)
    main(args)
    assert json.loads(capsys.readouterr().out) == a
    assert a["ways"] == 2 and a["trials"] == 30 and 0 <= a["acc"] <= 1


def test_scores_saved_before_pairs_were_files_are_scored_again(run, capsys):
    from siamese_faces.evaluation.api import saved_evaluation
    from siamese_faces.evaluation.runs import load_run

    assert main(["evaluate", str(run), "--json"]) == 0
    capsys.readouterr()
    loaded = load_run(run)
    assert saved_evaluation(loaded).rows[0]["image1"].endswith(".jpg")
    scores = run / "scores-pairsDevTest.csv"
    scores.write_text("name1,index1,name2,index2,same,fold,score\nGus_G,1,Gus_G,2,1,0,0.5\n")
    assert saved_evaluation(loaded) is None  # the report then evaluates again


def test_evaluate_another_folder_needs_no_training_file(run, lfw_like, tmp_path, capsys):
    # Another folder with a test file only (and, a trap, a training file of other pairs):
    # scoring reads neither that training file nor the run's split of its own.
    import shutil

    other = tmp_path / "other"
    shutil.copytree(lfw_like / "lfw2", other / "lfw2")
    shutil.copy(lfw_like / "pairsDevTest.txt", other / "pairsDevTest.txt")
    assert main(["evaluate", str(run), "--data", str(other), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["at_model_threshold"]["pairs"] == 4
    (other / "pairsDevTrain.txt").write_text("1\nAlice_A\t1\t2\nAlice_A\t1\tBob_B\t1\n")
    assert main(["evaluate", str(run), "--data", str(other), "--json"]) == 0
    capsys.readouterr()


def test_scoring_the_runs_own_training_people_is_refused(run, lfw_like, capsys):
    pairs = lfw_like / "trained.txt"
    pairs.write_text("1\nAlice_A\t1\t2\nBob_B\t1\tCarol_C\t1\n")
    assert main(["evaluate", str(run), "--pairs-test", str(pairs)]) == 2
    assert "trained this run" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--pairs-test", str(pairs), "--allow-overlap"]) == 0


def test_the_same_pairs_file_over_other_images_is_not_the_runs_own(run, lfw_like, tmp_path):
    # A copy of the test people with other pixels (e.g. displaced photos) and the same
    # pairsDevTest.txt: its evaluation must not be taken for the run's own by the report.
    import shutil

    from siamese_faces.evaluation.api import saved_evaluation
    from siamese_faces.evaluation.runs import load_run

    from ..helpers import TEST_PEOPLE, write_people

    other = tmp_path / "other"
    write_people(other / "lfw2", TEST_PEOPLE, size=48)  # same names, other images
    shutil.copy(lfw_like / "pairsDevTest.txt", other / "pairsDevTest.txt")
    assert main(["evaluate", str(run), "--data", str(other), "--json"]) == 0
    assert saved_evaluation(load_run(run)) is None
    assert main(["evaluate", str(run), "--json"]) == 0
    assert saved_evaluation(load_run(run)) is not None


def test_scores_saved_by_an_older_way_of_embedding_are_scored_again(run, capsys):
    from siamese_faces.evaluation.api import SCORING, saved_evaluation
    from siamese_faces.evaluation.runs import load_run

    assert main(["evaluate", str(run), "--json"]) == 0
    capsys.readouterr()
    loaded = load_run(run)
    saved_file = run / "eval-pairsDevTest.json"
    saved = json.loads(saved_file.read_text())
    assert saved["depends_on"]["scoring"] == SCORING
    assert saved_evaluation(loaded) is not None
    saved["depends_on"]["scoring"] = SCORING - 1  # as saved before BatchNorm was folded
    saved_file.write_text(json.dumps(saved))
    assert saved_evaluation(loaded) is None


@pytest.mark.parametrize(
    "recipe",
    [
        [],
        # the default's fitted stages: both families of histograms, whitening, S-norm, flips
        [
            *IDENTITY,
            "data.size=32",
            "model.descriptor=hog-lbp",
            "model.descriptor_dim=4",
            "model.descriptor_illumination=none,tan-triggs",
            "model.wccn=0.1",
            "model.score_norm=s-norm",
            "model.flip_tta=true",
            "model.threshold_rule=smoothed-accuracy",
        ],
    ],
    ids=["tiny", "fitted-stages"],
)
def test_training_saves_the_evaluation_evaluate_would_compute(lfw_like, tmp_path, recipe):
    # The benchmark's ROC and the report read what training saved instead of scoring the test
    # pairs again: it must be what evaluate computes from the saved weights, to the bit.
    from siamese_faces.evaluation.api import evaluate, open_run_data, saved_evaluation
    from siamese_faces.evaluation.runs import load_run

    cfg = apply_overrides(Config(), [f"data.dir={lfw_like}", *TINY, "train.epochs=2", *recipe])
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    loaded = load_run(tmp_path / "run")
    saved = saved_evaluation(loaded)
    assert saved is not None  # current: these weights, these pairs, this way of embedding
    fresh = evaluate(loaded, *open_run_data(loaded))
    assert saved.result == json.loads(json.dumps(fresh.result))
    assert [float(r["score"]) for r in saved.rows] == [r["score"] for r in fresh.rows]
    assert [r["image1"] for r in saved.rows] == [r["image1"] for r in fresh.rows]
