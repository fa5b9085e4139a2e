import numpy as np
import pytest

from siamese_faces.data.samplers import (
    balanced_order,
    identity_order,
    identity_pairs,
    restricted_pairs,
    shard,
)

SAME = np.array([True] * 30 + [False] * 70)


def test_restricted_default_is_a_shuffle_of_every_pair():
    order = restricted_pairs(SAME, 0.0, seed=1, epoch=0)
    assert sorted(order) == list(range(100))
    assert not np.array_equal(order, restricted_pairs(SAME, 0.0, seed=1, epoch=1))
    assert np.array_equal(order, restricted_pairs(SAME, 0.0, seed=1, epoch=0))


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.7])
def test_restricted_ratio_and_never_a_new_pair(fraction):
    order = restricted_pairs(SAME, fraction, seed=0, epoch=3)
    assert len(order) == 100 and set(order) <= set(range(100))  # only the given pairs
    assert SAME[order].mean() == pytest.approx(fraction, abs=0.01)


def test_identity_pairs_ratio_labels_and_seed():
    labels = np.repeat(np.arange(20), 3)
    a, b, same = identity_pairs(labels, 200, 0.5, seed=2, epoch=0)
    assert same.mean() == 0.5
    assert np.all((labels[a] == labels[b]) == same)
    assert np.all(a != b)
    again = identity_pairs(labels, 200, 0.5, seed=2, epoch=0)
    assert all(np.array_equal(x, y) for x, y in zip((a, b, same), again, strict=True))


def test_different_pairs_drawn_by_person_give_each_person_alike_whatever_their_images():
    # one person with 300 images beside 100 with 3: drawn by image, the first is in two
    # pairs of three (a third of their images); drawn by person, one image in 101 (LFW's way)
    labels = np.concatenate([np.zeros(300, int), np.repeat(np.arange(1, 101), 3)])
    share = {}
    for way in ("images", "people"):
        a, b, same = identity_pairs(labels, 4000, 0.5, seed=1, epoch=0, negatives=way)
        assert np.all((labels[a] == labels[b]) == same) and same.mean() == 0.5
        share[way] = np.mean(np.concatenate([labels[a[~same]], labels[b[~same]]]) == 0)
    assert 0.28 < share["images"] < 0.38
    assert 0.5 / 101 < share["people"] < 2 / 101


def test_the_same_pairs_do_not_depend_on_how_the_different_ones_are_drawn():
    labels = np.repeat(np.arange(30), [2, 5, 9] * 10)
    drawn = [identity_pairs(labels, 300, 0.5, 4, 0, way) for way in ("images", "people")]

    def pairs(a, b, keep):  # in any order: the last shuffle draws after the different pairs
        return sorted(zip(a[keep].tolist(), b[keep].tolist(), strict=True))

    (same1, diff1), (same2, diff2) = ((pairs(a, b, s), pairs(a, b, ~s)) for a, b, s in drawn)
    assert same1 == same2 and diff1 != diff2


def test_shard_gives_every_process_the_same_number_of_steps():
    order = np.arange(11)
    parts = [shard(order, r, 3) for r in range(3)]
    assert {len(p) for p in parts} == {4}
    assert set(np.concatenate(parts)) == set(range(11))


# Person 0 has 40 images, 1 has 9, 2 has 3, 3 and 4 have one each: a long tail like LFW's.
PEOPLE = np.repeat(np.arange(5), [40, 9, 3, 1, 1])


def test_balanced_order_without_limits_is_the_plain_shuffle():
    assert np.array_equal(balanced_order(PEOPLE, 3, 2), identity_order(len(PEOPLE), 3, 2))


@pytest.mark.parametrize("most, least", [(8, 1), (1, 1), (0, 2), (8, 2), (3, 4)])
def test_balanced_order_takes_at_most_and_at_least(most, least):
    counts = np.bincount(PEOPLE)
    for epoch in range(3):
        order = balanced_order(PEOPLE, 0, epoch, most, least)
        assert len(set(order.tolist())) == len(order)  # no image twice
        taken = np.bincount(PEOPLE[order], minlength=len(counts))
        for person, n in enumerate(counts):
            want = 0 if n < least else min(n, most or n)
            assert taken[person] == want, (person, n, taken[person])
        assert np.array_equal(order, balanced_order(PEOPLE, 0, epoch, most, least))


def test_balanced_order_draws_a_capped_person_anew_each_epoch():
    drawn = [
        frozenset(o[PEOPLE[o] == 0].tolist())
        for o in (balanced_order(PEOPLE, 0, epoch, 8) for epoch in range(60))
    ]
    assert len(set(drawn)) == 60  # 8 of 40 images: a repeat would be a broken draw
    seen = frozenset().union(*drawn)
    assert len(seen) == 40  # every image of the person trains over the epochs (each misses
    # all 60 draws with a chance of 0.8**60)
    firsts = [balanced_order(PEOPLE, 0, epoch, 8)[0] for epoch in range(20)]
    assert len(set(firsts)) > 1  # and the epoch's order is shuffled, not grouped by person
