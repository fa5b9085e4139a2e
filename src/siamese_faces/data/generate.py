"""Pairs files for a dataset that has none: person-disjoint training and test pairs, made the
way LFW's View 1 files are laid out, so that every floor above reads them as it reads LFW's.

How they are made (all seeded by one seed):

- people are split into a test side (``test_fraction`` of them) and a training side, so no
  person is on both; people with two or more images and people with one are split apart, in
  the same proportion, so each side can form same pairs and the one-image people still serve
  as "different" partners;
- each file holds N same pairs (two images of one person) and N different pairs;
- on the training side, different pairs are formed only within ten groups of people. Without
  that, random different pairs link almost every person to every other, and the validation
  split, which keeps linked people together (``data.split="people"``), could not find a
  group to hold out.

An image is named by its index, as in LFW's files: the ``<Name>_<number>`` of LFW's file names,
else its place in file-name order (see :func:`siamese_faces.data.lfw.image_of`).
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from math import comb
from pathlib import Path

from ..io import atomic_write_text
from .layout import FaceDataset, Person, find_pairs_file, open_dataset
from .lfw import TEST_PAIRS, TRAIN_PAIRS, index_of

GROUPS = 10  # training-side groups of people that different pairs stay within
SUMMARY = "pairs-summary.json"
ENUMERATE_UP_TO = 200_000  # below this many candidates, sample without replacement from all


class TooFewPeople(ValueError):
    """The dataset cannot give both sides people to form same and different pairs from."""


@dataclass(frozen=True)
class Side:
    people: list[Person]
    same: list[tuple[str, int, str, int]]
    different: list[tuple[str, int, str, int]]
    capped: bool  # fewer pairs than asked: the side's people allow no more

    def text(self) -> str:
        """LFW's View 1 layout: ``N``, N same lines, N different lines (tab-separated)."""
        n = min(len(self.same), len(self.different))
        lines = [str(n)]
        lines += [f"{a}\t{i}\t{j}" for a, i, _, j in self.same[:n]]
        lines += [f"{a}\t{i}\t{b}\t{j}" for a, i, b, j in self.different[:n]]
        return "\n".join(lines) + "\n"

    def counts(self) -> dict:
        n = min(len(self.same), len(self.different))
        return {
            "people": len(self.people),
            "people_with_two_or_more_images": sum(len(p.images) >= 2 for p in self.people),
            "images": sum(len(p.images) for p in self.people),
            "same": n,
            "different": n,
            "capped": self.capped,
        }


def split_people(
    dataset: FaceDataset, test_fraction: float, rng: random.Random
) -> tuple[list[Person], list[Person]]:
    """(training, test) people: ``test_fraction`` of the many-image and of the one-image people."""
    people = [dataset.people[n] for n in sorted(dataset.people)]
    multi = [p for p in people if len(p.images) >= 2]
    single = [p for p in people if len(p.images) < 2]
    rng.shuffle(multi)
    rng.shuffle(single)
    m, s = round(test_fraction * len(multi)), round(test_fraction * len(single))
    train, test = multi[m:] + single[s:], multi[:m] + single[:s]
    for side, who in (("training", train), ("test", test)):
        if side == "test" and test_fraction == 0:
            continue  # no test side asked for
        if sum(len(p.images) >= 2 for p in who) < 2:
            raise TooFewPeople(
                f"{dataset.tree}: {len(multi)} of its {len(people)} people have two or more "
                f"images; with test_fraction={test_fraction} the {side} side gets fewer than two "
                "of them, too few for same and different pairs. Add people (each with at least "
                "two images), or move --test-fraction (data.test_fraction) toward 0.5."
            )
    return sorted(train, key=lambda p: p.name), sorted(test, key=lambda p: p.name)


def _same_pairs(people: list[Person], n: int, rng: random.Random) -> list[tuple]:
    multi = [p for p in people if len(p.images) >= 2]
    total = sum(comb(len(p.images), 2) for p in multi)
    if total <= ENUMERATE_UP_TO or 2 * n > total:
        every = [
            (p, i, j)
            for p in multi
            for i in range(len(p.images))
            for j in range(i + 1, len(p.images))
        ]
        chosen = rng.sample(every, min(n, total))
    else:  # many more candidates than wanted: draw until n distinct
        seen: set[tuple] = set()
        chosen = []
        while len(chosen) < n:
            p = rng.choice(multi)
            i, j = sorted(rng.sample(range(len(p.images)), 2))
            if (p.name, i, j) not in seen:
                seen.add((p.name, i, j))
                chosen.append((p, i, j))
    out = []
    for p, i, j in chosen:
        index = index_of(p)
        out.append((p.name, index[p.images[i]], p.name, index[p.images[j]]))
    return sorted(out)


def _groups(people: list[Person], count: int, rng: random.Random) -> list[list[Person]]:
    shuffled = list(people)
    rng.shuffle(shuffled)
    count = max(1, min(count, len(shuffled) // 2))
    return [shuffled[k::count] for k in range(count)]


def _different_possible(groups: list[list[Person]]) -> int:
    total = 0
    for group in groups:
        sizes = [len(p.images) for p in group]
        total += (sum(sizes) ** 2 - sum(s * s for s in sizes)) // 2
    return total


def _different_pairs(groups: list[list[Person]], n: int, rng: random.Random) -> list[tuple]:
    images = [(g, p, path) for g, group in enumerate(groups) for p in group for path in p.images]
    total = _different_possible(groups)
    if total <= ENUMERATE_UP_TO or 2 * n > total:
        every = [
            (x, y)
            for k, x in enumerate(images)
            for y in images[k + 1 :]
            if x[0] == y[0] and x[1] is not y[1]
        ]
        chosen = rng.sample(every, min(n, total))
    else:
        by_group = [[x for x in images if x[0] == g] for g in range(len(groups))]
        seen: set[tuple] = set()
        chosen = []
        while len(chosen) < n:
            x = rng.choice(images)
            y = rng.choice(by_group[x[0]])
            key = tuple(sorted((str(x[2]), str(y[2]))))
            if x[1] is not y[1] and key not in seen:
                seen.add(key)
                chosen.append((x, y))
    out = []
    for (_, p, f), (_, q, g) in chosen:
        a, b = sorted([(p.name, index_of(p)[f]), (q.name, index_of(q)[g])])
        out.append((*a, *b))
    return sorted(out)


def _side(people, wanted: int, groups: int, rng: random.Random) -> Side:
    same_possible = sum(comb(len(p.images), 2) for p in people)
    grouped = _groups(people, groups, rng)
    possible = min(same_possible, _different_possible(grouped))
    n = min(wanted, possible)
    same = _same_pairs(people, n, rng)
    return Side(people, same, _different_pairs(grouped, n, rng), n < wanted)


def make_pairs(
    dataset: FaceDataset, test_fraction: float = 0.2, pair_count: int = 0, seed: int = 0
) -> tuple[Side, Side]:
    """(training, test) pairs of ``dataset``, person-disjoint (see the module docstring).

    ``pair_count``: same pairs (and as many different) in the training file; the test file gets
    them in proportion to its people. 0: one same and one different pair per image of the side,
    as far as its people allow.
    """
    rng = random.Random(seed)
    train_people, test_people = split_people(dataset, test_fraction, rng)

    def wanted(people, share):
        if pair_count == 0:
            return sum(len(p.images) for p in people)
        return max(1, round(pair_count * share))

    train = _side(train_people, wanted(train_people, 1.0), GROUPS, rng)
    if not test_people:  # test_fraction 0: the run is tested elsewhere
        return train, None
    test = _side(test_people, wanted(test_people, test_fraction / (1 - test_fraction)), 1, rng)
    return train, test


def write_pairs(
    dataset: FaceDataset, out: Path, test_fraction: float, pair_count: int, seed: int
) -> dict:
    """Make the pairs and write ``pairsDevTrain.txt``, ``pairsDevTest.txt`` and a summary into
    ``out``; the summary."""
    train, test = make_pairs(dataset, test_fraction, pair_count, seed)
    out = Path(out)
    summary = {
        "data": str(dataset.tree),
        "test_fraction": test_fraction,
        "pair_count": pair_count,
        "seed": seed,
        "train": {"file": str(out / TRAIN_PAIRS), **train.counts()},
        "test": {"file": str(out / TEST_PAIRS), **test.counts()} if test else None,
    }
    atomic_write_text(out / TRAIN_PAIRS, train.text())
    if test:
        atomic_write_text(out / TEST_PAIRS, test.text())
    atomic_write_text(out / SUMMARY, json.dumps(summary, indent=1) + "\n")
    return summary


def describe(summary: dict) -> str:
    """One line on what was made, for the first lines of a command."""
    t, s = summary["train"], summary["test"]
    capped = " (as many as the people allow)" if t["capped"] or (s and s["capped"]) else ""
    tested = (
        f"{s['same']} + {s['different']} test pairs of {s['people']} other people"
        if s
        else "no test pairs"
    )
    return (
        f"{t['same']} same + {t['different']} different training pairs of {t['people']} people, "
        f"{tested}{capped} (test fraction {summary['test_fraction']}, seed {summary['seed']})"
    )


def test_pairs_for(data, folder: Path, say=None):
    """``data`` to score a trained run on: as it is when it names or finds a test pairs file;
    else with one made of all the dataset's people (all unseen, one side) into ``folder``."""
    if data.fold or data.pairs_test:
        return data
    dataset = open_dataset(data.dir, data.depth)
    if find_pairs_file(dataset, TEST_PAIRS):
        return data
    rng = random.Random(data.split_seed)
    people = [dataset.people[n] for n in sorted(dataset.people)]
    if sum(len(p.images) >= 2 for p in people) < 2:
        raise TooFewPeople(
            f"{dataset.tree}: fewer than two of its people have two or more images, too few "
            "to make same and different test pairs; pass --pairs-test FILE."
        )
    wanted = data.pair_count or sum(len(p.images) for p in people)
    side = _side(people, wanted, 1, rng)
    folder = Path(folder).resolve()
    atomic_write_text(folder / TEST_PAIRS, side.text())
    if say:
        c = side.counts()
        say(
            f"no test pairs file beside {dataset.tree}: made {c['same']} same + "
            f"{c['different']} different pairs of its {c['people']} people (seed "
            f"{data.split_seed}) -> {folder / TEST_PAIRS}"
        )
    return dataclasses.replace(data, pairs_test=str(folder / TEST_PAIRS))


def pairs_for_run(data, folder: Path, say=None):
    """``data`` (a DataConfig) as it is when the dataset has pairs files or names them; else
    with pairs made into ``folder`` (told to ``say``, when given) and named by it."""
    if data.fold or data.pairs_train or data.pairs_test:
        return data
    dataset = open_dataset(data.dir, data.depth)
    if find_pairs_file(dataset, TRAIN_PAIRS) or find_pairs_file(dataset, TEST_PAIRS):
        return data
    folder = Path(folder).resolve()
    summary = write_pairs(dataset, folder, data.test_fraction, data.pair_count, data.split_seed)
    if say:
        say(f"no pairs files beside {dataset.tree}: made {describe(summary)} -> {folder}")
    test = str(folder / TEST_PAIRS) if summary["test"] else ""
    return dataclasses.replace(data, pairs_train=str(folder / TRAIN_PAIRS), pairs_test=test)
