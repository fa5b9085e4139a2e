import numpy as np
import pytest

from siamese_faces.data.samplers import identity_pairs, restricted_pairs, shard

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


def test_shard_gives_every_process_the_same_number_of_steps():
    order = np.arange(11)
    parts = [shard(order, r, 3) for r in range(3)]
    assert {len(p) for p in parts} == {4}
    assert set(np.concatenate(parts)) == set(range(11))
