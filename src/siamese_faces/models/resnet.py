"""A small residual tower (He et al., 2016) with BatchNorm, for compact face embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dropout import UniformDropout
from .registry import register_tower
from .tapconv import TapConv2d, taps_pay


def conv3x3(cin: int, cout: int, stride: int, out_side: int) -> nn.Conv2d:
    """A 3x3 convolution, padded to keep the size; on small maps with many channels one
    that trains as a matrix product over its taps (models/tapconv.py, same parameters).
    ``out_side``: its output's side for the input the tower expects (0: not known)."""
    kind = TapConv2d if out_side and taps_pay(cin, out_side) else nn.Conv2d
    return kind(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, out_side: int = 0) -> None:
        """``out_side``: the side of the block's output maps for the input the tower expects
        (0: not known), which picks how its convolutions train (``conv3x3``)."""
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride, out_side)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout, 1, out_side)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        # The shortcut's 1x1 convolution runs at stride 1 on every stride-th pixel: the same
        # arithmetic as a strided 1x1 convolution, whose weight gradient oneDNN's AVX2 kernel
        # gets wrong for channels_last inputs of fewer channels than its block, corrupting the
        # heap with one thread (oneDNN#6035; the main job's test crashed on it, torch 2.13).
        # The pixels are taken by a 1x1 average pool, not a strided slice: the same values
        # both ways, but a slice's backward writes its gradient in NCHW order, and every
        # elementwise backward below it then mixes NCHW with channels_last, several times
        # slower (benchmarks/train_throughput.py, the default tower).
        self.stride = stride
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.skip(self.every(x)))

    def every(self, x: torch.Tensor) -> torch.Tensor:
        """Every stride-th pixel of ``x``, the shortcut's input."""
        return x if self.stride == 1 else F.avg_pool2d(x, 1, self.stride)


# Its own defaults for the net around it too: a BatchNorm tower trains well from PyTorch's
# initialisation, and its unsquashed embedding is meant for a cosine.
@register_tower("resnet", batchnorm=True, net_defaults={"init": "default", "head": "cosine"})
class ResNetTower(nn.Module):
    """stem conv(3x3, stride 2) -> one stage per ``filters`` entry (``blocks`` basic blocks,
    stride 2 from the second stage) -> global average pool -> [dropout] -> Linear(fc) -> BN.

    The embedding is not squashed: a cosine head normalises it, a distance head uses it as is.
    """

    def __init__(
        self,
        input_size: int = 64,
        filters: tuple[int, ...] = (32, 64, 128, 256),
        fc: int = 256,
        dropout: float = 0.0,
        blocks: int = 1,
        pooling: str = "average",
    ) -> None:
        super().__init__()
        if input_size < 2 ** len(filters):
            raise ValueError(
                f"model: a {input_size}x{input_size} input is too small for "
                f"{len(filters)} stages; use a larger data.size or fewer filters."
            )
        self.stem = nn.Sequential(
            nn.Conv2d(1, filters[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(filters[0]),
            nn.ReLU(inplace=True),
        )
        stages, cin, side = [], filters[0], (input_size + 1) // 2  # after the stem
        for i, cout in enumerate(filters):
            for b in range(blocks):
                stride = 2 if (i > 0 and b == 0) else 1
                side = (side + stride - 1) // stride
                stages.append(BasicBlock(cin, cout, stride, side))
                cin = cout
        self.stages = nn.Sequential(*stages)
        cells = 1
        if pooling == "flatten":
            cells = side * side  # the stem and every later stage halved it (rounding up)
            self.pool = nn.Sequential(nn.BatchNorm2d(cin), nn.Flatten())
        else:
            self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = UniformDropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(cin * cells, fc)
        self.bn = nn.BatchNorm1d(fc)
        self.embedding_dim = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, S, S) -> (B, fc)
        h = self.pool(self.stages(self.stem(x)))  # (B, C) or (B, C * cells)
        return self.bn(self.fc(self.dropout(h)))
