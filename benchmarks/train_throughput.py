"""Training throughput of the presets, against this machine's own fp32 and bf16 matmul peaks.

    python benchmarks/train_throughput.py [--data ../shared/lfw-a] [--seconds 3] [--json]

For each preset (study2019, koch2015, default, unrestricted) and batch (32, 128) it times the
training step (forward + backward + Adam/SGD update on random pairs) in three variants: plain fp32,
channels_last fp32, and channels_last with bf16 autocast (the default training path where
the CPU has native bf16). FLOPs are counted by PyTorch's FlopCounterMode on one step; the
peak is a large fp32 matmul's GFLOP/s measured in the same run, so the fraction is fair to
whatever else the machine is doing; where the CPU has native bf16, the bf16 rows are also set
against a bf16 matmul's GFLOP/s. The default and unrestricted recipes train with CosFace
over identities, not pairs; their pair step here runs the same towers forward and backward
on as many images, without the class weights' matmul. With --data, it also times one real
epoch of the default path (image gather included) against the pure compute of the same steps.
Freed memory is kept for reuse, as training does by default (train.reuse_memory).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from siamese_faces.config import apply_overrides, load_file, preset_path
from siamese_faces.evaluation.predict import make_pair_loss
from siamese_faces.models import model_from_config
from siamese_faces.models.phases import plain_layers
from siamese_faces.runtime import bf16_supported, reuse_freed_memory
from siamese_faces.training.trainer import make_optimizer, train_step

VARIANTS = {  # name: (channels_last, bf16)
    "fp32": (False, False),
    "channels_last": (True, False),
    "channels_last+bf16": (True, True),
}


def matmul_peak(seconds: float, n: int = 2048, dtype: torch.dtype = torch.float32) -> float:
    """GFLOP/s of a large square matmul in ``dtype``: what this machine's cores can do at best."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            a @ b
            reps += 1
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def setup(preset: str, batch: int, channels_last: bool, overrides: tuple[str, ...] = ()):
    """The preset's net (with ``overrides``, ``--set`` style), its pair loss and optimiser, and a
    batch of random pairs of its input size."""
    cfg = load_file(preset_path(preset))
    cfg = apply_overrides(cfg, [f"train.batch_size={batch}", *overrides])
    net = model_from_config(cfg, torch.Generator().manual_seed(0))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = make_optimizer(net.parameters(), cfg)
    s = cfg.data.size
    x1 = torch.rand(batch, 1, s, s).contiguous(memory_format=fmt)
    x2 = torch.rand(batch, 1, s, s).contiguous(memory_format=fmt)
    y = (torch.arange(batch) % 2).float()
    return cfg, (net, make_pair_loss(net, cfg.model)), opt, x1, x2, y


def step_flops(preset: str, batch: int) -> float:
    """The step's useful FLOPs: the network's layers as written, not the zero taps a faster
    layout of one of them multiplies (models/phases.py)."""
    _, (net, loss), opt, x1, x2, y = setup(preset, batch, False)
    plain_layers(net)
    with FlopCounterMode(display=False) as counter:
        train_step(net, loss, opt, x1, x2, y, False)
    return float(counter.get_total_flops())


def time_steps(preset: str, batch: int, channels_last: bool, bf16: bool, seconds: float) -> float:
    _, (net, loss), opt, x1, x2, y = setup(preset, batch, channels_last)
    for _ in range(3):
        train_step(net, loss, opt, x1, x2, y, bf16)
    return seconds_per_step(lambda: train_step(net, loss, opt, x1, x2, y, bf16), seconds)


def seconds_per_step(step, seconds: float, least: int = 3) -> float:
    """Mean time of ``step`` called for at least ``seconds`` and ``least`` times."""
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or steps < least:
        step()
        steps += 1
    return (time.perf_counter() - t0) / steps


def epoch_vs_compute(data_dir: str) -> dict:
    """One real epoch of the default path vs the same steps on pre-gathered tensors."""
    from siamese_faces.data.rundata import batch_images, prepare
    from siamese_faces.runtime import DistContext
    from siamese_faces.training.objectives import make_objective
    from siamese_faces.training.trainer import make_scheduler, train_epoch

    cfg = load_file(preset_path("study2019"))
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dir=data_dir))
    data = prepare(cfg)
    ctx = DistContext()
    bf16 = cfg.train.bf16 and bf16_supported(ctx.device)
    net = model_from_config(cfg).to(memory_format=torch.channels_last)
    objective = make_objective(net, data, cfg, ctx)
    opt = make_optimizer(net.parameters(), cfg)
    sched = make_scheduler(opt, cfg, 1)
    train_epoch(net, objective, opt, sched, cfg, ctx, 0, None)  # warm-up epoch
    t0 = time.perf_counter()
    train_epoch(net, objective, opt, sched, cfg, ctx, 1, None)
    epoch = time.perf_counter() - t0
    batches = [
        [
            batch_images(data.images, r, ctx.device).contiguous(memory_format=torch.channels_last)
            for r in (a, b)
        ]
        + [y]
        for a, b, y in objective.batches(1)
    ]
    t0 = time.perf_counter()
    for x1, x2, y in batches:
        train_step(net, objective.loss, opt, x1, x2, y, bf16)
    compute = time.perf_counter() - t0
    return {
        "epoch_s": round(epoch, 3),
        "compute_s": round(compute, 3),
        "overhead": round(epoch / compute - 1, 4),
        "pairs": len(data.train),
    }


def row_line(r: dict) -> str:
    line = (
        f"{r['preset']:<10} batch {r['batch']:>3}  {r['variant']:<19} {r['images_per_s']:>7.0f} "
        f"img/s  {r['gflops']:>6.1f} GFLOP/s  {100 * r['of_peak']:>5.0f}% of peak"
    )
    if "of_bf16_peak" in r:
        line += f"  {100 * r['of_bf16_peak']:>4.0f}% of bf16 peak"
    return line


def measure(preset, batch, variant, flops, seconds, peak, peak_bf16) -> dict:
    """One row: ``variant``'s training step on ``preset`` at ``batch``, against the peaks."""
    cl, bf16 = VARIANTS[variant]
    sec = time_steps(preset, batch, cl, bf16, seconds)
    gflops = flops / sec / 1e9
    row = {
        "preset": preset,
        "batch": batch,
        "variant": variant,
        "images_per_s": round(2 * batch / sec, 1),
        "step_ms": round(1000 * sec, 2),
        "gflop_per_step": round(flops / 1e9, 2),
        "gflops": round(gflops, 1),
        "of_peak": round(gflops / peak, 3),
    }
    if bf16 and peak_bf16:
        row["of_bf16_peak"] = round(gflops / peak_bf16, 3)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--presets", nargs="+", default=["study2019", "koch2015", "default", "unrestricted"]
    )
    p.add_argument("--batches", nargs="+", type=int, default=[32, 128])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seconds", type=float, default=3.0, help="timing per measurement")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--data", help="also time a real epoch on this dataset")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    reuse_freed_memory()  # as training does (train.reuse_memory)
    native_bf16 = bf16_supported(torch.device("cpu"))
    peak = matmul_peak(args.seconds)
    # The bf16 rows are also set against a bf16 matmul: on a CPU with AMX or AVX512-BF16 it
    # does several times the fp32 work a cycle, so "% of the fp32 peak" flatters them.
    peak_bf16 = matmul_peak(args.seconds, dtype=torch.bfloat16) if native_bf16 else None
    rows = []
    for preset in args.presets:
        for batch in args.batches:
            flops = step_flops(preset, batch)
            for variant in args.variants:
                rows.append(measure(preset, batch, variant, flops, args.seconds, peak, peak_bf16))
                if not args.json:
                    print(row_line(rows[-1]), flush=True)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": torch.get_num_threads(),
        "native_bf16": native_bf16,
        "matmul_peak_gflops": round(peak, 1),
        "bf16_matmul_peak_gflops": round(peak_bf16, 1) if peak_bf16 else None,
        "rows": rows,
    }
    if args.data:
        result["epoch"] = epoch_vs_compute(args.data)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"fp32 matmul peak {peak:.1f} GFLOP/s, "
            + (f"bf16 matmul peak {peak_bf16:.1f} GFLOP/s, " if peak_bf16 else "")
            + f"{result['threads']} threads, native bf16: {native_bf16}"
        )
        if args.data:
            e = result["epoch"]
            print(
                f"real epoch {e['epoch_s']:.2f} s vs pure compute {e['compute_s']:.2f} s "
                f"({100 * e['overhead']:+.1f}%)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
