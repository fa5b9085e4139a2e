"""A convolution on a small feature map as one matrix product over its kernel's taps.

The residual tower's last stage convolves 128-256 channels on 4x4 maps. oneDNN runs the
backward of such a layer (bf16, channels_last, on the CPU) well below the speed of the same
arithmetic written as a matrix product: on a 2-core Intel Xeon with AMX, the 256 -> 256 3x3
convolution on 4x4 maps took 15.5 ms forward + backward for a batch of 128, against 10.6 ms
as below (``python benchmarks/tower_layers.py``, docs/measurements/tower_layers.txt). The
same arithmetic: lay the k x k neighbourhood of every output pixel side by side in
channels_last memory (im2col, B*H*W rows of k*k*C values), and the layer is one
(B*H*W, k*k*C) x (k*k*C, O) product, its weight gradient the transposed product with the
output's gradient, and (stride 1) its input gradient the same im2col of the output's
gradient times the flipped weights. It only pays where the maps are small and the channels
many (``taps_pay``); on larger maps oneDNN's direct kernels win and the copies cost more.

Only training takes this path: in eval mode a ``TapConv2d`` is ``nn.Conv2d`` (its
parameters are ``nn.Conv2d``'s, by name and shape), so inference, the BatchNorm folding of
``for_inference`` and the ONNX export see an ordinary convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def taps_pay(in_channels: int, out_side: int) -> bool:
    """Whether a 3x3 training convolution from ``in_channels`` with an ``out_side`` square
    output runs as a product over its taps (``TapConv2d``). Measured in bf16 on an AMX Xeon
    for the residual tower's layers (``benchmarks/tower_layers.py``): faster from 128
    channels onto 4x4 maps, slower onto 16x16 maps and larger; on 8x8 maps the layer alone
    was faster but the whole step slower (``benchmarks/step_variants.py``)."""
    return in_channels >= 128 and out_side <= 4


def _im2col(padded: torch.Tensor, k: int, stride: int, out_h: int, out_w: int) -> torch.Tensor:
    """``padded`` (B, H, W, C) -> (B * out_h * out_w, k * k * C): each output pixel's k x k
    neighbourhood, taps in (row, column) order, each tap's C channels together."""
    span_h, span_w = stride * (out_h - 1) + 1, stride * (out_w - 1) + 1
    taps = [
        padded[:, i : i + span_h : stride, j : j + span_w : stride, :]
        for i in range(k)
        for j in range(k)
    ]
    return torch.cat(taps, -1).reshape(-1, k * k * padded.shape[-1])


class _TapProduct(torch.autograd.Function):
    """(B, C, H, W) * (O, C, k, k) -> (B, O, H', W'), zero padding k // 2, channels_last out."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
        b, c, h, w = x.shape
        o, k = weight.shape[0], weight.shape[-1]
        p = k // 2
        out_h, out_w = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
        cols = _im2col(F.pad(x.permute(0, 2, 3, 1), (0, 0, p, p, p, p)), k, stride, out_h, out_w)
        wmat = weight.permute(2, 3, 1, 0).reshape(k * k * c, o)  # rows as im2col's columns
        ctx.save_for_backward(cols, wmat)
        ctx.shape = (b, c, h, w, o, k, stride, out_h, out_w)
        return (cols @ wmat).view(b, out_h, out_w, o).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        cols, wmat = ctx.saved_tensors
        b, c, h, w, o, k, stride, out_h, out_w = ctx.shape
        p = k // 2
        g = grad.permute(0, 2, 3, 1).reshape(-1, o)
        grad_w = (cols.t() @ g).view(k, k, c, o).permute(3, 2, 0, 1)
        if stride == 1:
            # The input's gradient is the output's gradient convolved with the flipped
            # kernel: the same im2col and one more product, no scatter.
            flipped = wmat.view(k, k, c, o).flip(0, 1).transpose(2, 3).reshape(k * k * o, c)
            padded = F.pad(grad.permute(0, 2, 3, 1), (0, 0, p, p, p, p))
            grad_x = (_im2col(padded, k, 1, h, w) @ flipped).view(b, h, w, c)
        else:  # each tap's share of the input's gradient, added where that tap read
            per_tap = (g @ wmat.t()).view(b, out_h, out_w, k * k, c)
            acc = per_tap.new_zeros(b, h + 2 * p, w + 2 * p, c)
            span_h, span_w = stride * (out_h - 1) + 1, stride * (out_w - 1) + 1
            for t in range(k * k):
                i, j = divmod(t, k)
                acc[:, i : i + span_h : stride, j : j + span_w : stride, :] += per_tap[:, :, :, t]
            grad_x = acc[:, p : p + h, p : p + w, :].contiguous()
        return grad_x.permute(0, 3, 1, 2), grad_w, None


class TapConv2d(nn.Conv2d):
    """``nn.Conv2d(in, out, k, stride, k // 2)`` (square, odd k) that trains as one matrix
    product over its taps on channels_last CPU inputs; everywhere else it is ``nn.Conv2d``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        if kernel_size % 2 != 1 or padding != kernel_size // 2:
            raise ValueError(
                f"TapConv2d: an odd kernel padded by half of it (k // 2), got kernel "
                f"{kernel_size} and padding {padding}; use nn.Conv2d for other shapes"
            )
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (
            self.training
            and x.device.type == "cpu"
            and x.is_contiguous(memory_format=torch.channels_last)
        ):
            return super().forward(x)
        weight = self.weight
        if torch.is_autocast_enabled("cpu"):  # what autocast would give the convolution
            dtype = torch.get_autocast_dtype("cpu")
            x, weight = x.to(dtype), weight.to(dtype)
        with torch.autocast("cpu", enabled=False):
            y = _TapProduct.apply(x, weight, self.stride[0])
        return y if self.bias is None else y + self.bias.to(y.dtype)[:, None, None]


def plain_convs(module: nn.Module) -> nn.Module:
    """``module`` with every ``TapConv2d`` made an ``nn.Conv2d`` in place (it has no state
    of its own): for a copy that fx traces, whose BatchNorm folding looks for ``nn.Conv2d``."""
    for m in module.modules():
        if isinstance(m, TapConv2d):
            m.__class__ = nn.Conv2d
    return module
