import math

import pytest
import torch

from siamese_faces.losses.adaface import ALPHA, AdaFaceLoss, H

from .test_cosface import slow_margin_softmax


def slow_adaface(h, w, labels, s, m, mean, std):
    """The paper's loss written out, face by face, with the norms' statistics given."""
    total = 0.0
    for i in range(len(h)):
        q = max(-1.0, min(1.0, (float(h[i].norm()) - mean) / (std + 1e-3) * H))

        def margined(cos, q=q):
            theta = math.acos(max(-1 + 1e-6, min(1 - 1e-6, cos)))
            theta = max(1e-6, min(math.pi - 1e-6, theta - m * q))
            return math.cos(theta) - m * (q + 1)

        total += slow_margin_softmax(h[i : i + 1], w, labels[i : i + 1], s, margined)
    return total / len(h)


def test_adaface_matches_a_slow_loop_and_tracks_the_norms():
    gen = torch.Generator().manual_seed(0)
    loss = AdaFaceLoss(6, 5, scale=16.0, margin=0.4, generator=gen)
    # Norms spread around 20, so faces fall on both sides of the mean and some get clipped.
    h = torch.randn(12, 5, generator=gen)
    h = h / h.norm(dim=1, keepdim=True) * torch.linspace(2, 60, 12)[:, None]
    labels = torch.randint(0, 6, (12,), generator=gen)
    norms = h.norm(dim=1)
    mean = (1 - ALPHA) * 20.0 + ALPHA * float(norms.mean())  # this batch taken in first
    std = (1 - ALPHA) * 100.0 + ALPHA * float(norms.std())
    got = loss(h, labels).item()
    w = loss.weight.detach()[0]
    assert got == pytest.approx(slow_adaface(h, w, labels.tolist(), 16.0, 0.4, mean, std), rel=1e-5)
    assert loss.norm_mean.item() == pytest.approx(mean) and loss.norm_std.item() == pytest.approx(
        std
    )
    loss.eval()  # no update outside training
    loss(h, labels)
    assert loss.norm_mean.item() == pytest.approx(mean)


def test_the_margin_follows_the_norm():
    gen = torch.Generator().manual_seed(1)
    loss = AdaFaceLoss(3, 4, scale=16.0, margin=0.4, generator=gen).eval()
    loss.norm_mean.fill_(10.0)
    loss.norm_std.fill_(3.0)
    direction = torch.nn.functional.normalize(torch.randn(1, 4, generator=gen), dim=1)
    y = torch.tensor([0])
    clear, unclear = loss(direction * 40, y), loss(direction * 0.1, y)
    assert clear > unclear  # a clear face gets the larger margin: a harder target
    assert (
        loss.quality(direction * 40).item() == 1.0 and loss.quality(direction * 0.1).item() == -1.0
    )
    (loss(direction.clone().requires_grad_() * 20, y)).backward()  # finite gradients
    assert loss.weight.grad.isfinite().all()
