"""Where a preset's training step spends its time: PyTorch's profiler over a few steps.

    python benchmarks/step_profile.py [--preset study2019] [--batch 128] [--steps 5] [--fp32]

The step is train_throughput.py's (random pairs, forward + backward + optimiser update,
channels_last, bf16 autocast where the CPU has it, freed memory kept for reuse as training
does), warmed up first. Prints the milliseconds a step of each operator's own time (children
excluded) and its share of the step, most first, then a row of what the rows below the top
ones add up to: what to make faster before a change is worth measuring with step_variants.py.

It also counts the minor page faults a step takes with and without the profiler. The
profiler's own allocations land between the step's large blocks in glibc's heap, so a
profiled step can get fresh pages for blocks that an unprofiled step reuses, and on a VM
where a page fault is dear the operators that first touch a new block (``aten::fill_``,
a pool's fresh output) then look far slower than they are in training. Where the two counts
differ by more than a MiB of pages a step, the line under the table says so.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
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


def minor_faults() -> int:
    """This process's minor page faults so far (the kernel mapping a fresh page)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def fault_note(plain: float, profiled: float, page_bytes: int = resource.getpagesize()) -> str:
    """The line under the table: minor page faults a step without and with the profiler, and
    what a difference means for the rows above (``plain`` and ``profiled``: faults a step)."""
    line = f"minor page faults a step: {plain:.0f} without the profiler, {profiled:.0f} under it"
    extra_mib = (profiled - plain) * page_bytes / 2**20
    if extra_mib < 1:  # under a MiB of fresh pages a step: the profile stands
        return line
    return (
        f"{line}: the profiled step maps {extra_mib:.0f} MiB more fresh pages, "
        "so operators that first touch new memory (aten::fill_, fresh outputs) are inflated "
        "here; step_variants.py times steps without the profiler"
    )


def timed_steps(step, steps: int) -> tuple[float, float]:
    """(milliseconds, minor page faults) a step of ``steps`` runs of ``step``."""
    faults, start = minor_faults(), time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) * 1000 / steps, (minor_faults() - faults) / steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="study2019")
    ap.add_argument("--batch", type=int, default=128, help="pairs a step")
    ap.add_argument(
        "--steps", type=int, default=5, help="profiled steps (after 3 warm-up, as many unprofiled)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    ap.add_argument("--top", type=int, default=12, help="operators listed")
    args = ap.parse_args(argv)
    reuse_freed_memory()
    torch.set_num_threads(args.threads)
    bf16 = bf16_supported(torch.device("cpu")) and not args.fp32
    _, (net, loss), opt, x1, x2, y = setup(args.preset, args.batch, True)

    def step():
        train_step(net, loss, opt, x1, x2, y, bf16)

    for _ in range(3):
        step()
    ms, plain = timed_steps(step, args.steps)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _, profiled = timed_steps(step, args.steps)
    print(
        f"{args.preset}, batch {args.batch} pairs, {'bf16' if bf16 else 'fp32'}, "
        f"{args.threads} threads, {args.steps} steps ({ms:.1f} ms a step without the profiler)"
    )
    print(report(self_times(prof.key_averages(), args.steps), args.top))
    print(fault_note(plain, profiled))
    return 0


if __name__ == "__main__":
    sys.exit(main())
