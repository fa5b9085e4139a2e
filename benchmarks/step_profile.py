"""Where a preset's training step spends its time: PyTorch's profiler over a few steps.

    python benchmarks/step_profile.py [--preset study2019] [--batch 128] [--steps 5] [--fp32]

The step is train_throughput.py's (random pairs, forward + backward + optimiser update,
channels_last, bf16 autocast where the CPU has it, freed memory kept for reuse as training
does), warmed up first. Prints the milliseconds a step of each operator's own time (children
excluded) and its share of the step, most first, then a row of what the rows below the top
ones add up to: what to make faster before a change is worth measuring with step_variants.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import setup  # noqa: E402  (the same step, the same batch)

from siamese_faces.runtime import bf16_supported, reuse_freed_memory  # noqa: E402
from siamese_faces.training.trainer import train_step  # noqa: E402


def self_times(events, steps: int) -> list[tuple[str, float, int]]:
    """(operator, self milliseconds a step, calls a step) of each operator, largest first."""
    rows = [(e.key, e.self_cpu_time_total / 1000 / steps, e.count // steps) for e in events]
    return sorted(rows, key=lambda r: -r[1])


def report(rows: list[tuple[str, float, int]], top: int) -> str:
    total = sum(ms for _, ms, _ in rows)
    lines = [f"{'operator':<44} {'ms/step':>8} {'share':>6} {'calls/step':>10}"]
    for name, ms, calls in rows[:top]:
        lines.append(f"{name[:44]:<44} {ms:8.2f} {ms / total:6.1%} {calls:10d}")
    rest = sum(ms for _, ms, _ in rows[top:])
    lines.append(f"{'(every other operator)':<44} {rest:8.2f} {rest / total:6.1%}")
    lines.append(f"{'step (sum of self times)':<44} {total:8.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="study2019")
    ap.add_argument("--batch", type=int, default=128, help="pairs a step")
    ap.add_argument("--steps", type=int, default=5, help="profiled steps (after 3 warm-up ones)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    ap.add_argument("--top", type=int, default=12, help="operators listed")
    args = ap.parse_args(argv)
    reuse_freed_memory()
    torch.set_num_threads(args.threads)
    bf16 = bf16_supported(torch.device("cpu")) and not args.fp32
    _, (net, loss), opt, x1, x2, y = setup(args.preset, args.batch, True)
    for _ in range(3):
        train_step(net, loss, opt, x1, x2, y, bf16)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            train_step(net, loss, opt, x1, x2, y, bf16)
    print(
        f"{args.preset}, batch {args.batch} pairs, {'bf16' if bf16 else 'fp32'}, "
        f"{args.threads} threads, {args.steps} steps"
    )
    print(report(self_times(prof.key_averages(), args.steps), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
