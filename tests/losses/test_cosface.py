import math

import pytest
import torch

from siamese_faces.losses.cosface import CosFaceLoss


def slow_cosface(h, w, labels, s, m):
    total = 0.0
    for i in range(len(h)):
        logits = []
        for c in range(len(w)):
            cos = float(h[i] @ w[c] / (h[i].norm() * w[c].norm()))
            logits.append(s * (cos - (m if c == labels[i] else 0.0)))
        top = max(logits)
        lse = top + math.log(sum(math.exp(v - top) for v in logits))
        total += lse - logits[labels[i]]
    return total / len(h)


def test_cosface_matches_a_slow_loop():
    gen = torch.Generator().manual_seed(0)
    loss = CosFaceLoss(7, 5, scale=16.0, margin=0.3, generator=gen)
    h = torch.randn(9, 5, generator=gen)
    labels = torch.randint(0, 7, (9,), generator=gen)
    got = loss(h, labels).item()
    assert got == pytest.approx(
        slow_cosface(h, loss.weight.detach(), labels.tolist(), 16.0, 0.3), rel=1e-5
    )


def test_margin_makes_the_loss_larger():
    gen = torch.Generator().manual_seed(1)
    with_margin = CosFaceLoss(4, 3, margin=0.35, generator=gen)
    without = CosFaceLoss(4, 3, margin=0.0)
    without.weight.data.copy_(with_margin.weight.data)
    h, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 0, 1])
    assert with_margin(h, y) > without(h, y)
