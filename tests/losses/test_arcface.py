import math

import pytest
import torch

from siamese_faces.losses.arcface import ArcFaceLoss
from siamese_faces.losses.cosface import CosFaceLoss

from .test_cosface import slow_margin_softmax


def slow_arcface(h, w, labels, s, m, subcentres=1):
    """The paper's loss written out: the true class's logit is s*cos(theta + m), by angle."""

    def margined(cos):
        theta = math.acos(max(-1.0, min(1.0, cos)))
        # Past pi - m the angle would wrap round; insightface's linear continuation.
        return math.cos(theta + m) if theta + m < math.pi else cos - m * math.sin(m)

    return slow_margin_softmax(h, w, labels, s, margined, subcentres)


def test_arcface_matches_a_slow_loop():
    gen = torch.Generator().manual_seed(0)
    loss = ArcFaceLoss(7, 5, scale=16.0, margin=0.5, generator=gen)
    h = torch.randn(40, 5, generator=gen)
    labels = torch.randint(0, 7, (40,), generator=gen)
    w = loss.weight.detach()[0]
    # Some rows far past pi - m from their class centre, so both branches are checked.
    h[:5] = -w[labels[:5]] + 0.05 * torch.randn(5, 5, generator=gen)
    got = loss(h, labels).item()
    assert got == pytest.approx(slow_arcface(h, w, labels.tolist(), 16.0, 0.5), rel=1e-5)


def test_subcentres_take_the_margin_on_the_nearest_centre():
    gen = torch.Generator().manual_seed(4)
    loss = ArcFaceLoss(4, 5, scale=16.0, margin=0.5, generator=gen, subcentres=2)
    h = torch.randn(12, 5, generator=gen)
    labels = torch.randint(0, 4, (12,), generator=gen)
    w = loss.weight.detach()[0]
    got = loss(h, labels).item()
    assert got == pytest.approx(slow_arcface(h, w, labels.tolist(), 16.0, 0.5, 2), rel=1e-5)


def test_members_share_cosface_mechanics():
    gen = torch.Generator().manual_seed(2)
    loss = ArcFaceLoss(6, 8, scale=20.0, margin=0.3, generator=gen, groups=2)
    h = torch.randn(5, 8, generator=gen)
    labels = torch.tensor([0, 5, 2, 2, 3])
    w = loss.weight.detach()
    expected = sum(
        slow_arcface(h[:, 4 * g : 4 * g + 4], w[g], labels.tolist(), 20.0, 0.3) for g in range(2)
    )
    assert loss(h, labels).item() == pytest.approx(expected / 2, rel=1e-5)


def test_the_logit_falls_with_the_angle_and_has_finite_gradients():
    loss = ArcFaceLoss(2, 2, margin=0.5)
    cos = torch.linspace(-1.0, 1.0, 2001, dtype=torch.float64, requires_grad=True)
    logit = loss.target_logit(cos)
    assert bool((logit.diff() > 0).all())  # higher cosine, higher logit: no wrap-round
    (grad,) = torch.autograd.grad(logit.sum(), cos)
    assert bool(torch.isfinite(grad).all())  # cos = 1 exactly included
    assert bool((logit <= cos).all())  # the margin only ever penalises


def test_zero_margin_is_the_plain_softmax_as_in_cosface():
    gen = torch.Generator().manual_seed(1)
    arc = ArcFaceLoss(4, 3, margin=0.0, generator=gen)
    cos = CosFaceLoss(4, 3, margin=0.0)
    cos.weight.data.copy_(arc.weight.data)
    h, y = torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 0, 1])
    assert arc(h, y).item() == pytest.approx(cos(h, y).item(), rel=1e-5)
