"""A convolution followed by a 2x2 max-pool, computed on its input's 2x2 phases.

The study's tower starts with a 10x10 convolution on a grey image (1 channel in, 8 out), a
shape oneDNN runs far below its speed: its weight gradient alone took more time than the
rest of the step's convolutions together (benchmarks/study_layers.py). Its second layer, 7x7
from 8 channels, is the same kind of shape: too few input channels for the bf16 matrix
units, whose tiles reduce over 32 at a time. The same arithmetic fits a friendlier shape.
Split the input into its four 2x2 phases (space-to-depth: 4 times the channels at half the
size) and each output pixel of the phase a 2x2 max-pool window holds, (p, q), is a
(k//2 + 1)-square convolution of those phases with the kernel's taps spread over them
(zeros where a tap falls outside the kernel). So ``PhaseConv2d`` gives, for every pooled
pixel, the four values the max-pool compares (4 x out channels), and ``PhaseMaxPool``
takes their maximum. The values are the original layer's up to float rounding; the
parameters are ``nn.Conv2d``'s, by name and shape, so saved runs load. The zero taps cost
(2 (k//2 + 1))^2 / k^2 times the multiplications (1.44 at k = 10, 1.31 at 7, 2.25 at 4):
``phasing_pays`` says where the better shape wins.

Where the pooled map goes on to another phased layer, training in bf16 on the CPU takes the
first layer on its input's 4x4 phases instead: each output pixel then holds a 2x2 block of
pooled pixels, their four pooling windows each. The max-pool then compares groups of 4 x out
channels rather than out (ATen's channels_last kernel vectorises over them: 32 bf16 values
fill a vector, 8 do not), and its output is the pooled map already cut into the next layer's
2x2 phases, so that layer's own copy into phases goes too. More zero taps (2.56x the
multiplications at k = 10), and still a faster step in bf16 (README, design notes).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

PHASES = 4  # a 2x2 pooling window holds one pixel of each of the image's 2x2 phases


def phase_taps(k: int, n: int = 2) -> torch.Tensor:
    """(n, n, n, n, s, s) index into a flattened k x k kernel, -1 where no tap lands.

    Dims: output phase (p, q), input phase (r, r'), offset (sy, sx) on the 1/n-size grid;
    the tap is (n sy + r - p, n sx + r' - q).
    """
    s = (k + n - 2) // n + 1  # k // 2 + 1 for n = 2
    p, q, r, rr, sy, sx = torch.meshgrid(
        *(torch.arange(m) for m in (n, n, n, n, s, s)), indexing="ij"
    )
    ky, kx = n * sy + r - p, n * sx + rr - q
    inside = (ky >= 0) & (ky < k) & (kx >= 0) & (kx < k)
    return torch.where(inside, ky * k + kx, -1)


def phasing_pays(in_channels: int, k: int) -> bool:
    """Whether a conv from ``in_channels`` with a k x k kernel, then a 2x2 max-pool, runs on
    its input's phases (``PhaseConv2d``). Measured in bf16 on an AMX Xeon for the study's
    layers: a grey input always (docs/measurements/study_layers.txt), 8 channels at k = 7
    (its zero taps: 1.31x), not 16 channels at k = 4 (2.25x: slower); with 32 channels or
    more a tile is already full, and nothing is left to win."""
    return in_channels == 1 or (in_channels < 32 and (2 * (k // 2 + 1)) ** 2 <= 1.5 * k * k)


def space_to_depth(x: torch.Tensor, n: int = 2) -> torch.Tensor:
    """(B, C, H, W) -> (B, n²C, ceil(H/n), ceil(W/n)) in channels_last memory, channel
    (n r + r') * C + c holding x[:, c, r::n, r'::n] (a side is padded with zeros to a
    multiple of n)."""
    b, c = x.shape[:2]
    x = F.pad(x, (0, -x.shape[-1] % n, 0, -x.shape[-2] % n))
    h, w = x.shape[-2] // n, x.shape[-1] // n
    if not x.requires_grad:
        # A strided copy a phase: the fastest forward on a grey image, whose runs are single
        # pixels; but its backward zero-fills a copy of the whole input for each phase.
        phases = torch.cat([x[:, :, r::n, rr::n] for r in range(n) for rr in range(n)], 1)
        return phases.contiguous(memory_format=torch.channels_last)
    # One copy, and one copy back in the backward: channels_last memory (b, i, r, j, r', c)
    # to (b, i, j, r, r', c).
    v = x.permute(0, 2, 3, 1).reshape(b, h, n, w, n * c).transpose(2, 3)
    return v.reshape(b, h, w, n * n * c).permute(0, 3, 1, 2)


def blocks_pay() -> bool:
    """Whether a phased layer whose pooled map feeds another takes its input's 4x4 phases:
    while training under the CPU's bf16 autocast. Measured on the study's first layer on an
    AMX Xeon (README, design notes): its step 1.15x as fast in bf16, 0.95x in fp32 (the zero
    taps cost more than the pool saves), so fp32, inference and export keep 2x2 phases."""
    return (
        torch.is_grad_enabled()
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
    )


class PhaseConv2d(nn.Conv2d):
    """``nn.Conv2d(in, out, k)`` whose output is already cut into 2x2 pooling windows.

    Returns (B, 4 * out, m // 2, m // 2) for m = H - k + 1: channel (2p + q) * out + o holds
    the layer's output o at pixel (2i + p, 2j + q). Takes x as an image or as its 2x2 phases
    (4 * in channels, ``space_to_depth``'s order: what the previous layer hands over when its
    ``feeds_phases`` is set). With ``feeds_phases`` set, and where ``blocks_pay``, it returns
    (B, 16 * out, m // 4, m // 4) instead: channel ((2p + q) * 4 + 2a + a') * out + o holds
    output o at pixel (4i + 2a + p, 4j + 2a' + q), so that ``PhaseMaxPool`` gives the pooled
    map cut into its 2x2 phases (a, a').
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias=bias)
        self.register_buffer("taps", phase_taps(kernel_size), persistent=False)
        self.register_buffer("block_taps", phase_taps(kernel_size, 4), persistent=False)
        # Set by ``link_phases`` where the pooled map goes on to another PhaseConv2d.
        self.feeds_phases = False

    def phase_weight(self, blocks: bool = False) -> torch.Tensor:
        o, c = self.out_channels, self.in_channels
        taps = self.block_taps if blocks else self.taps
        # (o, c, p, q, r, r', sy, sx): output phase (p, q), input phase (r, r')
        flat = self.weight.reshape(o, c, -1)[:, :, taps.clamp(min=0)]
        flat = torch.where(taps >= 0, flat, flat.new_zeros(()))
        n, s = taps.shape[0], taps.shape[-1]
        if blocks:  # a 4x4 output phase (2a + p, 2a' + q): rows (p, q, a, a', o)
            flat = flat.reshape(o, c, 2, 2, 2, 2, n, n, s, s)
            rows = flat.permute(3, 5, 2, 4, 0, 6, 7, 1, 8, 9)
        else:  # rows (p, q, o)
            rows = flat.permute(2, 3, 0, 4, 5, 1, 6, 7)
        # columns (r, r', c), as space_to_depth's
        w = rows.reshape(n * n * o, n * n * c, s, s)
        return w.contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        handed = x.shape[1] == PHASES * self.in_channels  # the previous layer's 2x2 phases
        side = x.shape[-2:]
        if handed:
            side = (2 * side[0], 2 * side[1])  # the previous layer gives even maps only
        pooled = tuple((n - k + 1) // 2 for n, k in zip(side, self.kernel_size, strict=True))
        # 4x4 phases only for an even pooled map: its 2x2 phases then pad nothing
        blocks = (
            self.feeds_phases
            and not handed
            and pooled[0] % 2 == 0
            and pooled[1] % 2 == 0
            and blocks_pay()
        )
        n = 4 if blocks else 2
        phases = x if handed else space_to_depth(x, n)
        bias = None if self.bias is None else self.bias.repeat(n * n)
        y = F.conv2d(phases, self.phase_weight(blocks), bias)
        want = (pooled[0] // 2, pooled[1] // 2) if blocks else pooled
        if tuple(y.shape[-2:]) != want:  # max-pool drops an odd conv output's last row
            y = y[:, :, : want[0], : want[1]].contiguous(memory_format=torch.channels_last)
        return y


def phase_max(rows: torch.Tensor) -> torch.Tensor:
    """(n, 4, o) -> (n, o): the maximum over the four phases, as three elementwise maxima."""
    return torch.maximum(
        torch.maximum(rows[:, 0], rows[:, 1]), torch.maximum(rows[:, 2], rows[:, 3])
    )


class PhaseMaxPool(nn.Module):
    """Max over the four phases of ``PhaseConv2d``'s output: its layer's 2x2 max-pool.

    In channels_last memory the four phases of a pooled pixel lie side by side. Training runs
    ATen's channels_last max-pool over a (1, 4) window of that memory, so values, gradients
    and tie-breaking are ``nn.MaxPool2d(2)``'s (tested). Without a gradient three elementwise
    maxima give the same values faster: ATen's kernel vectorises over the few output channels
    and writes an int64 index an output (README, design notes).
    """

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        b, c, h, w = y.shape
        o = c // PHASES
        pixels = y.permute(0, 2, 3, 1)  # channels_last memory: (b, h, w, phase * o)
        if torch.is_grad_enabled() and y.requires_grad:
            # the same memory seen as a (b*h, o, w, phase) channels_last image
            v = pixels.reshape(b * h, w, PHASES, o).permute(0, 3, 1, 2)
            pooled = F.max_pool2d(v, (1, PHASES)).permute(0, 2, 3, 1)  # (b*h, w, 1, o)
        else:
            pooled = phase_max(pixels.reshape(b * h * w, PHASES, o))
        return pooled.reshape(b, h, w, o).permute(0, 3, 1, 2)


ELEMENTWISE = (nn.ReLU, nn.Dropout)  # what may lie between one phased pair and the next


def link_phases(seq: nn.Sequential) -> nn.Sequential:
    """Set ``feeds_phases`` on each phased conv whose pooled map reaches another PhaseConv2d
    through elementwise layers only (those keep any memory order), and clear it elsewhere."""
    layers = list(seq)
    for i, conv in enumerate(layers):
        if not (isinstance(conv, PhaseConv2d) and i + 1 < len(layers)):
            continue
        rest = (m for m in layers[i + 2 :] if not isinstance(m, ELEMENTWISE))
        conv.feeds_phases = isinstance(layers[i + 1], PhaseMaxPool) and isinstance(
            next(rest, None), PhaseConv2d
        )
    return seq


def plain_layers(
    net: nn.Module, which: Callable[[PhaseConv2d], bool] = lambda conv: True
) -> nn.Module:
    """``net`` with each phased conv + max-pool (those ``which`` accepts) put back as
    ``nn.Conv2d`` + ``nn.MaxPool2d`` (the same parameters): what benchmarks time against, and
    what FLOP counts describe, since the phased convolution also multiplies the zero taps its
    layout adds."""
    for seq in net.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            phased = seq[i]
            if isinstance(phased, PhaseConv2d) and isinstance(seq[i + 1], PhaseMaxPool):
                if not which(phased):
                    continue
                conv = nn.Conv2d(
                    phased.in_channels,
                    phased.out_channels,
                    phased.kernel_size,
                    bias=phased.bias is not None,
                )
                conv.load_state_dict(phased.state_dict())
                seq[i] = conv.to(phased.weight.device, phased.weight.dtype)
                seq[i + 1] = nn.MaxPool2d(2)
        link_phases(seq)  # a phased layer before a plain one hands over a plain map
    return net
