"""One call from a data folder and pairs files to a checked dataset: images, pairs, disjointness."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from .layout import FaceDataset, find_pairs_file, open_dataset
from .lfw import (
    TEST_PAIRS,
    TRAIN_PAIRS,
    PairsFile,
    PairsFormatError,
    check_disjoint,
    parse_pairs,
    resolve_images,
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
    data=None, pairs_train=None, pairs_test=None, allow_overlap: bool = False
) -> DataSource:
    """Open the dataset, find and check its pairs files (optional for non-LFW datasets)."""
    dataset = open_dataset(data)
    train = _pairs(dataset, pairs_train, TRAIN_PAIRS)
    test = _pairs(dataset, pairs_test, TEST_PAIRS)
    overlap = check_disjoint(train, test, allow_overlap) if train and test else set()
    return DataSource(dataset, train, test, overlap)


def saved_name(pairs_test: str | Path | None) -> str:
    """The name a run's results for these test pairs are saved under (the file's stem)."""
    return Path(pairs_test or TEST_PAIRS).stem
