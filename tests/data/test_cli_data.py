import json

import pytest
from PIL import Image

from siamese_faces.cli import main

from ..helpers import REAL_DATA, needs_lfw


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_json_and_grid(lfw_like, tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "data",
        "stats",
        "--data",
        str(lfw_like),
        "--json",
        "--grid",
        str(tmp_path / "g.png"),
    )
    assert code == 0
    s = json.loads(out)
    assert (s["people"], s["images"], s["overlap_people"]) == (9, 16, 0)
    assert s["train"]["people"] == 6 and s["train"]["images"] == 11
    assert (s["train"]["pairs_same"], s["train"]["pairs_different"]) == (4, 4)
    assert (s["test"]["people"], s["test"]["images"]) == (3, 5)
    # TRAIN_PEOPLE: Dan_D and Fay_F have one photo each, Alice_A the most (3)
    assert s["train"]["people_with_one_image"] == 2
    assert s["train"]["most_images"][0] == [3, "Alice_A"]
    assert Image.open(tmp_path / "g.png").size[0] > 300


def test_stats_text(lfw_like, capsys):
    code, out, _ = run(capsys, "data", "stats", "--data", str(lfw_like), "--grid", "")
    assert code == 0 and "disjoint" in out and "people" in out


def test_overlap_is_an_error_unless_allowed(lfw_like, capsys):
    (lfw_like / "pairsDevTest.txt").write_text("1\nAlice_A\t1\t2\nGus_G\t1\tHal_H\t1\n")
    code, _, err = run(capsys, "data", "stats", "--data", str(lfw_like), "--grid", "")
    assert code == 2 and "--allow-overlap" in err
    code, out, _ = run(
        capsys, "data", "stats", "--data", str(lfw_like), "--grid", "", "--json", "--allow-overlap"
    )
    assert code == 0 and json.loads(out)["overlap_people"] == 1


def test_bad_pairs_file_is_one_clear_line(lfw_like, capsys):
    (lfw_like / "pairsDevTrain.txt").write_text("1\nAlice_A\t1\nBob_B\t1\tCarol_C\t1\n")
    code, _, err = run(capsys, "data", "split", "--data", str(lfw_like))
    assert code == 2 and "pairsDevTrain.txt:2" in err and "Traceback" not in err


def test_split_saves_json(lfw_like, tmp_path, capsys):
    out_file = tmp_path / "split.json"
    code, out, _ = run(
        capsys, "data", "split", "--data", str(lfw_like), "--out", str(out_file), "--json"
    )
    assert code == 0 and json.loads(out)["overlap_people"] == 0
    assert json.loads(out_file.read_text())["rule"] == "people"


def test_split_flags_are_the_settings_names_and_old_spellings_still_work(lfw_like, capsys):
    data = ["data", "split", "--data", str(lfw_like), "--json"]
    new = run(capsys, *data, "--split", "people", "--val-fraction", "0.5", "--split-seed", "3")
    old = run(capsys, *data, "--rule", "people", "--fraction", "0.5", "--seed", "3")
    assert new[0] == old[0] == 0 and json.loads(new[1]) == json.loads(old[1])
    counts = json.loads(new[1])
    assert (counts["fraction"], counts["seed"]) == (0.5, 3)
    assert json.loads(run(capsys, *data, "--split", "letters")[1])["rule"] == "letters"
    help_text = run_help(capsys, "data", "split")
    assert "--val-fraction" in help_text and "--fraction" not in help_text  # aliases hidden


def run_help(capsys, *argv) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_cache_skip_bad_images_reports_them(lfw_like, capsys):
    (lfw_like / "lfw2" / "Bob_B" / "Bob_B_0002.jpg").write_bytes(b"")
    code, _, err = run(capsys, "data", "cache", "--data", str(lfw_like), "--size", "16")
    assert code == 2 and "Bob_B_0002.jpg" in err
    assert err.rstrip().endswith(
        "Or pass --skip-bad-images to leave it out; what is left out is reported."
    )
    code, out, _ = run(
        capsys,
        "data",
        "cache",
        "--data",
        str(lfw_like),
        "--size",
        "16",
        "--skip-bad-images",
        "--json",
    )
    result = json.loads(out)
    assert code == 0 and result["images"] == 15 and "Bob_B_0002.jpg" in result["skipped"][0][0]


def test_every_command_has_help(capsys):
    for argv in (
        ["--help"],
        ["data", "--help"],
        ["data", "stats", "--help"],
        ["data", "split", "--help"],
        ["data", "cache", "--help"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        assert "usage" in capsys.readouterr().out


@needs_lfw
def test_real_data_stats(capsys):
    code, out, _ = run(capsys, "data", "stats", "--data", str(REAL_DATA), "--json", "--grid", "")
    s = json.loads(out)
    # All of LFW-a: View 1's 3,095 pairs-file people plus the other 2,654 ("rest").
    assert (s["people"], s["images"], s["overlap_people"]) == (5749, 13233, 0)
    assert (s["rest"]["people"], s["rest"]["images"]) == (2654, 3807)
    assert (s["train"]["people"], s["train"]["images"]) == (2132, 6685)
    assert (s["train"]["pairs_same"], s["train"]["pairs_different"]) == (1100, 1100)
    assert (s["test"]["people"], s["test"]["images"]) == (963, 2741)
    assert (s["test"]["pairs_same"], s["test"]["pairs_different"]) == (500, 500)
    assert s["train"]["people_with_one_image"] == 1187
    assert s["train"]["most_images"] == [
        [530, "George_W_Bush"],
        [236, "Colin_Powell"],
        [144, "Tony_Blair"],
    ]


def test_the_grid_path_printed_is_the_file_written(lfw_like, tmp_path, capsys):
    folder = tmp_path / "figs"
    folder.mkdir()
    for given, written in (
        (folder, folder / "data-examples.png"),
        (tmp_path / "g", tmp_path / "g.png"),
    ):
        code, out, _ = run(capsys, "data", "stats", "--data", str(lfw_like), "--grid", str(given))
        assert code == 0 and f"example grid: {written}" in out and written.is_file()


def test_data_pairs_writes_both_files_and_a_summary(tmp_path, capsys):
    from ..helpers import write_people

    tree = tmp_path / "tree"
    write_people(tree, {f"P{k:02d}": 1 + k % 4 for k in range(30)}, size=8)
    out = tmp_path / "pairs"
    argv = ["data", "pairs", "--data", str(tree), "--out", str(out), "--seed", "2"]
    code, stdout, _ = run(capsys, *argv, "--test-fraction", "0.3", "--pairs", "20", "--json")
    summary = json.loads(stdout)
    assert code == 0 and summary["seed"] == 2 and summary["test_fraction"] == 0.3
    assert summary["train"]["same"] == 20 and summary["test"]["same"] == 9  # 20 x 0.3 / 0.7
    assert (out / "pairsDevTrain.txt").read_text().startswith("20\n")
    # Then the tree trains with those files like any LFW folder: data split reads them.
    code, stdout, _ = run(
        capsys,
        "data",
        "split",
        "--data",
        str(tree),
        "--pairs-train",
        str(out / "pairsDevTrain.txt"),
        "--json",
    )
    assert code == 0 and json.loads(stdout)["overlap_people"] == 0


def test_data_pairs_on_too_few_people_fails_clearly(tmp_path, capsys):
    from ..helpers import write_people

    write_people(tmp_path / "tree", {"A": 2, "B": 1}, size=8)
    code, _, err = run(
        capsys, "data", "pairs", "--data", str(tmp_path / "tree"), "--out", str(tmp_path / "p")
    )
    assert code == 2 and "too few for same and different pairs" in err
    assert not (tmp_path / "p").exists()  # nothing half-written
