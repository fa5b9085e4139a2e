import math

import pytest
import torch

from siamese_faces.losses.cosface import CosFaceLoss


def slow_margin_softmax(h, w, labels, s, margined, subcentres=1):
    """Cross-entropy of ``s * cos`` over classes, the true class's cosine through ``margined``;
    a class's cosine is that of the nearest of its ``subcentres`` rows of ``w``."""
    total = 0.0
    for i in range(len(h)):
        logits = []
        for c in range(len(w) // subcentres):
            rows = range(c * subcentres, (c + 1) * subcentres)
            cos = max(float(h[i] @ w[r] / (h[i].norm() * w[r].norm())) for r in rows)
            logits.append(s * (margined(cos) if c == labels[i] else cos))
        top = max(logits)
        lse = top + math.log(sum(math.exp(v - top) for v in logits))
        total += lse - logits[labels[i]]
    return total / len(h)


def slow_cosface(h, w, labels, s, m, subcentres=1):
    return slow_margin_softmax(h, w, labels, s, lambda cos: cos - m, subcentres)


def test_cosface_matches_a_slow_loop():
    gen = torch.Generator().manual_seed(0)
    loss = CosFaceLoss(7, 5, scale=16.0, margin=0.3, generator=gen)
    h = torch.randn(9, 5, generator=gen)
    labels = torch.randint(0, 7, (9,), generator=gen)
    got = loss(h, labels).item()
    assert got == pytest.approx(
        slow_cosface(h, loss.weight.detach()[0], labels.tolist(), 16.0, 0.3), rel=1e-5
    )


def test_each_class_is_scored_by_its_nearest_subcentre():
    gen = torch.Generator().manual_seed(3)
    loss = CosFaceLoss(5, 4, scale=16.0, margin=0.3, generator=gen, groups=2, subcentres=3)
    assert loss.weight.shape == (2, 15, 2)
    h = torch.randn(11, 4, generator=gen)
    labels = torch.randint(0, 5, (11,), generator=gen)
    w = loss.weight.detach()
    expected = [
        slow_cosface(h[:, 2 * g : 2 * g + 2], w[g], labels.tolist(), 16.0, 0.3, 3) for g in (0, 1)
    ]
    assert loss(h, labels).item() == pytest.approx(sum(expected) / 2, rel=1e-5)
    assert loss.logits(h).shape == (11, 5)  # training accuracy is over people, not centres


def test_members_each_have_their_own_class_weights_and_loss():
    gen = torch.Generator().manual_seed(2)
    loss = CosFaceLoss(6, 8, scale=20.0, margin=0.25, generator=gen, groups=2)
    assert loss.weight.shape == (2, 6, 4)
    assert not torch.allclose(loss.weight[0], loss.weight[1])  # drawn apart, not copied
    h = torch.randn(5, 8, generator=gen)
    labels = torch.tensor([0, 5, 2, 2, 3])
    w = loss.weight.detach()
    expected = (
        sum(
            slow_cosface(h[:, 4 * g : 4 * g + 4], w[g], labels.tolist(), 20.0, 0.25)
            for g in range(2)
        )
        / 2
    )
    assert loss(h, labels).item() == pytest.approx(expected, rel=1e-5)
    # The logits used for training accuracy: the members' cosines, averaged.
    cos0 = torch.nn.functional.cosine_similarity(h[:, None, :4], w[0][None], dim=2)
    cos1 = torch.nn.functional.cosine_similarity(h[:, None, 4:], w[1][None], dim=2)
    torch.testing.assert_close(loss.logits(h), (cos0 + cos1) / 2)


def test_margin_makes_the_loss_larger():
    gen = torch.Generator().manual_seed(1)
    with_margin = CosFaceLoss(4, 3, margin=0.35, generator=gen)
    without = CosFaceLoss(4, 3, margin=0.0)
    without.weight.data.copy_(with_margin.weight.data)
    h, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 0, 1])
    assert with_margin(h, y) > without(h, y)
