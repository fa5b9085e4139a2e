"""The Koch tower's conv + max-pool on its input's 2x2 phases is the plain layer pair.

Values, every gradient and max-pool's tie-breaking against ``nn.Conv2d`` + ``nn.MaxPool2d``
in float64, for even and odd inputs and kernels, one and several input channels, in both
memory formats; and the tower's parameters keep their names and shapes, so runs saved
before the change load.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from siamese_faces.models.koch import KochTower
from siamese_faces.models.phases import (
    PhaseConv2d,
    PhaseMaxPool,
    phase_taps,
    phasing_pays,
    plain_layers,
    space_to_depth,
)


def pair(c: int, out: int, k: int, seed: int) -> tuple[nn.Sequential, nn.Sequential]:
    torch.manual_seed(seed)
    phased = nn.Sequential(PhaseConv2d(c, out, k), PhaseMaxPool()).double()
    plain = nn.Sequential(nn.Conv2d(c, out, k), nn.MaxPool2d(2)).double()
    plain[0].load_state_dict(phased[0].state_dict())
    return phased, plain


def grads(net: nn.Sequential, x: torch.Tensor, g: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_()
    net.zero_grad()
    out = net(x)
    out.backward(g)
    return [out.detach(), x.grad, net[0].weight.grad, net[0].bias.grad]


@pytest.mark.parametrize(
    "side,c,k,out",
    [(125, 1, 10, 8), (105, 1, 10, 5), (24, 1, 7, 3), (23, 1, 4, 2), (9, 1, 3, 2)]
    + [(58, 8, 7, 4), (21, 3, 7, 2), (16, 2, 4, 3), (11, 5, 3, 2)],
)
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_same_values_and_gradients_as_conv_then_maxpool(side, c, k, out, fmt):
    phased, plain = pair(c, out, k, seed=side + k)
    x = torch.randn(3, c, side, side, dtype=torch.float64).contiguous(memory_format=fmt)
    m = (side - k + 1) // 2
    g = torch.randn(3, out, m, m, dtype=torch.float64)
    for got, want in zip(grads(phased, x, g), grads(plain, x, g), strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_without_gradient_the_same_values_as_with_one(dtype, fmt):
    # Inference takes elementwise maxima; training runs ATen's max-pool (the test above ties
    # it to nn.MaxPool2d): on the same conv output both give the same values, exactly, in
    # bf16 as well (a maximum rounds nothing), in the same channels_last memory.
    for side, c, k, out in [(125, 1, 10, 8), (23, 1, 4, 2), (58, 8, 7, 4), (11, 5, 3, 2)]:
        phased, _ = pair(c, out, k, seed=side)
        x = torch.randn(2, c, side, side, dtype=torch.float64).contiguous(memory_format=fmt)
        y = phased[0](x).detach().to(dtype)  # the conv's output, cut into pooling windows
        want = phased[1](y.clone().requires_grad_())
        with torch.no_grad():
            got = phased[1](y)
        assert torch.equal(got, want.detach())
        assert got.stride() == want.stride()


@pytest.mark.parametrize("c", [1, 3])
def test_ties_go_where_maxpool_sends_them(c):
    # Integer images and weights make the four values of a window tie often; max-pool gives
    # the gradient to the first of them (row-major in the window), and so must the phases.
    phased, plain = pair(c, 4, 3, seed=0)
    with torch.no_grad():
        phased[0].weight.copy_(torch.randint(-1, 2, phased[0].weight.shape))
        phased[0].bias.zero_()
        plain[0].load_state_dict(phased[0].state_dict())
    x = torch.randint(0, 2, (2, c, 12, 12)).double()
    g = torch.randint(1, 9, (2, 4, 5, 5)).double()  # integers: every sum exact, any order
    windows = plain[0](x).unfold(2, 2, 2).unfold(3, 2, 2).reshape(2, 4, 5, 5, 4)
    # a tenth of the windows or more tie (about 20% with three channels, 30% with one)
    assert (windows == windows.amax(-1, keepdim=True)).sum(-1).gt(1).float().mean() > 0.1
    for got, want in zip(grads(phased, x, g), grads(plain, x, g), strict=True):
        assert torch.equal(got, want)


def test_taps_cover_every_kernel_weight_once_per_output_phase():
    for k in (3, 4, 7, 10):
        taps = phase_taps(k)  # (p, q, r, r', sy, sx)
        for p in range(2):
            for q in range(2):
                used = taps[p, q][taps[p, q] >= 0]
                assert sorted(used.tolist()) == list(range(k * k))


@pytest.mark.parametrize("needs_grad", [False, True])  # two ways to the same copy
def test_space_to_depth_puts_each_phase_in_its_channels(needs_grad):
    x = torch.randn(2, 3, 7, 6).contiguous(memory_format=torch.channels_last)
    s = space_to_depth(x.requires_grad_(needs_grad)).detach()
    assert s.shape == (2, 12, 4, 3) and s.is_contiguous(memory_format=torch.channels_last)
    padded = torch.nn.functional.pad(x, (0, 0, 0, 1))  # the odd side gets a row of zeros
    for r in range(2):
        for rr in range(2):
            phase = 2 * r + rr
            assert torch.equal(s[:, 3 * phase : 3 * phase + 3], padded[:, :, r::2, rr::2])


def test_phasing_pays_where_measured():
    # benchmarks/study_layers.py: the study's conv1 and conv2 run faster phased, conv3 not
    assert phasing_pays(1, 10) and phasing_pays(8, 7)
    assert not phasing_pays(16, 4) and not phasing_pays(64, 7)


def test_tower_keeps_parameter_names_and_shapes():
    torch.manual_seed(1)
    tower = KochTower(input_size=125).double()
    kinds = [type(m) for m in tower.features if not isinstance(m, nn.ReLU)]
    # study2019's layers: conv1 and conv2 phased, conv3 plain (its 4x4 kernel), conv4 no pool
    phased_pair, plain_pair = [PhaseConv2d, PhaseMaxPool], [nn.Conv2d, nn.MaxPool2d]
    assert kinds == phased_pair * 2 + plain_pair + [nn.Conv2d]
    assert type(KochTower(input_size=125, batchnorm=True).features[0]) is nn.Conv2d  # BN between
    # The tower as it was built before: plain layers at the same places.
    plain = plain_layers(KochTower(input_size=125).double())
    assert type(plain.features[0]) is nn.Conv2d and type(plain.features[1]) is nn.MaxPool2d
    assert not any(isinstance(m, (PhaseConv2d, PhaseMaxPool)) for m in plain.modules())
    shapes = {name: tuple(p.shape) for name, p in tower.state_dict().items()}
    assert shapes == {name: tuple(p.shape) for name, p in plain.state_dict().items()}
    plain.load_state_dict(tower.state_dict())  # a run saved by either loads in the other
    x = torch.rand(2, 1, 125, 125, dtype=torch.float64)
    torch.testing.assert_close(tower(x), plain(x), rtol=1e-12, atol=1e-12)


def test_phased_tower_exports_to_onnx_for_any_batch(tmp_path):
    ort = pytest.importorskip(
        "onnxruntime", reason="export checks need onnxruntime (the [onnx] extra)"
    )
    import warnings

    tower = KochTower(input_size=29, filters=(4, 8), kernels=(6, 5), pool_layers=2, fc=16).eval()
    assert sum(isinstance(m, PhaseConv2d) for m in tower.modules()) == 2  # grey and not
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            tower,
            (torch.rand(4, 1, 29, 29),),
            tmp_path / "t.onnx",
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch"}},
            opset_version=17,
        )
    session = ort.InferenceSession(str(tmp_path / "t.onnx"))
    for batch in (1, 5):
        x = torch.rand(batch, 1, 29, 29)
        with torch.no_grad():
            want = tower(x).numpy()
        got = session.run(None, {"x": x.numpy()})[0]
        assert got.shape == want.shape and abs(got - want).max() < 1e-5
