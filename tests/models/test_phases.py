"""The Koch tower's conv + max-pool on its input's 2x2 phases is the plain layer pair.

Values, every gradient and max-pool's tie-breaking against ``nn.Conv2d`` + ``nn.MaxPool2d``
in float64, for even and odd inputs and kernels, one and several input channels, in both
memory formats; and the tower's parameters keep their names and shapes, so runs saved
before the change load.
"""

from __future__ import annotations

import copy
from unittest import mock

import pytest
import torch
from torch import nn

from siamese_faces.models.koch import KochTower
from siamese_faces.models.phases import (
    PhaseConv2d,
    PhaseMaxPool,
    blocks_pay,
    link_phases,
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


def chain(sizes: tuple[tuple[int, int, int], ...], phased: bool, seed: int) -> nn.Sequential:
    """conv + max-pool + ReLU for each (in, out, k), phased and linked as KochTower builds
    them, or plain; the same parameters for the same seed."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for c, out, k in sizes:
        if phased:
            layers += [PhaseConv2d(c, out, k), PhaseMaxPool(), nn.ReLU()]
        else:
            layers += [nn.Conv2d(c, out, k), nn.MaxPool2d(2), nn.ReLU()]
    return link_phases(nn.Sequential(*layers)).double()


def chain_grads(net: nn.Sequential, x: torch.Tensor, g: torch.Tensor) -> list[torch.Tensor]:
    net.zero_grad()
    out = net(x)
    out.backward(g)
    return [out.detach()] + [p.grad for p in net.parameters()]


STUDY = ((1, 8, 10), (8, 16, 7))  # the study's first two layers, both phased


@pytest.mark.parametrize(
    "side,sizes",
    [(125, STUDY), (105, STUDY), (29, ((1, 3, 6), (3, 4, 5))), (30, ((1, 2, 3), (2, 3, 3)))]
    + [(24, ((1, 3, 7), (3, 2, 3))), (33, ((2, 3, 4), (3, 2, 3)))],  # pooled maps 9 and 15: odd
)
def test_first_layer_on_4x4_phases_is_the_plain_chain(side, sizes):
    # Where the pooled map goes on to another phased layer, training in bf16 hands it over
    # already in 2x2 phases, from the first layer run on 4x4 phases (an odd pooled map keeps
    # 2x2): values and every gradient are the plain layers', in float64, with blocks_pay
    # forced on (it asks for bf16 autocast, whose rounding would hide an error).
    phased, plain = chain(sizes, True, seed=side), chain(sizes, False, seed=side)
    assert phased[0].feeds_phases and not phased[3].feeds_phases
    x = torch.randn(2, sizes[0][0], side, side, dtype=torch.float64)
    g = torch.randn_like(plain(x))
    seen = []
    phased[0].register_forward_hook(lambda m, i, out: seen.append(out.shape[1]))
    with mock.patch("siamese_faces.models.phases.blocks_pay", return_value=True):
        got = chain_grads(phased, x, g)
    pooled = (side - sizes[0][2] + 1) // 2
    assert seen == [(16 if pooled % 2 == 0 else 4) * sizes[0][1]]  # 4x4 phases, or 2x2
    for a, b in zip(got, chain_grads(plain, x, g), strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_4x4_phases_send_ties_where_maxpool_does():
    # As test_ties_go_where_maxpool_sends_them, through both layers.
    phased, plain = chain(((1, 4, 3), (4, 2, 3)), True, 0), chain(((1, 4, 3), (4, 2, 3)), False, 0)
    with torch.no_grad():
        for p in phased.parameters():
            p.copy_(torch.randint(-1, 2, p.shape))
        plain.load_state_dict(phased.state_dict())
    x = torch.randint(0, 2, (2, 1, 26, 26)).double()
    g = torch.randint(1, 9, plain(x).shape).double()  # integers: every sum exact, any order
    windows = plain[0](x).unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)
    assert (windows == windows.amax(-1, keepdim=True)).sum(-1).gt(1).float().mean() > 0.1
    with mock.patch("siamese_faces.models.phases.blocks_pay", return_value=True):
        got = chain_grads(phased, x, g)
    for a, b in zip(got, chain_grads(plain, x, g), strict=True):
        assert torch.equal(a, b)


def test_4x4_phases_only_for_bf16_training_on_the_cpu():
    assert not blocks_pay()  # fp32: the zero taps cost more than the pool saves
    with torch.autocast("cpu", torch.bfloat16):
        assert blocks_pay()
        with torch.no_grad():
            assert not blocks_pay()  # inference, export: 2x2 phases
    with torch.autocast("cpu", torch.float16):
        assert not blocks_pay()
    # The study's tower as built: under bf16 autocast its first layer hands over 4x4 phases,
    # and the tower's output is the plain tower's up to bf16 rounding.
    torch.manual_seed(0)
    tower = KochTower(input_size=125).to(memory_format=torch.channels_last)
    plain = plain_layers(copy.deepcopy(tower))
    seen = []
    tower.features[0].register_forward_hook(lambda m, i, out: seen.append(tuple(out.shape)))
    x = torch.rand(2, 1, 125, 125).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", torch.bfloat16):
        got, want = tower(x), plain(x)
    assert seen == [(2, 128, 29, 29)]
    torch.testing.assert_close(got.float(), want.float(), rtol=0, atol=0.02)


def test_link_phases_marks_only_a_phased_pair_before_another():
    study = KochTower(input_size=125)
    assert [m.feeds_phases for m in study.features if isinstance(m, PhaseConv2d)] == [True, False]
    with_dropout = KochTower(input_size=125, dropout=0.3)  # dropout between: still linked
    assert isinstance(with_dropout.features[3], nn.Dropout)
    assert with_dropout.features[0].feeds_phases
    koch = KochTower(input_size=105, filters=(64, 128, 128, 256))  # conv2 from 64: plain
    assert not koch.features[0].feeds_phases
    # the second pair put back plain: the first must hand over a plain map
    second_plain = plain_layers(KochTower(input_size=125), lambda conv: conv.in_channels == 8)
    assert type(second_plain.features[3]) is nn.Conv2d
    assert not second_plain.features[0].feeds_phases
