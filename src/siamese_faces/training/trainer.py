"""The training loop: plain PyTorch, calling small objects for everything else."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from ..config import Config
from ..evaluation.metrics import accuracy, auc, best_threshold
from ..evaluation.predict import autocast, pair_metrics, pair_outputs
from ..io import atomic_write_text
from ..models import model_from_config
from ..progress import progress
from .callbacks import CheckpointSaver, EarlyStopping, MetricLogger, load_weights
from .distributed import DistContext, all_sum
from .rundata import RunData, batch_images

StepHook = Callable[[int, int], None]  # (epoch, step) -> None, called after every step


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adam":
        # fused: one kernel per parameter instead of ~8 elementwise passes (5% of a step).
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay, fused=True)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay
        )
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)


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


def set_threads(cfg: Config, ctx: DistContext) -> int:
    """CPU threads for this process: ``train.threads``, else the cores shared among processes."""
    cores = os.cpu_count() or 1
    threads = cfg.train.threads or max(1, cores // ctx.local_world)
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


def train_step(model, net, opt, x1, x2, y, bf16: bool):
    """One optimiser step on a batch of pairs; returns the head outputs and the loss."""
    with autocast(x1.device, bf16):
        out = model(x1, x2)
    loss = net.loss(out, y)  # in float32 whatever the autocast dtype
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return out, loss


def train_epoch(
    model, net, opt, data: RunData, order: list[int], cfg: Config, ctx, epoch, hook: StepHook | None
) -> dict[str, float]:
    """One pass over this process's share of the training pairs; loss/acc over all processes."""
    t, bs = cfg.train, max(1, cfg.train.batch_size // ctx.world)
    use_bf16 = t.bf16 and bf16_supported(ctx.device)
    fmt = torch.channels_last if t.channels_last else torch.contiguous_format
    model.train()
    total_loss = correct = count = 0.0
    steps = range(0, len(order), bs)
    bar = progress(
        steps, desc=f"epoch {epoch + 1}/{t.epochs}", unit="step", leave=False, enabled=ctx.is_main
    )
    for step, i in enumerate(bar):
        idx = torch.tensor(order[i : i + bs])
        x1 = batch_images(data.images, data.train.a[idx], ctx.device).contiguous(memory_format=fmt)
        x2 = batch_images(data.images, data.train.b[idx], ctx.device).contiguous(memory_format=fmt)
        y = data.train.y[idx].to(ctx.device)
        out, loss = train_step(model, net, opt, x1, x2, y, use_bf16)
        with torch.no_grad():
            pred = net.score(out) > net.head.default_threshold
            total_loss += float(loss) * len(idx)
            correct += float((pred == y.bool()).sum())
            count += len(idx)
        bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.3f}")
        if hook is not None:
            hook(epoch, step)
    total_loss, correct, count = all_sum([total_loss, correct, count], ctx)
    return {"train/loss": total_loss / count, "train/acc": correct / count}


def fit(
    cfg: Config,
    data: RunData,
    run_dir: Path,
    ctx: DistContext,
    resume: bool = False,
    hook: StepHook | None = None,
) -> dict:
    """Train ``cfg`` on ``data`` into ``run_dir``; returns the results written to results.json."""
    t, config_json = cfg.train, cfg.to_json()
    run_dir.mkdir(parents=True, exist_ok=True)
    threads = set_threads(cfg, ctx)
    net = model_from_config(cfg, torch.Generator().manual_seed(t.seed)).to(ctx.device)
    if t.channels_last:
        net = net.to(memory_format=torch.channels_last)
    model = DistributedDataParallel(net) if ctx.distributed else net
    opt = make_optimizer(net.parameters(), cfg)
    torch.manual_seed(t.seed)  # dropout draws from the global generator; saved in checkpoints
    stopper, saver = EarlyStopping(t.patience), CheckpointSaver(run_dir, config_json, ctx.is_main)
    start, rows = 0, []
    if resume and saver.last_path.is_file():
        state = saver.load_last()
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        stopper = EarlyStopping(**state["stopper"])
        start, rows = state["epoch"] + 1, state["rows"]
    logger = MetricLogger(run_dir, ctx.is_main, purge_step=start if resume else None)
    logger.rows = list(rows)
    if ctx.is_main:
        atomic_write_text(run_dir / "config.json", config_json)
        data.split.save(run_dir / "split.json", data.train_pairs)
    sampler = DistributedSampler(
        range(len(data.train)), ctx.world, ctx.rank, shuffle=True, seed=t.seed
    )
    use_bf16 = t.bf16 and bf16_supported(ctx.device)
    t0 = time.perf_counter() - sum(r["seconds"] for r in rows)
    for epoch in range(start, t.epochs):
        if stopper.should_stop:
            break
        tick = time.perf_counter()
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every run and rank
        row = {
            "epoch": epoch + 1,
            **train_epoch(model, net, opt, data, list(sampler), cfg, ctx, epoch, hook),
        }
        out = pair_outputs(net, data.images, data.val, ctx.device, use_bf16, t.channels_last)
        val = pair_metrics(net, out, data.val.y, net.head.default_threshold)
        row.update(
            {
                "val/loss": val["loss"],
                "val/acc": val["acc"],
                "seconds": round(time.perf_counter() - tick, 3),
            }
        )
        logger.log(row)
        improved = stopper.update(val["loss"], epoch)
        saver.save(net, opt, epoch, stopper, logger.rows, improved)
        if ctx.is_main:
            print(
                f"epoch {epoch + 1:3d}  train/loss {row['train/loss']:.4f}  train/acc "
                f"{row['train/acc']:.3f}  val/loss {val['loss']:.4f}  val/acc {val['acc']:.3f}"
                f"  {row['seconds']:.1f}s{'  *best' if improved else ''}",
                file=sys.stderr,
            )
    logger.close()
    if ctx.distributed:
        torch.distributed.barrier()  # rank 0 has written best.safetensors
    load_weights(saver.best_path, net)
    results = finish(
        net, cfg, data, ctx, use_bf16, stopper, logger.rows, time.perf_counter() - t0, threads
    )
    if ctx.is_main:
        atomic_write_text(run_dir / "results.json", json.dumps(results, indent=2))
    return results


def finish(net, cfg: Config, data: RunData, ctx, use_bf16, stopper, rows, seconds, threads) -> dict:
    """Best weights on validation (threshold chosen there) and, for the record only, on test."""
    val_out = pair_outputs(
        net, data.images, data.val, ctx.device, use_bf16, cfg.train.channels_last
    )
    threshold = net.head.default_threshold
    if not net.head.uses_fixed_threshold:  # e.g. a distance: chosen on validation, never test
        threshold = best_threshold(net.score(val_out).numpy(), data.val.y.numpy())
    val = pair_metrics(net, val_out, data.val.y, threshold)
    results = {
        "best_epoch": stopper.best_epoch + 1,
        "epochs_run": len(rows),
        "stopped_early": stopper.should_stop,
        "train_seconds": round(seconds, 2),
        "threshold": threshold,
        "val/loss": val["loss"],
        "val/acc": val["acc"],
        "val_pairs": len(data.val),
        "train_pairs": len(data.train),
        "device": str(ctx.device),
        "world_size": ctx.world,
        "threads": threads,
        "bf16": use_bf16,
    }
    if data.test is not None:
        out = pair_outputs(
            net, data.images, data.test, ctx.device, use_bf16, cfg.train.channels_last
        )
        test = pair_metrics(net, out, data.test.y, threshold)
        results.update(
            {"test/loss": test["loss"], "test/acc": test["acc"], "test_pairs": len(data.test)}
        )
        results["test/auc"] = auc(net.score(out).numpy(), data.test.y.numpy())
        results["test/acc_at_val_threshold"] = accuracy(
            net.score(out).numpy(),
            data.test.y.numpy(),
            best_threshold(net.score(val_out).numpy(), data.val.y.numpy()),
        )
    return results
