"""Where a study2019 training step goes: each convolution + max-pool, plain and phased.

    python benchmarks/study_layers.py [--batch 256] [--threads 2] [--repeats 10]

The study's tower has three convolutions followed by a 2x2 max-pool (10x10 on one channel at
125x125, 7x7 on 8 channels at 58x58, 4x4 on 16 channels at 26x26). The first two are poor
fits for oneDNN's kernels: too few input channels. This times each pair, forward and
forward + backward (the input's gradient too where the tower needs it: every layer but the
first), on a batch of both faces of 128 pairs, in bf16 and fp32, channels_last, as plain
``nn.Conv2d`` + ``nn.MaxPool2d`` and on the input's 2x2 phases (models/phases.py), marking
the form the tower runs (``phasing_pays``), next to the whole training step, so a faster
form of a layer can be judged by how much of the step it could save.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from train_throughput import time_steps  # noqa: E402

from siamese_faces.config import load_file, preset_path  # noqa: E402
from siamese_faces.models.phases import PhaseConv2d, PhaseMaxPool, phasing_pays  # noqa: E402
from siamese_faces.runtime import reuse_freed_memory  # noqa: E402


def ms(work, repeats: int) -> float:
    work()
    work()
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return 1000 * (time.perf_counter() - start) / repeats


def pooled_layers(preset: str) -> list[tuple[int, int, int, int]]:
    """(in channels, out channels, kernel, input side) of each conv the preset pools after."""
    cfg = load_file(preset_path(preset))
    m, side, channels, layers = cfg.model, cfg.data.size, 1, []
    for f, k in list(zip(m.filters, m.kernels, strict=True))[: m.pool_layers]:
        layers.append((channels, f, k, side))
        channels, side = f, (side - k + 1) // 2
    return layers


def pair_times(layer, phased: bool, dtype, n: int, repeats: int) -> tuple[float, float]:
    """Forward and forward + backward (ms) of one conv + 2x2 max-pool, channels_last; the
    gradient comes back dense, as the next layer hands it (not ``sum()``'s broadcast one)."""
    c, o, k, side = layer
    fmt = torch.channels_last
    layers = (
        (PhaseConv2d(c, o, k), PhaseMaxPool()) if phased else (nn.Conv2d(c, o, k), nn.MaxPool2d(2))
    )
    pair = nn.Sequential(*layers).to(dtype).to(memory_format=fmt)
    x = torch.randn(n, c, side, side, dtype=dtype).contiguous(memory_format=fmt)
    x.requires_grad_(c > 1)  # the first layer's input is the image: no gradient
    grad = torch.randn_like(pair(x))

    def both():
        pair.zero_grad()
        x.grad = None
        pair(x).backward(grad)

    with torch.no_grad():
        forward = ms(lambda: pair(x), repeats)
    return forward, ms(both, repeats)


def layer_timing_args(doc: str, batch: int, batch_help: str, **extra) -> argparse.Namespace:
    """A layer benchmark's options (``extra``: more ``--name default`` strings), the
    process's threads set and freed memory kept as training keeps it."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    for name, default in extra.items():
        ap.add_argument(f"--{name}", default=default)
    ap.add_argument("--batch", type=int, default=batch, help=batch_help)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reuse_freed_memory()  # as training does (train.reuse_memory)
    return args


def main() -> int:
    args = layer_timing_args(__doc__, 256, "images (both faces of the pairs)")
    for dtype in (torch.bfloat16, torch.float32):
        for i, layer in enumerate(pooled_layers("study2019")):
            c, o, k, side = layer
            cells = []
            for phased in (False, True):
                fwd, both = pair_times(layer, phased, dtype, args.batch, args.repeats)
                shipped = "*" if phased == phasing_pays(c, k) else " "
                cells.append(f"{'phased' if phased else 'plain'}{shipped} {fwd:6.1f} / {both:6.1f}")
            print(
                f"{str(dtype)[6:]:<8} conv{i + 1}+pool ({c:>2}->{o:<2} {k:>2}x{k:<2} at {side}): "
                f"{'   '.join(cells)} ms (forward / forward + backward; * as the tower runs it)",
                flush=True,
            )
    for bf16 in (True, False):
        step = 1000 * time_steps("study2019", args.batch // 2, True, bf16, 3.0)
        print(f"whole training step, {'bf16' if bf16 else 'fp32'}, channels_last: {step:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
