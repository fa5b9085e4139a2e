"""UniformDropout is nn.Dropout with another way of drawing its mask: same values, scale,
gradient and layout, and a seed still fixes it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from siamese_faces.models.dropout import UniformDropout


def test_eval_mode_and_zero_rate_pass_the_input_through():
    x = torch.randn(4, 8)
    assert torch.equal(UniformDropout(0.4).eval()(x), x)
    assert torch.equal(UniformDropout(0.0).train()(x), x)
    assert isinstance(UniformDropout(0.4), nn.Dropout)  # exporters and checks see dropout


@pytest.mark.parametrize("p", [0.1, 0.4, 0.75])
def test_keeps_each_value_with_probability_one_minus_p_scaled(p):
    torch.manual_seed(0)
    x = torch.rand(200, 1000) + 0.5  # no zeros: a zero out means dropped
    y = UniformDropout(p).train()(x)
    kept = y != 0
    # 200,000 draws: the kept share's standard error is under 0.0011
    assert abs(kept.float().mean().item() - (1 - p)) < 0.006
    assert torch.allclose(y[kept], x[kept] / (1 - p))


def test_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(1)
    x = (torch.rand(64, 256, dtype=torch.float64) + 0.5).requires_grad_()
    y = UniformDropout(0.4).train()(x)
    g = torch.randn_like(y)
    y.backward(g)
    expected = torch.where(y != 0, g / 0.6, torch.zeros_like(g))
    assert torch.allclose(x.grad, expected)


def test_seed_fixes_the_mask_and_bf16_keeps_its_dtype():
    x = torch.randn(32, 512, dtype=torch.bfloat16)
    drop = UniformDropout(0.4).train()
    torch.manual_seed(7)
    a = drop(x)
    torch.manual_seed(7)
    b = drop(x)
    assert a.dtype == torch.bfloat16 and torch.equal(a, b)
    assert not torch.equal(a, drop(x))  # the next draw differs


def test_channels_last_maps_stay_channels_last_and_inplace_writes_the_input():
    x = torch.randn(2, 8, 5, 5).contiguous(memory_format=torch.channels_last)
    y = UniformDropout(0.3).train()(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    z = x.clone()
    out = UniformDropout(0.3, inplace=True).train()(z)
    assert out.data_ptr() == z.data_ptr() and (z == 0).any()
