"""One call from a data folder and pairs files to a checked dataset: images, pairs, disjointness."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..config import DataConfig
from .layout import FaceDataset, find_pairs_file, open_dataset
from .lfw import (
    TEST_PAIRS,
    TRAIN_PAIRS,
    TRAIN_PEOPLE,
    VIEW2_PAIRS,
    PairsFile,
    PairsFormatError,
    check_disjoint,
    parse_pairs,
    parse_people,
    resolve_images,
    view2_fold,
)


@dataclass
class DataSource:
    dataset: FaceDataset
    train: PairsFile | None
    test: PairsFile | None
    overlap: set[str]

    def require_train(self) -> PairsFile:
        if self.train is None:
            raise PairsFormatError(
                f"no training pairs file: none named {TRAIN_PAIRS} beside or above "
                f"{self.dataset.tree}; pass --pairs-train FILE."
            )
        return self.train

    def require_test(self) -> PairsFile:
        if self.test is None:
            raise PairsFormatError(
                f"no test pairs file: none named {TEST_PAIRS} beside or above "
                f"{self.dataset.tree}; pass --pairs-test FILE."
            )
        return self.test


def _pairs(dataset: FaceDataset, explicit: str | Path | None, default_name: str):
    path = Path(explicit) if explicit else find_pairs_file(dataset, default_name)
    if path is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # duplicates are reported every run, not once
        pairs = parse_pairs(path)
    resolve_images(pairs, dataset)  # every named image must exist, checked up front
    return pairs


def open_source(
    data=None,
    pairs_train=None,
    pairs_test=None,
    allow_overlap: bool = False,
    fold: int = 0,
    train: bool = True,
    depth: int = 1,
) -> DataSource:
    """Open the dataset, find and check its pairs files (optional for non-LFW datasets).

    ``fold`` k > 0 is LFW View 2's protocol: ``pairs_test`` (default ``pairs.txt``) gives both,
    the other folds' pairs for training and fold k's for testing. ``train=False``: only the
    test pairs (scoring a trained run needs no training file). ``depth``: see ``open_dataset``.
    """
    dataset = open_dataset(data, depth)
    if fold:
        if pairs_train:
            raise ValueError(
                f"data.fold={fold} trains on the other folds of the View 2 file; leave "
                "data.pairs_train (--pairs-train) empty."
            )
        view2 = _pairs(dataset, pairs_test, VIEW2_PAIRS)
        if view2 is None:
            raise PairsFormatError(
                f"data.fold={fold}: no {VIEW2_PAIRS} beside or above {dataset.tree}; pass "
                "--pairs-test FILE (LFW's View 2 pairs file)."
            )
        others, test = view2_fold(view2, fold)
        train_pairs = others if train else None
    else:
        # Scoring needs no training file (``train=False``): none is looked for or read.
        train_pairs = _pairs(dataset, pairs_train, TRAIN_PAIRS) if train else None
        test = _pairs(dataset, pairs_test, TEST_PAIRS)
    overlap = check_disjoint(train_pairs, test, allow_overlap) if train_pairs and test else set()
    return DataSource(dataset, train_pairs, test, overlap)


def source_of(data: DataConfig, allow_overlap: bool = False) -> DataSource:
    """The source that the settings ``data.*`` name."""
    return open_source(
        data.dir,
        data.pairs_train or None,
        data.pairs_test or None,
        allow_overlap,
        data.fold,
        depth=data.depth,
    )


def training_people_file(dataset: FaceDataset) -> tuple[Path, set[str]]:
    """View 1's training people (``peopleDevTrain.txt`` beside or above the images)."""
    path = find_pairs_file(dataset, TRAIN_PEOPLE)
    if path is None:
        raise PairsFormatError(
            f'data.train_people="people-file": no {TRAIN_PEOPLE} beside or above '
            f'{dataset.tree}; put LFW\'s file there, or use data.train_people="pairs".'
        )
    return path, set(parse_people(path))


def saved_name(pairs_file: str | Path) -> str:
    """The name results for a test pairs file are saved under: its stem, and a View 2 fold's
    tag (``pairs.txt#fold3`` -> ``pairs-fold3``)."""
    base, _, tag = str(pairs_file).partition("#")
    return Path(base).stem + (f"-{tag}" if tag else "")


def saved_name_for(data: DataConfig) -> str:
    """The saved name of the test pairs that the settings ``data.*`` name."""
    if data.fold:
        return saved_name(f"{data.pairs_test or VIEW2_PAIRS}#fold{data.fold}")
    return saved_name(data.pairs_test or TEST_PAIRS)
