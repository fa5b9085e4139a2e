import json

import pytest

from siamese_faces.data.lfw import parse_pairs
from siamese_faces.data.source import open_source
from siamese_faces.data.splits import load_split, make_split, split_letters, split_people

from ..helpers import REAL_DATA, needs_lfw


def synthetic_pairs(tmp_path, n=60):
    """n same pairs of n people, n different pairs chaining them into small components."""
    same = [f"P{i:03d}\t1\t2" for i in range(n)]
    diff = [f"P{i:03d}\t1\tP{(i + 1) if i % 3 != 2 else i - 2:03d}\t2" for i in range(n)]
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join([str(n), *same, *diff]) + "\n")
    return parse_pairs(path)


def people(pairs, idx):
    return {n for i in idx for n in pairs.pairs[i].people}


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("fraction", [0.2, 0.3, 0.5])
def test_people_split_never_shares_a_person(tmp_path, seed, fraction):
    pairs = synthetic_pairs(tmp_path)
    split = split_people(pairs, fraction, seed)
    assert not people(pairs, split.train) & people(pairs, split.val)
    assert split.overlap_people == ()
    assert sorted(split.train + split.val) == list(range(len(pairs.pairs)))
    assert abs(len(split.val) / len(pairs.pairs) - fraction) <= 0.05  # components of 6 pairs


def test_people_split_same_seed_same_split(tmp_path):
    pairs = synthetic_pairs(tmp_path)
    assert split_people(pairs, 0.3, 5) == split_people(pairs, 0.3, 5)
    assert split_people(pairs, 0.3, 5).val != split_people(pairs, 0.3, 6).val


def test_bad_fraction_and_rule(tmp_path):
    pairs = synthetic_pairs(tmp_path)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_people(pairs, 1.5)
    with pytest.raises(ValueError, match="choose one of"):
        make_split(pairs, "alphabet")


def test_letters_rule_counts_people_on_both_sides(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("2\nAnn\t1\t2\nZed\t1\t2\nAnn\t1\tZed\t3\nZoe\t1\tYan\t1\n")
    split = split_letters(parse_pairs(path))
    assert split.val == (0, 2) and split.train == (1, 3)
    assert split.overlap_people == ("Zed",)  # the study assumed this could not happen


def test_saved_split_round_trips_and_checks_its_pairs_file(tmp_path):
    pairs = synthetic_pairs(tmp_path)
    split = split_people(pairs, 0.3, 2)
    split.save(tmp_path / "split.json", pairs)
    assert load_split(tmp_path / "split.json", pairs) == split
    saved = json.loads((tmp_path / "split.json").read_text())
    assert saved["val"]["pairs"] == len(split.val) and len(saved["val_pairs"]) == len(split.val)
    other = tmp_path / "other.txt"
    other.write_text("1\nA\t1\t2\nA\t1\tB\t1\n")
    with pytest.raises(ValueError, match="make a new split"):
        load_split(tmp_path / "split.json", parse_pairs(other))


@needs_lfw
def test_letters_split_reproduces_the_study_on_real_data():
    pairs = open_source(REAL_DATA).require_train()
    counts = split_letters(pairs).counts(pairs)
    assert (counts["train"]["same"], counts["train"]["different"]) == (757, 721)
    assert (counts["val"]["same"], counts["val"]["different"]) == (343, 379)
    assert counts["overlap_people"] > 0  # the letter rule is not person-disjoint


@needs_lfw
def test_people_split_on_real_data_hits_the_fraction_with_balance():
    pairs = open_source(REAL_DATA).require_train()
    counts = split_people(pairs, 0.3, 0).counts(pairs)
    assert counts["overlap_people"] == 0
    assert abs(counts["val_fraction"] - 0.3) < 0.01
    assert abs(counts["val"]["same"] - counts["val"]["different"]) <= 10
