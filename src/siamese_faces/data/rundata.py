"""Everything a run reads from disk, prepared once: images in memory, pairs as row indices."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import Config
from .align import AlignSpec
from .cache import load_images
from .images import Preprocess
from .lfw import PairsFile, image_pairs
from .pairs import ImagePair
from .samplers import identity_pairs
from .source import DataSource, open_source, source_of, training_people_file
from .splits import Split, make_split


@dataclass
class PairSet:
    """Pairs as rows of the image array: ``images[a[i]]`` vs ``images[b[i]]``, label ``y[i]``."""

    a: torch.Tensor  # (P,) int64
    b: torch.Tensor  # (P,) int64
    y: torch.Tensor  # (P,) float32, 1 = same person
    pairs: list[ImagePair]  # the pairs kept, for reports and examples
    dropped: int = 0  # pairs left out because an image was skipped as bad

    def __len__(self) -> int:
        return len(self.y)

    def faces(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each image of the pairs once (its rows, sorted), and where each pair's two sides
        are among them: embed ``rows`` once, then pair ``h[ia]`` with ``h[ib]``."""
        rows, inverse = torch.unique(torch.cat([self.a, self.b]), return_inverse=True)
        return rows, inverse[: len(self)], inverse[len(self) :]


@dataclass
class RunData:
    images: torch.Tensor  # (N, S, S) uint8, every image of the dataset
    paths: list[Path]
    train: PairSet
    val: PairSet
    test: PairSet | None
    split: Split | None  # None for data prepared only to be scored (prepare_test)
    train_pairs: PairsFile | None
    skipped: list
    source: DataSource
    # Unrestricted protocol: every image of the training-side people (never a validation or
    # test person), with a class index per person. Empty under the restricted protocol.
    identity_rows: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    identity_labels: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    def fitting_faces(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The training faces that what is fitted after training sees (the whitening, the
        score normalisation's cohort): the image rows to embed, and the rows among them that
        group into classes with each one's class. Unrestricted: every identity image, its
        person. Restricted, where no face may be grouped by name: each training-pair image
        once, and the two faces of each same-labelled training pair as a class of their own
        (the pairs' labels are what that protocol trains on)."""
        if len(self.identity_rows):
            return self.identity_rows, torch.arange(len(self.identity_rows)), self.identity_labels
        rows, ia, ib = self.train.faces()
        same = self.train.y > 0.5
        pairs = torch.arange(int(same.sum()))
        return rows, torch.cat([ia[same], ib[same]]), torch.cat([pairs, pairs])

    def trained_people(self) -> set[str]:
        """Everyone whose images trained the run: the training pairs' people and (unrestricted)
        the people of the identity rows."""
        owner = {path: p.name for p in self.source.dataset.people.values() for path in p.images}
        pairs = {n for p in self.train.pairs for n in p.people}
        return pairs | {owner[self.paths[int(r)]] for r in self.identity_rows}

    def people_rows(self, names) -> dict[str, list[int]]:
        """Image rows of each named person (those left out as bad images are not there)."""
        rows = {p: i for i, p in enumerate(self.paths)}
        people = self.source.dataset.people
        return {n: [rows[p] for p in people[n].images if p in rows] for n in names}

    def identity_table(self, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Every image row of the named people and, for each, its person's index in ``names``."""
        by_person = self.people_rows(names)
        rows = [r for n in names for r in by_person[n]]
        labels = [k for k, n in enumerate(names) for _ in by_person[n]]
        return torch.tensor(rows, dtype=torch.long), torch.tensor(labels, dtype=torch.long)


def pair_set(pairs: list[ImagePair], rows: dict[Path, int]) -> PairSet:
    """The pairs whose two images are both rows of the run's image array (bad ones skipped)."""
    keep = [
        (p, rows[p.image1], rows[p.image2]) for p in pairs if p.image1 in rows and p.image2 in rows
    ]
    a = torch.tensor([k[1] for k in keep], dtype=torch.int64)
    b = torch.tensor([k[2] for k in keep], dtype=torch.int64)
    y = torch.tensor([float(k[0].same) for k in keep], dtype=torch.float32)
    return PairSet(a, b, y, [k[0] for k in keep], len(pairs) - len(keep))


def prepare(
    config: Config,
    skip_bad_images: bool = False,
    cache_dir: Path | None = None,
    allow_overlap: bool = False,
    split: Split | None = None,
) -> RunData:
    """Open the data named by ``config.data``, split it, and load every image through the cache."""
    d = config.data
    source = source_of(d, allow_overlap)
    train_pairs = source.require_train()
    split = split or make_split(train_pairs, d.split, d.val_fraction, d.split_seed)
    if not split.val:
        raise ValueError(
            f"{train_pairs.path}: no pair of its {len(train_pairs.pairs)} went to validation "
            f"with data.val_fraction={d.val_fraction}; raise data.val_fraction."
        )
    loaded, test = load_with_test(d, source, skip_bad_images, cache_dir)
    rows = loaded.row_of
    files = image_pairs(train_pairs, source.dataset)

    def subset(idx):
        return pair_set([files[i] for i in idx], rows)

    data = RunData(
        torch.from_numpy(loaded.images),
        loaded.paths,
        subset(split.train),
        subset(split.val),
        test,
        split,
        train_pairs,
        loaded.skipped,
        source,
    )
    if d.protocol == "unrestricted":
        val_people = {n for i in split.val for n in train_pairs.pairs[i].people}
        people = sorted(training_people(data, d.train_people) - val_people)
        data.identity_rows, data.identity_labels = data.identity_table(people)
        if d.val_identity_pairs:
            more = identity_pair_set(
                data,
                sorted(val_people),
                d.val_identity_pairs,
                d.split_seed,
                d.val_identity_negatives,
            )
            data.val = concat_pairs(data.val, more)
    return data


def prepare_test(
    config: Config,
    skip_bad_images: bool = False,
    cache_dir: Path | None = None,
    align: AlignSpec | None = None,
) -> RunData:
    """The images and test pairs that ``config.data`` names, to score a trained run with:
    no training file is read and no split is made. ``align``: each image is detected and
    aligned first (a photo of any framing)."""
    d = config.data
    source = open_source(
        d.dir, None, d.pairs_test or None, True, d.fold, train=False, depth=d.depth
    )
    if source.test is None:
        raise ValueError(
            f"no test pairs beside or above {source.dataset.tree}: pass --pairs-test FILE."
        )
    # Scoring reads the tested people's images only: a large tree, or one whose every image
    # is detected and aligned, costs what the test pairs need.
    loaded, test = load_with_test(d, source, skip_bad_images, cache_dir, align, only_tested=True)
    empty = pair_set([], {})
    return RunData(
        torch.from_numpy(loaded.images),
        loaded.paths,
        empty,
        empty,
        test,
        None,
        None,
        loaded.skipped,
        source,
    )


def load_with_test(
    d, source: DataSource, skip_bad_images: bool, cache_dir, align=None, only_tested=False
):
    """Every image of the dataset (``only_tested``: of the test pairs' people), preprocessed
    as ``d`` says (through the cache), and the test pairs as rows of them (None without a
    test file)."""
    pre = Preprocess(d.size, tuple(d.crop) if d.crop else None, align)
    paths = source.dataset.all_images()
    if only_tested:
        people = source.dataset.people
        paths = [p for n in sorted(source.test.people) for p in people[n].images]
    loaded = load_images(paths, pre, cache_dir, skip_bad=skip_bad_images)
    if source.test is None:
        return loaded, None
    return loaded, pair_set(image_pairs(source.test, source.dataset), loaded.row_of)


def training_people(data: RunData, which: str) -> set[str]:
    """Whose images may train (unrestricted): the training pairs' people, or View 1's people
    file; never a person of the test pairs (an error, not a silent drop)."""
    if which == "pairs":
        return {n for i in data.split.train for n in data.train_pairs.pairs[i].people}
    path, people = training_people_file(data.source.dataset)
    people &= set(data.source.dataset.people)  # a name without images trains nothing
    tested = people & (data.source.test.people if data.source.test else set())
    if tested:
        raise ValueError(
            f"{path}: {len(tested)} of its people are in the test pairs ({sorted(tested)[0]}, "
            "...); a test person must never train. Use LFW's own people file, or "
            'data.train_people="pairs".'
        )
    return people


def identity_pair_set(
    data: RunData, people: list[str], n: int, seed: int, negatives: str = "images"
) -> PairSet:
    """``n`` pairs (half same) of ``people``'s images, formed from their names, the different
    ones drawn by image or by person (``negatives``: ``samplers.identity_pairs``)."""
    rows, labels = data.identity_table(people)
    if not bool((torch.bincount(labels, minlength=len(people)) >= 2).any()):
        raise ValueError(
            f"data.val_identity_pairs={n}: none of the {len(people)} validation people has two "
            "or more images, so no same pair can be formed from their names; set "
            "data.val_identity_pairs=0 or raise data.val_fraction."
        )
    a, b, same = identity_pairs(labels.numpy(), n, 0.5, seed, 0, negatives)
    row, person = rows.tolist(), [people[k] for k in labels.tolist()]
    pairs = [
        ImagePair(data.paths[row[i]], data.paths[row[j]], bool(s), person[i], person[j])
        for i, j, s in zip(a.tolist(), b.tolist(), same.tolist(), strict=True)
    ]
    return PairSet(rows[a], rows[b], torch.from_numpy(same).float(), pairs)


def concat_pairs(first: PairSet, second: PairSet) -> PairSet:
    return PairSet(
        torch.cat([first.a, second.a]),
        torch.cat([first.b, second.b]),
        torch.cat([first.y, second.y]),
        first.pairs + second.pairs,
        first.dropped + second.dropped,
    )


def batch_images(images: torch.Tensor, rows: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 rows -> float ``(B, 1, S, S)`` in [0, 1] on ``device`` (gathered before the copy)."""
    x = images.index_select(0, rows).to(device, non_blocking=True)
    return x.unsqueeze(1).float().div_(255.0)


@torch.no_grad()
def batched(fn, images: torch.Tensor, rows: torch.Tensor, device, batch: int = 256) -> torch.Tensor:
    """``fn`` of the faces ``images[rows]`` ``(B, 1, S, S)`` in [0, 1], a batch at a time:
    never every face's float copy (or ``fn``'s output for them, until joined) at once."""
    parts = [
        fn(batch_images(images, rows[i : i + batch], device)) for i in range(0, len(rows), batch)
    ]
    return torch.cat(parts)
