import math

import pytest
import torch

from siamese_faces.losses.bce import PairBCELoss
from siamese_faces.losses.contrastive import ContrastiveLoss


def slow_contrastive(d, y, margin):
    total = 0.0
    for di, yi in zip(d.tolist(), y.tolist(), strict=True):
        if yi == 1:
            total += di * di / 2
        else:
            total += max(margin - di, 0.0) ** 2 / 2
    return total / len(d)


def slow_bce(logits, y):
    total = 0.0
    for z, yi in zip(logits.tolist(), y.tolist(), strict=True):
        p = 1 / (1 + math.exp(-z))
        total += -(yi * math.log(p) + (1 - yi) * math.log(1 - p))
    return total / len(logits)


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.0])
def test_contrastive_matches_a_slow_loop(margin):
    gen = torch.Generator().manual_seed(0)
    d = torch.rand(50, generator=gen) * 3
    y = (torch.rand(50, generator=gen) > 0.5).float()
    got = ContrastiveLoss(margin)(d, y).item()
    assert got == pytest.approx(slow_contrastive(d, y, margin), rel=1e-5)


def test_contrastive_exact_small_case():
    # same at distance 1 -> 0.5; different at 0.25 with margin 1 -> 0.75^2/2; far different -> 0
    d, y = torch.tensor([1.0, 0.25, 3.0]), torch.tensor([1.0, 0.0, 0.0])
    assert ContrastiveLoss(1.0)(d, y).item() == pytest.approx((0.5 + 0.28125 + 0) / 3)


def test_bce_matches_a_slow_loop():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(40, generator=gen) * 4
    y = (torch.rand(40, generator=gen) > 0.5).float()
    assert PairBCELoss()(logits, y).item() == pytest.approx(slow_bce(logits, y), rel=1e-5)
