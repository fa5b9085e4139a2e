"""Where and how the arithmetic runs: device, DDP under ``torchrun``, CPU threads, bf16.

Every floor that runs a net (training, evaluation, the service) asks this one module, so
that a run is scored with the same precision and layout it was trained with.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Who this process is among those ``torchrun`` started (alone: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def pick_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    """``cpu``, ``cuda`` (an error when none is visible) or ``auto`` (CUDA when present)."""
    if preference == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device='cuda' but no CUDA device is visible; use auto or cpu.")
    if preference in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(device_preference: str = "auto") -> DistContext:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1), else run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    device = pick_device(device_preference, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world, local_rank, local_world, device)


def all_sum(values: list[float], ctx: DistContext) -> list[float]:
    """Element-wise sum of ``values`` over every process (identity when alone)."""
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def bf16_supported(device: torch.device) -> bool:
    """True where bfloat16 matmuls run natively (fast); emulated bf16 is slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on ``device`` when ``enabled``, else nothing."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def busy_cores(window: float = 0.25) -> float:
    """Cores kept busy by other processes right now, from two reads of /proc/stat (Linux)."""

    def read():
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)  # total, idle + iowait

    try:
        total0, idle0 = read()
        time.sleep(window)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return 0.0
    dt = total1 - total0
    return 0.0 if dt <= 0 else (1 - (idle1 - idle0) / dt) * (os.cpu_count() or 1)


# glibc's mallopt parameters (malloc.h), and the values reuse_freed_memory gives them
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
KEEP_TRIM_THRESHOLD = 2**31 - 1  # the largest an int holds: freed memory is never trimmed
# The same two settings for a process started from outside (one that does not import this)
REUSE_TUNABLES = f"glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold={KEEP_TRIM_THRESHOLD}"


def glibc() -> ctypes.CDLL | None:
    """This process's C library where it is glibc, else None."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None


def reuse_freed_memory() -> bool:
    """Keep the memory of freed tensors in this process for the next step's tensors (glibc).

    glibc gives every block above its mmap threshold (32 MiB at most) pages of its own and
    hands them back on free, so each training step's large activations and gradients start
    on fresh pages that the kernel faults in and zeroes one by one: the study tower's step at
    125x125 ran at 0.73x the speed it has without that (benchmarks/step_variants.py, variant
    "glibc's malloc defaults"). With mmap off and no trimming, freed blocks stay in the heap
    and the next step reuses them. The price: the process keeps its high-water mark, plus
    the blocks that fit no later request (there: 894 MiB peak against 812). Returns False
    (and changes nothing) where the C library is not glibc.
    """
    libc = glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD)
    )


@contextlib.contextmanager
def long_lived_objects_frozen():
    """Inside, a full garbage collection looks only at objects made after it began.

    Each validation collects the reference cycles its inference copy's fx trace leaves
    (evaluation/predict.embed_rows); a full collection walks every object that Python
    tracks, and by the first epoch those are mostly the dataset's paths and pairs and the
    libraries' own, which live until the run ends. ``gc.freeze`` sets them aside (0.164 s
    against 0.056 s a collection in a profile of the `default` recipe: README, design
    notes); what they hold is untouched, and the numbers trained are the same. Garbage that
    was made before and dies inside waits for the collection after.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def set_threads(threads: int, ctx: DistContext, reuse_memory: bool = False) -> int:
    """CPU threads for this process: ``threads``, else (0) the cores shared among processes;
    with ``reuse_memory``, freed memory is kept for reuse too (``reuse_freed_memory``)."""
    if reuse_memory:
        reuse_freed_memory()
    cores = os.cpu_count() or 1
    threads = threads or max(1, cores // ctx.local_world)
    torch.set_num_threads(threads)
    if ctx.is_main and ctx.device.type == "cpu" and threads > 1 and not ctx.distributed:
        busy = busy_cores()
        if busy >= 0.5:
            # Threads that share cores with another busy process wait on each other at every
            # barrier: measured here, 1 thread then beat 2 by up to 10x.
            print(
                f"note: {busy:.1f} of {cores} cores are busy with other work; if training is "
                "slow, try --set train.threads=1",
                file=sys.stderr,
            )
    return threads
