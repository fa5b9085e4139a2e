"""A convolution trained as one matrix product over its taps (models/tapconv.py) computes
what nn.Conv2d computes, values and gradients, and is nn.Conv2d everywhere but training."""

import pytest
import torch
from torch import nn

from siamese_faces.models.heads import CosineHead
from siamese_faces.models.resnet import ResNetTower
from siamese_faces.models.siamese import SiameseNet, for_inference
from siamese_faces.models.tapconv import TapConv2d, plain_convs, taps_pay


def _pair(cin, cout, k, stride, bias, seed=0):
    """A TapConv2d and an nn.Conv2d with the same weights, in float64."""
    tap = TapConv2d(cin, cout, k, stride, k // 2, bias=bias).double()
    ref = nn.Conv2d(cin, cout, k, stride, k // 2, bias=bias).double()
    ref.load_state_dict(tap.state_dict())
    return tap, ref


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("side", [4, 5])
@pytest.mark.parametrize(("k", "bias"), [(3, False), (3, True), (5, False)])
def test_values_and_gradients_equal_a_convolutions(stride, side, k, bias):
    tap, ref = _pair(6, 10, k, stride, bias)
    gen = torch.Generator().manual_seed(side * 10 + stride)
    x = torch.randn(3, 6, side, side, generator=gen, dtype=torch.float64)
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    ref_x = x.detach().clone().requires_grad_()
    y, want = tap(x), ref(ref_x)
    assert y.shape == want.shape and torch.allclose(y, want, atol=1e-12)
    assert y.is_contiguous(memory_format=torch.channels_last)
    r = torch.randn(want.shape, generator=gen, dtype=torch.float64)  # sum(): a flat gradient
    (y * r).sum().backward()
    (want * r).sum().backward()
    assert torch.allclose(x.grad, ref_x.grad, atol=1e-12)
    # channels_last back: the elementwise backwards below it keep their fast path
    assert x.grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(tap.weight.grad, ref.weight.grad, atol=1e-12)
    if bias:
        assert torch.allclose(tap.bias.grad, ref.bias.grad, atol=1e-12)


def test_under_bf16_autocast_it_rounds_as_the_convolution_does():
    tap, ref = _pair(128, 32, 3, 1, False)
    tap, ref = tap.float(), ref.float()
    x = torch.randn(4, 128, 4, 4, generator=torch.Generator().manual_seed(1))
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, want = tap(x), ref(x)
    assert y.dtype == want.dtype == torch.bfloat16
    # both multiply bf16 inputs and accumulate in fp32; only the order of the sums differs
    assert torch.allclose(y.float(), want.float(), rtol=2e-2, atol=2e-2)
    y.float().sum().backward()
    assert tap.weight.grad.dtype == torch.float32  # the parameter's own, as for a conv


def test_outside_training_it_is_the_convolution_itself():
    tap, ref = _pair(4, 4, 3, 2, True)
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
    tap.train()  # an NCHW input: the convolution's path, bit for bit
    assert torch.equal(tap(x), ref(x))
    tap.eval()
    x = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(tap(x), ref(x))


def test_it_refuses_a_shape_it_does_not_compute():
    with pytest.raises(ValueError, match="odd kernel"):
        TapConv2d(4, 4, 4, 1, 2)
    with pytest.raises(ValueError, match="use nn.Conv2d"):
        TapConv2d(4, 4, 3, 1, 0)


def test_the_tower_trains_its_last_stage_so_and_keeps_its_parameter_names():
    tower = ResNetTower(64, pooling="flatten")
    tapped = [name for name, m in tower.named_modules() if isinstance(m, TapConv2d)]
    assert tapped == ["stages.3.conv1", "stages.3.conv2"]  # 128 and 256 channels, 4x4 maps
    assert all(taps_pay(tower.get_submodule(n).in_channels, 4) for n in tapped)
    assert not taps_pay(64, 8) and not taps_pay(128, 8)  # measured: no gain there
    plain = plain_convs(ResNetTower(64, pooling="flatten"))
    assert not any(isinstance(m, TapConv2d) for m in plain.modules())
    assert tower.state_dict().keys() == plain.state_dict().keys()  # saved runs load


def test_the_inference_copy_folds_the_batchnorm_after_it():
    torch.manual_seed(0)
    net = SiameseNet(ResNetTower(32, filters=(8, 16, 128, 128), fc=16), CosineHead(16))
    assert isinstance(net.tower.stages[3].conv1, TapConv2d)
    net = net.to(memory_format=torch.channels_last)
    x = torch.rand(6, 1, 32, 32).contiguous(memory_format=torch.channels_last)
    net.train()
    net.tower(x).sum().backward()  # one training pass through the tap product
    net.eval()
    fast = for_inference(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.tower.modules())
    with torch.no_grad():
        assert torch.allclose(fast.tower(x), net.tower(x), atol=1e-4)
    assert isinstance(net.tower.stages[3].conv1, TapConv2d)  # the copy's, not the net's
