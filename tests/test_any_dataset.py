"""Any identity-folder tree, no pairs files: train, run, evaluate and report make them."""

import json
import os

import pytest
from PIL import Image

from siamese_faces.cli import main
from siamese_faces.data.lfw import parse_pairs
from siamese_faces.evaluation.api import open_run_data
from siamese_faces.evaluation.runs import load_run

from .helpers import REAL_DATA, needs_lfw, write_people
from .training.test_training import TINY

SETTINGS = [a for s in TINY + ["train.epochs=2"] for a in ("--set", s)]


def people(prefix: str, n: int) -> dict[str, int]:
    return {f"{prefix}{k:02d}": (1, 2, 3, 4)[k % 4] for k in range(n)}


def test_train_then_evaluate_trees_without_pairs_files(tmp_path, capsys):
    tree, other, run = tmp_path / "tree", tmp_path / "other", tmp_path / "run"
    write_people(tree, people("P", 40))
    write_people(other, people("Q", 12))
    assert main(["train", "--data", str(tree), "--out", str(run), *SETTINGS]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines()[0].startswith(f"no pairs files beside {tree}: made ")
    assert out.startswith("done: best epoch ") and " of 2, val/acc " in out
    assert " test/acc " in out and out.rstrip().endswith(f" s -> {run}")
    data = json.loads((run / "config.json").read_text())["data"]
    assert data["pairs_train"] == str(run / "pairs" / "pairsDevTrain.txt")
    assert "test/acc" in json.loads((run / "results.json").read_text())
    # Another tree, scored by the run: a test file of all its (unseen) people, no training file.
    assert main(["evaluate", str(run), "--data", str(other), "--json"]) == 0
    out, err = capsys.readouterr()
    made = run / "pairs-other" / "pairsDevTest.txt"
    assert f"no test pairs file beside {other}" in err and made.is_file()
    result = json.loads(out)
    assert result["pairs_file"] == str(made)
    assert parse_pairs(made).people <= set(people("Q", 12))


@needs_lfw
def test_main_job_on_200_lfw_people_without_pairs_files(tmp_path, capsys):
    tree = tmp_path / "lfw200"
    tree.mkdir()
    for name in sorted(os.listdir(REAL_DATA / "lfw2"))[:200]:
        (tree / name).symlink_to(REAL_DATA / "lfw2" / name)
    out = tmp_path / "main"
    args = ["run", "--data", str(tree), "--out", str(out), "--ways", "5", "--trials", "50"]
    assert main(args + SETTINGS) == 0
    err = capsys.readouterr().err
    assert "no pairs files beside" in err.split("[2/4")[0]  # said before the analysis
    assert (out / "report" / "index.html").is_file()
    # Its made test file is named pairsDevTest.txt, but it is not LFW's: the report says so.
    report = (out / "report" / "report.md").read_text()
    assert "The 2019 study's best on these pairs" not in report
    assert "(main) compares with them only loosely" in report
    run = load_run(out)
    val_data, data = open_run_data(run)
    tested = data.source.test.people
    assert len(tested) > 20 and not val_data.trained_people() & tested
    assert not {n for p in val_data.val.pairs for n in p.people} & tested
    # Photos of any framing: verify finds and aligns the faces (a template measured once on
    # the run's own training images, saved beside it).
    pytest.importorskip("dlib", reason="alignment needs the [align] extra, in [test]")
    photo = REAL_DATA / "lfw2" / "Abdullah_Gul" / "Abdullah_Gul_0013.jpg"
    moved = tmp_path / "moved.jpg"
    canvas = Image.new("RGB", (520, 420), (30, 120, 200))
    canvas.paste(Image.open(photo).convert("RGB").resize((160, 160)).rotate(12), (320, 40))
    canvas.save(moved)
    assert main(["verify", str(out), str(photo), str(moved), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["aligned"] is True and (out / "align.json").is_file()
    template = json.loads((out / "align.json").read_text())
    assert template["frame"] == [250, 250] and template["faces_found"] > 100
