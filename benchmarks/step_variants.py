"""Does a change to a tower pay? Its training step against the shipped one, on a noisy machine.

    python benchmarks/step_variants.py [--preset default] [--rounds 12] [--threads 2] [--json]
        [--fp32]  (no bf16 autocast where the CPU has it natively)

Each variant is the shipped preset with one piece swapped back to an earlier (or a candidate)
form: a layer of the tower, or a setting of the process (the C library's allocator). The
shipped step and the variant each run in a process of their own, started side by side, on
random pairs (batch 128, channels_last, bf16 where native), timed in rounds of A B B A so
neither side always runs first (only one runs at a time). The result is the median, over
rounds, of the variant's images/s over the shipped step's in the same round. A
shipped-against-shipped row gives the noise floor: a ratio inside its spread is no evidence
either way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from train_throughput import seconds_per_step, setup  # noqa: E402

from siamese_faces.models import phases  # noqa: E402
from siamese_faces.models.dropout import UniformDropout  # noqa: E402
from siamese_faces.models.phases import PhaseConv2d, plain_layers  # noqa: E402
from siamese_faces.models.resnet import BasicBlock  # noqa: E402
from siamese_faces.models.tapconv import TapConv2d, plain_convs  # noqa: E402
from siamese_faces.runtime import bf16_supported, reuse_freed_memory  # noqa: E402
from siamese_faces.training.trainer import train_step  # noqa: E402


def sliced_shortcut(net: nn.Module) -> bool:
    changed = False
    for block in net.modules():
        if isinstance(block, BasicBlock) and block.stride > 1:
            s = block.stride
            block.__dict__["every"] = lambda x, s=s: x[:, :, ::s, ::s]  # shadows the method
            changed = True
    return changed


def unphased(which: Callable[[PhaseConv2d], bool]) -> Callable[[nn.Module], bool]:
    """The Koch tower's phased conv + max-pool pairs that ``which`` picks, as plain
    ``nn.Conv2d`` + ``nn.MaxPool2d``."""

    def change(net: nn.Module) -> bool:
        changed = any(isinstance(m, PhaseConv2d) and which(m) for m in net.modules())
        plain_layers(net, which).to(memory_format=torch.channels_last)
        return changed

    return change


def first_layer_on_2x2_phases(net: nn.Module) -> bool:
    """Every phased conv on its input's 2x2 phases, its pooled map handed over plain: the
    study's first layer before it took 4x4 phases in bf16 training."""
    changed = False
    for m in net.modules():
        if isinstance(m, PhaseConv2d) and m.feeds_phases:
            m.feeds_phases = False
            changed = True
    return changed


def blocks_at_any_precision(net: nn.Module) -> bool:
    """The study's first layer on 4x4 phases whenever it trains, fp32 too (where the shipped
    step keeps 2x2 phases): what ``blocks_pay``'s precision rule rests on."""
    if not any(isinstance(m, PhaseConv2d) and m.feeds_phases for m in net.modules()):
        return False
    phases.blocks_pay = torch.is_grad_enabled  # this variant's own process only
    return True


def untapped(net: nn.Module) -> bool:
    """Every ``TapConv2d`` trained by oneDNN's convolution, as before it existed."""
    changed = any(isinstance(m, TapConv2d) for m in net.modules())
    plain_convs(net)
    return changed


def tapped_8x8(net: nn.Module) -> bool:
    """Also the 3x3 convolutions from 128 channels onto 8x8 maps as tap products."""
    changed = False
    for block in net.modules():
        eight = isinstance(block, BasicBlock) and block.conv2.in_channels == 128
        if eight and type(block.conv2) is nn.Conv2d:
            block.conv2.__class__ = TapConv2d  # the same parameters, no state of its own
            changed = True
    return changed


def bernoulli_dropout(net: nn.Module) -> bool:
    """Every ``UniformDropout`` as ``nn.Dropout``, whose CPU mask comes from ``bernoulli_``."""
    changed = False
    for m in net.modules():
        if isinstance(m, UniformDropout):
            m.__class__ = nn.Dropout  # the same module, no state of its own
            changed = True
    return changed


def compiled_tower(net: nn.Module) -> bool:
    """The tower through ``torch.compile`` (inductor on the CPU, which needs a C++ compiler at
    run time); its compilation happens in the warm-up, before any round is timed."""
    net.tower = torch.compile(net.tower)
    return True


BATCH = 128  # pairs a step: 2 * BATCH images


def unchanged(net: nn.Module) -> bool:
    return True


@dataclass(frozen=True)
class Variant:
    # Returns False where the preset has nothing it changes (the row is skipped).
    change: Callable[[nn.Module], bool] = unchanged
    reuse_memory: bool = True  # train.reuse_memory, as shipped
    # Settings of the preset changed before its net is built (``--set`` style): a cheaper
    # tower, whose accuracy docs/accuracy.md measures apart.
    overrides: tuple[str, ...] = ()
    # Environment variables of the variant's process, set before it starts (read once by
    # the libraries it loads).
    env: tuple[tuple[str, str], ...] = ()


VARIANTS: dict[str, Variant] = {
    "shipped (noise floor)": Variant(),
    "shortcut as a strided slice": Variant(sliced_shortcut),
    "first conv + pool unphased": Variant(unphased(lambda conv: conv.in_channels == 1)),
    "later convs + pools unphased": Variant(unphased(lambda conv: conv.in_channels > 1)),
    "first layer on 2x2 phases": Variant(first_layer_on_2x2_phases),
    "first layer on 4x4 phases in fp32 too": Variant(blocks_at_any_precision),
    "glibc's malloc defaults": Variant(reuse_memory=False),
    "small-map convs by oneDNN": Variant(untapped),
    "8x8 convs as tap products (candidate)": Variant(tapped_8x8),
    "tower compiled (candidate)": Variant(compiled_tower),
    "dropout by bernoulli_": Variant(bernoulli_dropout),
    # PyTorch's CPU allocator aligns blocks of 2 MiB and more to 2 MiB and asks the kernel
    # for huge pages for them (madvise), where the kernel gives them only on request
    "huge pages (candidate)": Variant(env=(("THP_MEM_ALLOC_ENABLE", "1"),)),
    "filters 24-48-96-192 (candidate)": Variant(overrides=("model.filters=24,48,96,192",)),
    "48x48 input (candidate)": Variant(overrides=("data.size=48",)),
}


def serve_steps(conn, preset: str, variant: str, bf16: bool, threads: int) -> None:
    """A child process: build the preset with ``variant``, then time its step for as many
    seconds as each message asks (images/s back); None as the first answer: nothing to change."""
    torch.set_num_threads(threads)
    chosen = VARIANTS[variant]
    if chosen.reuse_memory:
        reuse_freed_memory()
    _, (net, loss), opt, x1, x2, y = setup(preset, BATCH, True, chosen.overrides)
    if not chosen.change(net):
        conn.send(None)
        return
    step = lambda: train_step(net, loss, opt, x1, x2, y, bf16)  # noqa: E731
    tick = time.perf_counter()
    seconds_per_step(step, 1.0, 2)  # warm-up (where a compiled variant compiles)
    conn.send(time.perf_counter() - tick)
    while (seconds := conn.recv()) is not None:
        conn.send(2 * BATCH / seconds_per_step(step, seconds, 2))
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10)  # peak RSS, MiB


def start(preset: str, variant: str, bf16: bool, threads: int):
    ours, theirs = mp.Pipe()
    proc = mp.get_context("spawn").Process(
        target=serve_steps, args=(theirs, preset, variant, bf16, threads), daemon=True
    )
    # a spawned process starts with the environment it was started in, restored after
    with mock.patch.dict(os.environ, dict(VARIANTS[variant].env)):
        proc.start()
    return proc, ours


def compare(preset: str, variant: str, rounds: int, seconds: float, bf16: bool, threads: int):
    children = {
        name: start(preset, v, bf16, threads)
        for name, v in (("shipped", "shipped (noise floor)"), ("variant", variant))
    }
    try:
        warmup = {name: conn.recv() for name, (_, conn) in children.items()}
        if None in warmup.values():
            return None
        ratios, images = [], {"shipped": [], "variant": []}
        for r in range(rounds):
            order = ["shipped", "variant"][:: -1 if r % 2 else 1]
            got = {}
            for name in order:
                children[name][1].send(seconds)
                got[name] = children[name][1].recv()
            for name, value in got.items():
                images[name].append(value)
            ratios.append(got["variant"] / got["shipped"])
        rss = {}
        for name, (_, conn) in children.items():
            conn.send(None)
            rss[name] = round(conn.recv())
    finally:
        for proc, conn in children.values():
            if proc.is_alive():
                with contextlib.suppress(OSError):  # already told, or gone
                    conn.send(None)
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    return {
        "preset": preset,
        "variant": variant,
        "shipped_img_s": round(statistics.median(images["shipped"]), 1),
        "variant_img_s": round(statistics.median(images["variant"]), 1),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "shipped_warmup_s": round(warmup["shipped"], 1),
        "variant_warmup_s": round(warmup["variant"], 1),
        "shipped_peak_rss_mib": rss["shipped"],
        "variant_peak_rss_mib": rss["variant"],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="default")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--seconds", type=float, default=2.0, help="timing per variant a round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    p.add_argument("--fp32", action="store_true", help="no bf16 autocast, where it is native")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    bf16 = bf16_supported(torch.device("cpu")) and not args.fp32
    rows = []
    for variant in args.variants:
        r = compare(args.preset, variant, args.rounds, args.seconds, bf16, args.threads)
        if r is None:
            print(f"{variant}: nothing to change in {args.preset}, skipped", file=sys.stderr)
            continue
        rows.append(r)
        if not args.json:
            print(
                f"{r['variant']:<30} {r['variant_img_s']:>6.0f} img/s against "
                f"{r['shipped_img_s']:>6.0f}: x{r['ratio_median']:.2f} "
                f"(rounds x{r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f}), peak RSS "
                f"{r['variant_peak_rss_mib']} MiB against {r['shipped_peak_rss_mib']}, warm-up "
                f"{r['variant_warmup_s']:.1f} s against {r['shipped_warmup_s']:.1f}",
                flush=True,
            )
    if args.json:
        print(json.dumps({"threads": args.threads, "bf16": bf16, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
