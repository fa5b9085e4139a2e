"""Where the residual tower's 3x3 convolutions train fastest: oneDNN's kernel or a product
over the taps (models/tapconv.py).

    python benchmarks/tower_layers.py [--preset default] [--batch 128] [--threads 2] [--repeats 10]

Times each distinct 3x3 convolution of the preset's tower (found by running it once),
forward + backward with the input's gradient and a dense output gradient, as
``nn.Conv2d`` and as ``TapConv2d``, in bf16 and fp32, channels_last, on a batch of faces
(the identity recipes train on 128 a step), and marks the form the tower trains with
(``taps_pay``), so the rule can be checked on another machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from study_layers import layer_timing_args, ms  # noqa: E402

from siamese_faces.config import load_file, preset_path  # noqa: E402
from siamese_faces.models import model_from_config  # noqa: E402
from siamese_faces.models.tapconv import TapConv2d, taps_pay  # noqa: E402
from siamese_faces.runtime import autocast  # noqa: E402


def tower_convs(preset: str) -> list[tuple[int, int, int, int]]:
    """(in channels, out channels, stride, input side) of each distinct 3x3 convolution."""
    cfg = load_file(preset_path(preset))
    net = model_from_config(cfg, torch.Generator().manual_seed(0))
    found: dict[tuple[int, int, int, int], None] = {}

    def note(conv, args, _out):
        if conv.kernel_size == (3, 3):
            shape = (conv.in_channels, conv.out_channels, conv.stride[0], args[0].shape[-1])
            found[shape] = None

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(note)
    s = cfg.data.size
    with torch.no_grad():
        net.eval().tower(torch.rand(2, 1, s, s))
    return list(found)


def conv_ms(shape, tapped: bool, bf16: bool, n: int, repeats: int) -> float:
    cin, cout, stride, side = shape
    kind = TapConv2d if tapped else nn.Conv2d
    conv = kind(cin, cout, 3, stride, 1, bias=False).to(memory_format=torch.channels_last)
    dtype = torch.bfloat16 if bf16 else torch.float32
    x = torch.randn(n, cin, side, side, dtype=dtype).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    with autocast(x.device, bf16):
        grad = torch.randn_like(conv(x))

    def both():
        conv.zero_grad()
        x.grad = None
        with autocast(x.device, bf16):
            y = conv(x)
        y.backward(grad)

    return ms(both, repeats)


def main() -> int:
    args = layer_timing_args(__doc__, 128, "faces a step", preset="default")
    for bf16 in (True, False):
        for shape in tower_convs(args.preset):
            cin, cout, stride, side = shape
            out_side = (side + stride - 1) // stride
            shipped = taps_pay(cin, out_side)
            cells = [
                f"{name}{'*' if tapped == shipped else ' '} "
                f"{conv_ms(shape, tapped, bf16, args.batch, args.repeats):6.1f}"
                for name, tapped in (("conv", False), ("taps", True))
            ]
            print(
                f"{'bf16' if bf16 else 'fp32'} {cin:>3}->{cout:<3} stride {stride} at "
                f"{side:>2}x{side:<2}: {'   '.join(cells)} ms forward + backward "
                "(* as the tower trains it)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
