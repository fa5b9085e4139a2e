"""Koch's N-way one-shot identification: which of N gallery people is the probe?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .metrics import wilson_interval


@dataclass(frozen=True)
class Trial:
    probe: int  # row of the probe image
    gallery: tuple[tuple[int, ...], ...]  # per gallery person, its `shots` image rows
    answer: int  # index into gallery of the probe's own person


def sample_trials(
    people: dict[str, list[int]], ways: int, shots: int, trials: int, seed: int
) -> list[Trial]:
    """Trials drawn with ``seed``: the probe person needs shots + 1 images, the others shots."""
    if ways < 2:
        raise ValueError(f"--ways {ways}: use at least 2 people per trial.")
    names = sorted(people)
    probes = [n for n in names if len(people[n]) >= shots + 1]
    others = [n for n in names if len(people[n]) >= shots]
    if not probes or len(others) < ways:
        raise ValueError(
            f"{ways}-way {shots}-shot needs {ways} people with >= {shots} images, "
            f"one of them with >= {shots + 1}; found {len(others)} and "
            f"{len(probes)}. Use fewer --ways or --shots."
        )
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(trials):
        target = probes[rng.integers(len(probes))]
        imgs = rng.permutation(people[target])
        pool = [n for n in others if n != target]
        distractors = [pool[i] for i in rng.choice(len(pool), ways - 1, replace=False)]
        answer = int(rng.integers(ways))
        gallery = [
            tuple(int(r) for r in rng.choice(people[n], shots, replace=False)) for n in distractors
        ]
        gallery.insert(answer, tuple(int(r) for r in imgs[1 : shots + 1]))
        out.append(Trial(int(imgs[0]), tuple(gallery), answer))
    return out


def run_trials(trials: list[Trial], emb: torch.Tensor, score_fn) -> dict:
    """Accuracy of picking the gallery person with the highest mean score over their shots."""
    correct = 0
    for t in trials:
        rows = torch.tensor([r for g in t.gallery for r in g])
        s = score_fn(emb[[t.probe] * len(rows)], emb[rows]).view(len(t.gallery), -1).mean(1)
        correct += int(torch.argmax(s)) == t.answer
    lo, hi = wilson_interval(correct, len(trials))
    return {
        "trials": len(trials),
        "correct": correct,
        "acc": correct / len(trials),
        "acc_ci95": [lo, hi],
        "ways": len(trials[0].gallery) if trials else 0,
        "chance": 1 / len(trials[0].gallery) if trials else float("nan"),
    }
