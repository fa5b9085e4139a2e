"""What each epoch trains on: seeded orders of pairs or images, one function per protocol.

Every sampler takes ``seed`` and ``epoch`` and returns the same answer for the same two,
so a resumed run redraws exactly the epoch it lost.
"""

from __future__ import annotations

import numpy as np


def _rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


def restricted_pairs(same: np.ndarray, same_fraction: float, seed: int, epoch: int) -> np.ndarray:
    """Indices into the given pairs (never a new pair): all of them shuffled, or, with a
    ``same_fraction``, as many as there are pairs drawn with that share of same pairs."""
    same = np.asarray(same, dtype=bool)
    rng = _rng(seed, epoch)
    if same_fraction <= 0:
        return rng.permutation(len(same))
    n = len(same)
    n_same = int(round(same_fraction * n))
    pos, neg = np.flatnonzero(same), np.flatnonzero(~same)
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("train.same_fraction needs both same and different training pairs.")
    picks = np.concatenate(
        [
            rng.choice(pos, n_same, replace=n_same > len(pos)),
            rng.choice(neg, n - n_same, replace=n - n_same > len(neg)),
        ]
    )
    return rng.permutation(picks)


def identity_pairs(
    labels: np.ndarray,
    n_pairs: int,
    same_fraction: float,
    seed: int,
    epoch: int,
    negatives: str = "images",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New pairs from identity labels (unrestricted protocol): ``(a, b, same)`` as indices
    into ``labels``. Same pairs: a person with two or more images, each such person alike,
    then two of their images. Different pairs (``negatives``): two images drawn at random
    ("images": a person with many images in many of them), or two people drawn alike, then
    an image of each ("people": as LFW's own different pairs are; data.val_identity_negatives).
    The same pairs do not depend on ``negatives``."""
    labels = np.asarray(labels)
    rng = _rng(seed, epoch)
    by_person: dict[int, np.ndarray] = {}
    for i, lab in enumerate(labels):
        by_person.setdefault(int(lab), []).append(i)
    people = [np.array(v) for v in by_person.values()]
    multi = [p for p in people if len(p) >= 2]
    if not multi:
        raise ValueError("unrestricted pairs need people with two or more images.")
    if negatives == "people" and len(people) < 2:
        raise ValueError("different pairs drawn by person need two or more people.")
    n_same = int(round((same_fraction or 0.5) * n_pairs))
    a, b = [], []
    for k in rng.integers(len(multi), size=n_same):
        i, j = rng.choice(multi[k], 2, replace=False)
        a.append(i)
        b.append(j)
    while len(a) < n_pairs:
        if negatives == "people":
            p, q = rng.choice(len(people), 2, replace=False)
            i, j = rng.choice(people[p]), rng.choice(people[q])
        else:
            i, j = rng.integers(len(labels), size=2)
        if labels[i] != labels[j]:
            a.append(i)
            b.append(j)
    same = np.zeros(n_pairs, dtype=bool)
    same[:n_same] = True
    order = rng.permutation(n_pairs)
    return np.array(a)[order], np.array(b)[order], same[order]


def identity_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """A shuffled order of the ``n`` training images (identity objectives)."""
    return _rng(seed, epoch).permutation(n)


def balanced_order(
    labels: np.ndarray, seed: int, epoch: int, most: int = 0, least: int = 1
) -> np.ndarray:
    """A shuffled order of the training images (positions in ``labels``) that takes at most
    ``most`` images of each person (0: all), drawn anew each epoch, and none of a person with
    fewer than ``least``. Every epoch holds as many images. With neither limit, the same order
    as :func:`identity_order`."""
    labels = np.asarray(labels)
    if most == 0 and least <= 1:
        return identity_order(len(labels), seed, epoch)
    rng = _rng(seed, epoch)
    order = rng.permutation(len(labels))
    if least > 1:
        order = order[np.bincount(labels)[labels[order]] >= least]
    if most:
        # Each image's rank among its person's images in this epoch's shuffled order: the
        # first ``most`` of a person are this epoch's draw.
        by_person = np.argsort(labels[order], kind="stable")
        sorted_labels = labels[order][by_person]
        first = np.searchsorted(sorted_labels, sorted_labels, side="left")
        rank = np.empty(len(order), dtype=np.int64)
        rank[by_person] = np.arange(len(order)) - first
        order = order[rank < most]
    return order


def shard(order: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This process's share of an epoch: padded so every process takes as many steps."""
    if world == 1:
        return order
    pad = (-len(order)) % world
    order = np.concatenate([order, order[:pad]])
    return order[rank::world]
