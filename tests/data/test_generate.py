"""Pairs made for a dataset that has none: disjoint, balanced, seeded, readable as LFW's."""

import json

import pytest

from siamese_faces.data.generate import TooFewPeople, make_pairs, write_pairs
from siamese_faces.data.layout import DatasetError, open_dataset
from siamese_faces.data.lfw import parse_pairs, resolve_images
from siamese_faces.data.splits import make_split

from ..helpers import face, write_people


def tree(tmp_path, people=40, images=(1, 2, 3, 5)):
    """``people`` people, their image counts cycling through ``images``."""
    root = tmp_path / "tree"
    write_people(root, {f"P{k:03d}": images[k % len(images)] for k in range(people)}, size=8)
    return root


def written(tmp_path, root, **kw):
    dataset = open_dataset(root)
    out = tmp_path / "pairs"
    summary = write_pairs(dataset, out, kw.get("f", 0.2), kw.get("n", 0), kw.get("seed", 0))
    train, test = parse_pairs(out / "pairsDevTrain.txt"), parse_pairs(out / "pairsDevTest.txt")
    return dataset, summary, train, test


def test_sides_are_person_disjoint_balanced_and_resolve(tmp_path):
    dataset, summary, train, test = written(tmp_path, tree(tmp_path))
    assert not train.people & test.people
    for f in (train, test):
        assert f.num_same == f.num_different > 0
        assert all(p.same == (p.name1 == p.name2) for p in f.pairs)
        assert len({p.key for p in f.pairs}) == len(f.pairs)  # no pair twice
        resolve_images(f, dataset)  # every index names a file of the tree
    # 40 people, a fifth on the test side, as many of the one-image people as the others
    assert summary["test"]["people"] == 8 and summary["train"]["people"] == 32
    singles = {n for n, p in dataset.people.items() if len(p.images) == 1}
    assert len(singles & test.people) >= 1  # one-image people serve as different partners
    assert json.loads((tmp_path / "pairs" / "pairs-summary.json").read_text()) == summary


def test_seeded(tmp_path):
    root = tree(tmp_path)
    dataset = open_dataset(root)
    assert make_pairs(dataset, seed=3)[0].text() == make_pairs(dataset, seed=3)[0].text()
    assert make_pairs(dataset, seed=3)[0].text() != make_pairs(dataset, seed=4)[0].text()


def test_pair_count_sizes_the_files_in_proportion(tmp_path):
    dataset = open_dataset(tree(tmp_path, people=200))
    train, test = make_pairs(dataset, test_fraction=0.25, pair_count=60)
    assert len(train.same) == 60 and len(test.same) == 20  # 60 x 0.25 / 0.75
    assert not train.capped and not test.capped


def test_a_count_the_people_cannot_give_is_capped_and_said(tmp_path):
    dataset = open_dataset(tree(tmp_path, people=10, images=(2,)))  # one same pair a person
    train, _ = make_pairs(dataset, pair_count=1000)
    assert len(train.same) == 8 and train.capped  # 8 training people, one pair each


def test_the_training_side_splits_into_validation_people(tmp_path):
    # Different pairs stay within groups of people, so the people rule finds components.
    _, _, train, _ = written(tmp_path, tree(tmp_path, people=300))
    split = make_split(train, "people", 0.3, 0)
    assert 0.15 < len(split.val) / len(train.pairs) < 0.45
    val = {n for i in split.val for n in train.pairs[i].people}
    trained = {n for i in split.train for n in train.pairs[i].people}
    assert not val & trained


def test_too_few_people_is_a_clear_error(tmp_path):
    root = tmp_path / "few"
    write_people(root, {"A": 3, "B": 2, "C": 1}, size=8)
    with pytest.raises(TooFewPeople, match=r"few.*2 of its 3 people have two or more images"):
        make_pairs(open_dataset(root))


def test_nested_identities_and_unnumbered_files(tmp_path):
    # Omniglot's layout: Alphabet/characterNN/<any name>.png, indexed by place in name order.
    from PIL import Image

    root = tmp_path / "omni"
    for a in ("Greek", "Latin"):
        for c in range(1, 7):
            folder = root / a / f"character{c:02d}"
            folder.mkdir(parents=True)
            for k in range(3):
                Image.fromarray(face(c * 10 + k, 8)).save(folder / f"09{c:02d}_{k + 1:02d}.png")
    with pytest.raises(DatasetError, match="--depth 2"):
        open_dataset(root)  # two trees side by side: asked for, never guessed
    dataset = open_dataset(root, depth=2)
    assert dataset.layout == "nested" and len(dataset.people) == 12
    assert "Greek/character01" in dataset.people
    train, test = make_pairs(dataset, test_fraction=0.25)
    out = tmp_path / "pairs"
    (out).mkdir()
    (out / "t.txt").write_text(train.text())
    parsed = parse_pairs(out / "t.txt")
    files = resolve_images(parsed, dataset)
    for p, (f1, f2) in zip(parsed.pairs, files, strict=True):
        assert f1.parent.name == p.name1.split("/")[1] and f1.name.endswith(f"_{p.index1:02d}.png")
        assert f2.parent.parent.name == p.name2.split("/")[0]
    with pytest.raises(DatasetError, match="depth=2"):
        open_dataset(tree(tmp_path), depth=2)  # a one-deep tree read two deep: said
