import shutil

import pytest

from siamese_faces.data.layout import DatasetError, find_pairs_file, open_dataset
from siamese_faces.data.lfw import image_of
from siamese_faces.data.source import open_source

from ..helpers import TRAIN_PEOPLE, write_people


def test_above_layout_finds_the_one_tree_and_pairs_beside_it(lfw_like):
    ds = open_dataset(lfw_like)
    assert ds.layout == "above" and ds.tree == lfw_like / "lfw2"
    assert ds.people["Alice_A"].images[0].name == "Alice_A_0001.jpg"
    assert ds.num_images == 16
    assert find_pairs_file(ds, "pairsDevTrain.txt") == lfw_like / "pairsDevTrain.txt"


def test_tree_layout_with_pairs_above(lfw_like):
    ds = open_dataset(lfw_like / "lfw2")
    assert ds.layout == "tree" and len(ds.people) == 9
    assert find_pairs_file(ds, "pairsDevTest.txt") == lfw_like / "pairsDevTest.txt"
    source = open_source(lfw_like / "lfw2")
    assert len(source.train.pairs) == 8 and len(source.test.pairs) == 4


def test_flat_layout_takes_names_from_file_names(tmp_path, lfw_like):
    flat = tmp_path / "flat"
    flat.mkdir()
    for img in (lfw_like / "lfw2").rglob("*.jpg"):
        shutil.copy(img, flat / img.name)
    ds = open_dataset(flat)
    assert ds.layout == "flat"
    assert sorted(ds.people) == sorted(open_dataset(lfw_like).people)
    assert image_of(ds, "Alice_A", 3).name == "Alice_A_0003.jpg"


def test_flat_layout_rejects_unnumbered_files(tmp_path, lfw_like):
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(next((lfw_like / "lfw2").rglob("*.jpg")), flat / "portrait.jpg")
    with pytest.raises(DatasetError, match="portrait.jpg"):
        open_dataset(flat)


def test_any_identity_folder_dataset_without_pairs(tmp_path):
    write_people(tmp_path / "faces", TRAIN_PEOPLE)
    (tmp_path / "faces" / "Alice_A" / "holiday.jpg").write_bytes(
        (tmp_path / "faces" / "Alice_A" / "Alice_A_0001.jpg").read_bytes()
    )
    source = open_source(tmp_path / "faces")
    assert source.train is None and source.test is None
    assert len(source.dataset.people["Alice_A"].images) == 4  # unnumbered files count too
    with pytest.raises(ValueError, match="--pairs-train"):
        source.require_train()


def test_two_trees_is_ambiguous(tmp_path):
    write_people(tmp_path / "a" / "x", {"P_Q": 1})
    write_people(tmp_path / "a" / "y", {"R_S": 1})
    with pytest.raises(DatasetError, match="holds 2 image trees"):
        open_dataset(tmp_path / "a")


def test_trees_three_folders_deep_are_named(tmp_path):
    # Omniglot's download: set/Alphabet/characterNN/images; said "no images found" alone.
    write_people(tmp_path / "omni" / "set1" / "Greek", {"P_Q": 1})
    write_people(tmp_path / "omni" / "set2" / "Latin", {"R_S": 1})
    with pytest.raises(DatasetError, match=r"its folders set1, set2 hold image trees.*--depth 2"):
        open_dataset(tmp_path / "omni")
    assert len(open_dataset(tmp_path / "omni" / "set1", depth=2).people) == 1


def test_empty_or_missing_folder(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="no images found"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such folder"):
        open_dataset(tmp_path / "missing")
    monkeypatch.delenv("SIAMESE_FACES_DATA", raising=False)
    with pytest.raises(DatasetError, match="SIAMESE_FACES_DATA"):
        open_dataset(None)


def test_env_var_names_the_data(lfw_like, monkeypatch):
    monkeypatch.setenv("SIAMESE_FACES_DATA", str(lfw_like))
    assert open_dataset(None).tree == lfw_like / "lfw2"
