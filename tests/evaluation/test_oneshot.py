import pytest
import torch

from siamese_faces.evaluation.oneshot import run_trials, sample_trials

PEOPLE = {f"P{i}": list(range(3 * i, 3 * i + (3 if i % 2 else 1))) for i in range(30)}


def test_trials_are_reproducible_and_well_formed():
    a = sample_trials(PEOPLE, ways=5, shots=1, trials=50, seed=3)
    assert a == sample_trials(PEOPLE, ways=5, shots=1, trials=50, seed=3)
    assert a != sample_trials(PEOPLE, ways=5, shots=1, trials=50, seed=4)
    owner = {r: n for n, rows in PEOPLE.items() for r in rows}
    for t in a:
        assert len(t.gallery) == 5 and all(len(g) == 1 for g in t.gallery)
        names = [owner[g[0]] for g in t.gallery]
        assert len(set(names)) == 5  # N different people
        assert owner[t.gallery[t.answer][0]] == owner[t.probe]
        assert t.gallery[t.answer][0] != t.probe  # never the probe image itself


def test_more_trials_begin_with_the_fewer_ones():
    # docs/accuracy.md reads a 1,000-trial result as the first 1,000 of a 10,000-trial draw
    many = sample_trials(PEOPLE, ways=5, shots=2, trials=120, seed=7)
    assert many[:40] == sample_trials(PEOPLE, ways=5, shots=2, trials=40, seed=7)


def test_perfect_embeddings_score_one_and_random_near_chance():
    owner = {r: int(n[1:]) for n, rows in PEOPLE.items() for r in rows}
    emb = torch.zeros(90, 30)
    for r, p in owner.items():
        emb[r, p] = 1.0
    trials = sample_trials(PEOPLE, ways=10, shots=1, trials=200, seed=0)
    dot = lambda a, b: (a * b).sum(1)  # noqa: E731
    assert run_trials(trials, emb, dot)["acc"] == 1.0
    rand = run_trials(trials, torch.randn(90, 30, generator=torch.Generator().manual_seed(0)), dot)
    assert rand["acc"] < 0.3 and rand["chance"] == 0.1


def test_too_few_people_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer --ways"):
        sample_trials(PEOPLE, ways=40, shots=1, trials=5, seed=0)
