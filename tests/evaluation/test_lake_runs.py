"""Lake's official one-shot runs: the format read exactly, the scorer against a slow loop."""

import json

import pytest
import torch
from PIL import Image

from siamese_faces.cli import main
from siamese_faces.data.omniglot import RunsFormatError, parse_runs
from siamese_faces.evaluation.api import oneshot_runs
from siamese_faces.evaluation.runs import load_run

from ..helpers import face
from .test_cli_eval import run  # noqa: F401  (the tiny trained run fixture)

OMNIGLOT = __import__("pathlib").Path(__file__).resolve().parents[3] / "shared" / "omniglot"


def lake(tmp_path, runs=2, ways=4, answers=None):
    """``runs`` runs of ``ways`` characters, Lake's layout; item k is class answers[k]."""
    root = tmp_path / "all_runs"
    for r in range(1, runs + 1):
        name = f"run{r:02d}"
        for part in ("training", "test"):
            (root / name / part).mkdir(parents=True)
        lines = []
        for k in range(1, ways + 1):
            c = (answers or {}).get(k, (k * 3) % ways + 1)
            Image.fromarray(face(100 * r + k, 20)).save(
                root / name / "training" / f"class{k:02d}.png"
            )
            Image.fromarray(face(100 * r + c, 20)).save(root / name / "test" / f"item{k:02d}.png")
            lines.append(f"{name}/test/item{k:02d}.png {name}/training/class{c:02d}.png")
        (root / name / "class_labels.txt").write_text("\n".join(lines) + "\n")
    return root


def test_runs_are_parsed_exactly(tmp_path):
    runs = parse_runs(lake(tmp_path, runs=2, ways=4))
    assert [r.name for r in runs] == ["run01", "run02"]
    first = runs[0]
    assert [p.name for p in first.gallery] == [f"class{k:02d}.png" for k in range(1, 5)]
    assert [p.name for p in first.probes] == [f"item{k:02d}.png" for k in range(1, 5)]
    assert list(first.answers) == [(k * 3) % 4 for k in range(1, 5)]  # class c is index c-1


@pytest.mark.parametrize(
    "line, message",
    [
        ("run01/test/item01.png", "two paths"),
        ("run01/test/item01.png run01/training/class01.png extra", "two paths"),
        ("run01/test/item01.png run01/training/class99.png", "does not exist"),
        ("run01/test/item01.png run01/test/item02.png", "not a file under run01/training"),
        ("run01/test/item01.png ../run01/training/class01.png", "not a file under"),
        ("/etc/passwd run01/training/class01.png", "not a file under run01/test"),
    ],
)
def test_a_malformed_labels_file_names_its_line(tmp_path, line, message):
    root = lake(tmp_path, runs=1, ways=3)
    labels = root / "run01" / "class_labels.txt"
    lines = labels.read_text().splitlines()
    lines[1] = line
    labels.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunsFormatError, match=rf"class_labels\.txt:2: .*{message}"):
        parse_runs(root)


def test_a_folder_without_runs_says_what_to_pass(tmp_path):
    with pytest.raises(RunsFormatError, match="all_runs"):
        parse_runs(tmp_path)


def test_scorer_matches_a_slow_loop(run, tmp_path, capsys):  # noqa: F811
    loaded = load_run(run)
    root = lake(tmp_path, runs=3, ways=5)
    fast = oneshot_runs(loaded, root)
    correct = 0
    for r in parse_runs(root):
        for probe, answer in zip(r.probes, r.answers, strict=True):
            scores = [
                float(loaded.scores(*loaded.embed_files([probe, g]).split(1))[0]) for g in r.gallery
            ]
            correct += int(torch.tensor(scores).argmax()) == answer
    assert fast["trials"] == 15 and fast["ways"] == 5
    assert fast["correct"] == correct
    assert main(["oneshot", str(run), "--runs", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["correct"] == correct


@pytest.mark.skipif(not (OMNIGLOT / "all_runs").is_dir(), reason=f"no Omniglot at {OMNIGLOT}")
def test_the_official_runs_are_400_twenty_way_trials():
    runs = parse_runs(OMNIGLOT / "all_runs")
    assert len(runs) == 20
    assert all(len(r.gallery) == 20 and len(r.probes) == 20 for r in runs)
    assert all(sorted(r.answers) == list(range(20)) for r in runs)  # each class once a run
