"""Where a study2019 training step goes: its first convolution and first max-pool alone.

    python benchmarks/study_layers.py [--batch 256] [--threads 2] [--repeats 10]

The study's tower starts with a 10x10 convolution on one channel (125x125 -> 8 x 116x116)
and a 2x2 max-pool; both are poor fits for oneDNN's kernels. This times each, forward and
forward + backward, on a batch of both faces of 128 pairs, in bf16 and fp32, channels_last
and NCHW, and the same pair as the tower now runs it, on the image's 2x2 phases
(models/phases.py: a 6x6 convolution from 4 phases to 4 x 8 channels at 58x58, then a max
over the phases), next to the whole training step, so a faster form of either can be judged
by how much of the step it could save.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from train_throughput import time_steps  # noqa: E402

from siamese_faces.models.phases import PhaseConv2d, PhaseMaxPool  # noqa: E402
from siamese_faces.runtime import reuse_freed_memory  # noqa: E402


def ms(work, repeats: int) -> float:
    work()
    work()
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return 1000 * (time.perf_counter() - start) / repeats


def grad_like(t: torch.Tensor) -> torch.Tensor:
    """A gradient as the next layer hands it back: dense, in ``t``'s layout (``sum()``'s
    would be one value broadcast, whose strides send some backward kernels down a copy)."""
    return torch.randn_like(t)  # randn_like keeps t's memory format


def pair_times(conv, pool, x, h, repeats: int) -> tuple[float, float, float, float]:
    """First conv forward, forward + backward; first pool the same (ms)."""
    h.requires_grad_()
    conv_grad, pool_grad = grad_like(conv(x)), grad_like(pool(h))

    def conv_both():
        conv.zero_grad()
        conv(x).backward(conv_grad)

    def pool_both():
        pool(h).backward(pool_grad)

    return (
        ms(lambda: conv(x), repeats),
        ms(conv_both, repeats),
        ms(lambda: pool(h), repeats),
        ms(pool_both, repeats),
    )


def layer_times(dtype, fmt, n: int, repeats: int) -> tuple[float, float, float, float]:
    """The plain ``nn.Conv2d`` + 2x2 max-pool in memory format ``fmt``."""
    conv = torch.nn.Conv2d(1, 8, 10).to(dtype).to(memory_format=fmt)
    x = torch.randn(n, 1, 125, 125, dtype=dtype).contiguous(memory_format=fmt)
    h = torch.randn(n, 8, 116, 116, dtype=dtype).contiguous(memory_format=fmt)
    return pair_times(conv, lambda t: F.max_pool2d(t, 2), x, h, repeats)


def phased_times(dtype, n: int, repeats: int) -> tuple[float, float, float, float]:
    """The same pair as the tower runs it (models/phases.py), channels_last only."""
    fmt = torch.channels_last
    conv = PhaseConv2d(8, 10).to(dtype).to(memory_format=fmt)
    x = torch.randn(n, 1, 125, 125, dtype=dtype).contiguous(memory_format=fmt)
    y = torch.randn(n, 32, 58, 58, dtype=dtype).contiguous(memory_format=fmt)
    return pair_times(conv, PhaseMaxPool(), x, y, repeats)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=256, help="images (both faces of the pairs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reuse_freed_memory()  # as training does (train.reuse_memory)
    formats = {"channels_last": torch.channels_last, "NCHW": torch.contiguous_format}
    for dtype in (torch.bfloat16, torch.float32):
        timers = {name: partial(layer_times, dtype, fmt) for name, fmt in formats.items()}
        timers["phased (shipped)"] = partial(phased_times, dtype)
        for name, times in timers.items():
            cf, cb, pf, pb = times(args.batch, args.repeats)
            print(
                f"{str(dtype)[6:]:<8} {name:<16} conv1 {cf:6.1f} / {cb:6.1f} ms   pool1 "
                f"{pf:6.1f} / {pb:6.1f} ms   (forward / forward + backward)",
                flush=True,
            )
    for bf16 in (True, False):
        step = 1000 * time_steps("study2019", args.batch // 2, True, bf16, 3.0)
        print(f"whole training step, {'bf16' if bf16 else 'fp32'}, channels_last: {step:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
