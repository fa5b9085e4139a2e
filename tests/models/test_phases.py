"""The Koch tower's first conv + max-pool on the image's 2x2 phases is the plain layer pair.

Values, every gradient and max-pool's tie-breaking against ``nn.Conv2d`` + ``nn.MaxPool2d``
in float64, for even and odd inputs and kernels, in both memory formats; and the tower's
parameters keep their names and shapes, so runs saved before the change load.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from siamese_faces.models.koch import KochTower
from siamese_faces.models.phases import PhaseConv2d, PhaseMaxPool, phase_taps, plain_layers


def pair(out: int, k: int, seed: int) -> tuple[nn.Sequential, nn.Sequential]:
    torch.manual_seed(seed)
    phased = nn.Sequential(PhaseConv2d(out, k), PhaseMaxPool()).double()
    plain = nn.Sequential(nn.Conv2d(1, out, k), nn.MaxPool2d(2)).double()
    plain[0].load_state_dict(phased[0].state_dict())
    return phased, plain


def grads(net: nn.Sequential, x: torch.Tensor, g: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_()
    net.zero_grad()
    out = net(x)
    out.backward(g)
    return [out.detach(), x.grad, net[0].weight.grad, net[0].bias.grad]


@pytest.mark.parametrize(
    "side,k,out", [(125, 10, 8), (105, 10, 5), (24, 7, 3), (23, 4, 2), (9, 3, 2)]
)
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_same_values_and_gradients_as_conv_then_maxpool(side, k, out, fmt):
    phased, plain = pair(out, k, seed=side + k)
    x = torch.randn(3, 1, side, side, dtype=torch.float64).contiguous(memory_format=fmt)
    m = (side - k + 1) // 2
    g = torch.randn(3, out, m, m, dtype=torch.float64)
    for got, want in zip(grads(phased, x, g), grads(plain, x, g), strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_ties_go_where_maxpool_sends_them():
    # Integer images and weights make the four values of a window tie often; max-pool gives
    # the gradient to the first of them (row-major in the window), and so must the phases.
    phased, plain = pair(4, 3, seed=0)
    with torch.no_grad():
        phased[0].weight.copy_(torch.randint(-1, 2, phased[0].weight.shape))
        phased[0].bias.zero_()
        plain[0].load_state_dict(phased[0].state_dict())
    x = torch.randint(0, 2, (2, 1, 12, 12)).double()
    g = torch.randint(1, 9, (2, 4, 5, 5)).double()  # integers: every sum exact, any order
    windows = plain[0](x).unfold(2, 2, 2).unfold(3, 2, 2).reshape(2, 4, 5, 5, 4)
    assert (windows == windows.amax(-1, keepdim=True)).sum(-1).gt(1).float().mean() > 0.3
    for got, want in zip(grads(phased, x, g), grads(plain, x, g), strict=True):
        assert torch.equal(got, want)


def test_taps_cover_every_kernel_weight_once_per_output_phase():
    for k in (3, 4, 7, 10):
        taps = phase_taps(k)  # (p, q, r, r', sy, sx)
        for p in range(2):
            for q in range(2):
                used = taps[p, q][taps[p, q] >= 0]
                assert sorted(used.tolist()) == list(range(k * k))


def test_tower_keeps_parameter_names_and_shapes():
    torch.manual_seed(1)
    tower = KochTower(input_size=125).double()
    assert isinstance(tower.features[0], PhaseConv2d)
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

    tower = KochTower(input_size=29, filters=(4, 8), kernels=(6, 3), pool_layers=2, fc=16).eval()
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
