"""The training loop: plain PyTorch, calling small objects for everything else."""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from ..config import Config
from ..data.rundata import RunData, batch_images, batched
from ..evaluation.metrics import accuracy, auc, choose_threshold, head_threshold
from ..evaluation.predict import (
    PairLoss,
    embed_rows,
    make_pair_loss,
    pair_metrics,
    pair_outputs,
)
from ..io import atomic_write_text
from ..models import model_from_config
from ..progress import progress
from ..runtime import (
    DistContext,
    all_sum,
    autocast,
    bf16_supported,
    long_lived_objects_frozen,
    set_threads,
)
from .callbacks import CheckpointSaver, EarlyStopping, MetricLogger, load_weights
from .objectives import TowerModule, make_objective
from .sources import start_from

StepHook = Callable[[int, int], None]  # (epoch, step) -> None, called after every step


class Diverged(ValueError):
    """The loss became NaN or infinite: nothing trained after that point is worth keeping."""


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adam":
        # fused: one kernel per parameter instead of ~8 elementwise passes (5% of a step).
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay, fused=True)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay, fused=True)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay
        )
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)


def train_step(model, loss_fn: PairLoss, opt, x1, x2, y, bf16: bool):
    """One optimiser step on pre-gathered pairs (the benchmark's pure compute)."""
    with autocast(x1.device, bf16):
        out = model(x1, x2)
        loss = loss_fn(out, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return out, loss


def augmentation_draws(cfg: Config, epoch: int) -> torch.Generator:
    """The generator that ``epoch``'s augmentation draws from."""
    return torch.Generator().manual_seed(cfg.train.seed * 100_003 + epoch)


def train_epoch(
    module, objective, opt, sched, cfg: Config, ctx, epoch: int, hook: StepHook | None
) -> dict[str, float]:
    """One pass over this process's share of the epoch; loss/acc summed over all processes."""
    t = cfg.train
    use_bf16 = t.bf16 and bf16_supported(ctx.device)
    gen = augmentation_draws(cfg, epoch)
    module.train()
    total_loss = correct = count = 0.0
    bar = progress(
        objective.batches(epoch),
        desc=f"epoch {epoch + 1}/{t.epochs}",
        unit="step",
        leave=False,
        enabled=ctx.is_main,
    )
    for step, batch in enumerate(bar):
        with autocast(ctx.device, use_bf16):
            loss, right = objective.forward(module, batch, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        n, value = len(batch[-1]), loss.detach().item()
        if not math.isfinite(value):
            raise Diverged(
                f"train.lr={t.lr:g}: training diverged at epoch {epoch + 1}, step {step + 1} "
                f"(loss {value}); the best weights so far, if any, stay in best.safetensors. "
                "Lower train.lr (or raise train.batch_size) and train into a new --out."
            )
        total_loss, correct, count = (
            total_loss + value * n,
            correct + right,
            count + n,
        )
        bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.3f}")
        if hook is not None:
            hook(epoch, step)
    total_loss, correct, count = all_sum([total_loss, correct, count], ctx)
    return {"train/loss": total_loss / count, "train/acc": correct / count}


@torch.no_grad()
def validate(
    net, loss_fn: PairLoss, data: RunData, cfg: Config, ctx, bf16: bool
) -> dict[str, float]:
    """Validation loss, AUC and accuracy (at the head's threshold, or the best one here)."""
    out, scores = pair_outputs(
        net, data.images, data.val, ctx.device, bf16, cfg.train.channels_last
    )
    scores, y = scores.numpy(), data.val.y.numpy()
    threshold = head_threshold(net, scores, y, cfg.model.threshold_rule)
    return {
        "val/loss": float(loss_fn(out, data.val.y)),
        "val/acc": accuracy(scores, y, threshold),
        "val/auc": auc(scores, y),
    }


# An epoch within train.validate_after: its row's validation columns, empty (NaN: a gap in
# every curve), so that metrics.csv keeps one header.
NOT_VALIDATED = {"val/loss": math.nan, "val/acc": math.nan, "val/auc": math.nan}


def watched(row: dict, t) -> float:
    """What early stopping and the best checkpoint minimise (``t``: the training settings):
    the validation loss, or one minus the validation AUC."""
    return row["val/loss"] if t.monitor == "loss" else 1.0 - row["val/auc"]


def make_scheduler(opt, cfg: Config, steps_per_epoch: int):
    total = max(1, cfg.train.epochs * steps_per_epoch)
    if cfg.train.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        )
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


@long_lived_objects_frozen()  # each epoch's validation collects its garbage: kept cheap
def fit(
    cfg: Config,
    data: RunData,
    run_dir: Path,
    ctx: DistContext,
    resume: bool = False,
    hook: StepHook | None = None,
) -> dict:
    """Train ``cfg`` on ``data`` into ``run_dir``; returns the results written to results.json."""
    t = cfg.train
    run_dir.mkdir(parents=True, exist_ok=True)
    threads = set_threads(t.threads, ctx, t.reuse_memory)
    net, objective, model, opt, sched = build(cfg, data, ctx)
    module = objective.module  # what is trained: the net, plus any loss parameters
    average = make_average(net, t.ema)
    shown = net if average is None else average.module  # what is validated and kept
    torch.manual_seed(t.seed)  # dropout draws from the global generator; saved in checkpoints
    saver, stopper, start, logger = open_run(
        run_dir, cfg, data, ctx, resume, module, opt, sched, average
    )
    use_bf16 = t.bf16 and bf16_supported(ctx.device)
    say = to_stderr if ctx.is_main else (lambda line: None)  # the main process's lines alone
    val_loss = objective_loss(objective, net, cfg)
    t0 = time.perf_counter() - sum(r["seconds"] for r in logger.rows)
    step_hook = _after_step(average, net, hook)
    try:
        for epoch in range(start, t.epochs):
            if stopper.should_stop:
                break
            tick = time.perf_counter()
            row = train_epoch(model, objective, opt, sched, cfg, ctx, epoch, step_hook)
            validated = epoch + 1 >= t.first_validated
            row |= (
                validation_row(shown, objective, val_loss, data, cfg, ctx, epoch, use_bf16)
                if validated
                else NOT_VALIDATED
            )
            row = {"epoch": epoch + 1, **row, "seconds": round(time.perf_counter() - tick, 3)}
            logger.log(row)
            improved = validated and stopper.update(watched(row, t), epoch)
            saver.save(shown, module, opt, sched, epoch, stopper, logger.rows, improved, average)
            say(epoch_line(row, improved, validated, t.epochs))
    finally:
        saver.close()  # the checkpoints written on their thread on the disk, however it ends
        logger.close()
    if ctx.distributed:
        torch.distributed.barrier()  # rank 0 has written best.safetensors
    load_weights(saver.best_path, net)
    fitted = fit_after_training(
        net, data, cfg, ctx.device, use_bf16, saver, stopper.best_epoch, say
    )
    seconds = time.perf_counter() - t0
    results, scored = finish(
        net, val_loss, cfg, data, ctx, use_bf16, stopper, logger.rows, seconds, threads
    )
    results |= {"compiled": getattr(module, "compiled", None) is not None} | fitted
    if ctx.is_main:
        write_results(run_dir, results, data, scored)
    return results


def write_results(run_dir: Path, results: dict, data: RunData, scored: tuple | None) -> None:
    """``results.json`` and, where there are test pairs, their evaluation as ``evaluate``
    saves it, from the scores ``finish`` made with the best weights (``scored``): the
    benchmark's ROC and the report read it instead of embedding every test and validation
    face again (on a View 2 worker's one thread, before its next fold)."""
    from ..evaluation.api import evaluation_of, save_evaluation
    from ..evaluation.runs import load_run

    atomic_write_text(run_dir / "results.json", json.dumps(results, indent=2))
    if scored is not None:
        run = load_run(run_dir)  # the weights and threshold as saved, whose digest it records
        save_evaluation(run, evaluation_of(run, data, *scored))


def build(cfg: Config, data: RunData, ctx: DistContext):
    """The net (weights from ``train.seed``), its objective, the module that DDP trains (the
    net plus any loss parameters), the optimiser and the learning-rate schedule."""
    net = model_from_config(cfg, torch.Generator().manual_seed(cfg.train.seed)).to(ctx.device)
    if net.descriptor is not None:  # refused before training, not after it
        net.descriptor.check_faces(min(len(data.fitting_faces()[0]), PCA_FACES))
    if cfg.train.start_from:  # the tower's weights from a finished run (checked first)
        start_from(net, cfg, data, ctx.device)
    if cfg.train.channels_last:
        net = net.to(memory_format=torch.channels_last)
    objective = make_objective(net, data, cfg, ctx)
    module = objective.module
    if cfg.train.compile and not compile_forward(module) and ctx.is_main:
        to_stderr(
            "note: train.compile: inductor found no C++ compiler (g++); training eagerly. "
            "Install one (Debian: apt install g++) to compile the step."
        )
    model = DistributedDataParallel(module) if ctx.distributed else module
    opt = make_optimizer(module.parameters(), cfg)
    sched = make_scheduler(opt, cfg, sum(1 for _ in objective.batches(0)))
    return net, objective, model, opt, sched


def compile_forward(module: TowerModule) -> bool:
    """``module``'s tower through ``torch.compile`` (inductor) in its training forward
    (:meth:`TowerModule.compile_tower`). False, and nothing changed, where inductor finds no
    C++ compiler to build its kernels with."""
    if not has_cpp_compiler():
        return False
    module.compile_tower()
    return True


def has_cpp_compiler() -> bool:
    """Whether inductor finds a C++ compiler (g++ on Linux) to build its CPU kernels with."""
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        get_cpp_compiler()
    except Exception:  # inductor's own error for a missing compiler (InvalidCxxCompiler)
        return False
    return True


def make_average(net, decay: float):
    """An exponential moving average of ``net``'s weights and BatchNorm statistics
    (``train.ema``), or None when it is off. Its first update copies the weights."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def validation_row(
    shown, objective, val_loss, data: RunData, cfg: Config, ctx, epoch: int, use_bf16: bool
) -> dict:
    """``epoch``'s validation of the weights ``shown``, a moving average's BatchNorm
    statistics measured first where ``train.ema_batchnorm_batches`` says."""
    if cfg.train.ema_batchnorm_batches:
        measure_batchnorm(shown, objective, cfg, ctx, epoch, use_bf16)
    return validate(shown, val_loss, data, cfg, ctx, use_bf16)


def measure_batchnorm(net, objective, cfg: Config, ctx, epoch: int, use_bf16: bool) -> None:
    """``net``'s BatchNorm statistics (the moving average's) measured again on the first
    ``train.ema_batchnorm_batches`` batches of ``epoch``, drawn as training drew them
    (``torch.optim.swa_utils.update_bn``: the mean over those batches, not a running one).
    The global generator, from which dropout draws, is left as it was."""
    from torch.optim.swa_utils import update_bn

    gen = augmentation_draws(cfg, epoch)
    batches = itertools.islice(objective.batches(epoch), cfg.train.ema_batchnorm_batches)
    with torch.random.fork_rng(devices=[]), autocast(ctx.device, use_bf16):
        update_bn((objective.images(b, gen) for b in batches), net.tower, ctx.device)


def _after_step(average, net, hook: StepHook | None) -> StepHook | None:
    """The step hook, with the moving average (if any) updated first."""
    if average is None:
        return hook

    def step(epoch: int, index: int) -> None:
        average.update_parameters(net)
        if hook is not None:
            hook(epoch, index)

    return step


def objective_loss(objective, net, cfg: Config) -> PairLoss:
    """The pair loss that validation reports: the objective's own, or (identity objectives)
    the head's pair loss, so that every run's ``val/loss`` means the same thing."""
    return getattr(objective, "loss", None) or make_pair_loss(net, cfg.model)


def open_run(
    run_dir: Path, cfg: Config, data: RunData, ctx, resume: bool, module, opt, sched, average
):
    """The run folder's checkpoint saver, early stopping, first epoch and metric logger, new
    or (``resume``) as ``last.pt`` left them, which then restores the module, optimiser,
    schedule and moving average; the config and split written beside them."""
    saver = CheckpointSaver(run_dir, cfg.to_json(), ctx.is_main)
    stopper, start, rows = _restore(saver, module, opt, sched, cfg.train.patience, resume, average)
    logger = MetricLogger(run_dir, ctx.is_main, purge_step=start if resume else None)
    logger.rows = list(rows)
    if ctx.is_main:
        atomic_write_text(run_dir / "config.json", saver.config_json)
        data.split.save(run_dir / "split.json", data.train_pairs)
    return saver, stopper, start, logger


def _restore(saver: CheckpointSaver, module, opt, sched, patience: int, resume: bool, average):
    """Early stopping, first epoch and logged rows: new, or from ``last.pt`` when resuming
    (which also restores the weights, optimiser, schedule and any moving average)."""
    if not (resume and saver.last_path.is_file()):
        return EarlyStopping(patience), 0, []
    state = saver.load_last()
    module.load_state_dict(state["model"])
    if average is not None:
        average.load_state_dict(state["average"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return EarlyStopping(**state["stopper"]), state["epoch"] + 1, state["rows"]


def epoch_line(row: dict, improved: bool, validated: bool = True, epochs: int = 0) -> str:
    """An epoch's line on stderr; ``epochs``: the most the run may train (train.epochs), said
    beside the epoch so that a long training shows how far it has come."""
    checked = (
        "not validated (train.validate_after)"
        if not validated
        else f"val/loss {row['val/loss']:.4f}  val/acc {row['val/acc']:.3f}  "
        f"val/auc {row['val/auc']:.3f}"
    )
    of = f"/{epochs}" if epochs else ""
    return (
        f"epoch {row['epoch']:3d}{of}  train/loss {row['train/loss']:.4f}  train/acc "
        f"{row['train/acc']:.3f}  {checked}  {row['seconds']:.1f}s"
        f"{'  *best' if improved else ''}"
    )


class Stages:
    """Seconds spent in each named stage, in order: ``with stage("name"): ...`` (what the fit
    after training reports, ``fit_seconds`` in results.json); a stage entered again adds to
    its seconds."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        tick = time.perf_counter()
        yield
        spent = time.perf_counter() - tick
        self.seconds[name] = round(self.seconds.get(name, 0.0) + spent, 3)


def to_stderr(line: str) -> None:
    """A progress line on stderr, as the epochs' are."""
    print(line, file=sys.stderr, flush=True)


def fit_line(seconds: dict[str, float]) -> str:
    """The line that says how long the fit after training took, stage by stage."""
    parts = ", ".join(f"{name} {s:.1f}s" for name, s in seconds.items())
    return f"fitted on the training faces in {sum(seconds.values()):.1f}s ({parts})"


def fit_after_training(
    net,
    data: RunData,
    cfg: Config,
    device,
    bf16,
    saver=None,
    best_epoch: int = 0,
    say=None,
    pca_faces: int | None = None,
) -> dict:
    """Fit what is fitted on the training faces with the best weights (``model.wccn``, then
    ``model.descriptor``, then ``model.score_norm`` on the embeddings so far), before the
    threshold is chosen on validation, and save it into ``saver``'s best checkpoint if given;
    what was fitted (with each stage's seconds, ``fit_seconds``), empty if nothing; ``say``
    (if given) is told when it starts and how long each stage took; ``pca_faces``: at most
    how many faces the descriptor's PCA reads (default :data:`PCA_FACES`). Never a validation
    or test face is fitted on; the descriptor's weight is chosen on the validation pairs, as
    the threshold is."""
    if not cfg.model.wccn and net.score_norm is None and net.descriptor is None:
        return {}
    rows, grouped, classes = data.fitting_faces()
    if say is not None:
        say(f"fitting on {len(rows)} training faces, epoch {best_epoch + 1}'s weights ...")
    for fitted_part in (net.whiten if cfg.model.wccn else None, net.descriptor):
        if fitted_part is not None:  # embed as trained: a resumed run's best file may hold a fit
            fitted_part.fitted.fill_(False)
    stage, fitted = Stages(), {}
    with stage("embed"):
        h = embed_rows(net, data.images, rows, device, bf16, channels_last=cfg.train.channels_last)
    if cfg.model.wccn:
        with stage("wccn"):
            wccn = net.whiten.fit(h[grouped], classes)
        fitted.update({f"wccn_{k}": v for k, v in wccn.items()})
    h = net.whiten(h.to(device))
    if net.descriptor is not None:
        groups = (grouped, classes)
        chosen, h = fit_descriptor(net, data, rows, h, groups, cfg, device, bf16, stage, pca_faces)
        fitted.update({f"descriptor_{k}": v for k, v in chosen.items()})
    if net.score_norm is not None:
        with stage("cohort"):
            cohort = fit_cohort(net, h, classes, cfg)
        fitted.update({f"score_norm_{k}": v for k, v in cohort.items()})
    if saver is not None and fitted:
        with stage("save"):
            saver.save_best(net, best_epoch)
    if say is not None:
        say(fit_line(stage.seconds))
    return {**fitted, "fit_seconds": stage.seconds}


# The PCA of the histograms reads at most this many training faces' histograms, all held at
# once: 85,500 float32 values a face for the default's two families (342 kB), so about 3.4 GB
# here (and 0.86 GB more while a family's search runs in bf16, a copy of its columns), where
# every training face's would have taken 20 GB for 60,000 faces. Beyond it the
# directions are a sample's (View 1's 6,145 faces sampled to 3,000 moved validation AUC by
# -0.0002 to +0.0012 and DevTest by -0.2 to -0.7 points: docs/accuracy.md); every face is
# still whitened and put on them. No LFW run has more training faces (a View 2 fold at most
# 9,735), so their fits are unchanged.
PCA_FACES = 10_000


def pca_sample(faces: int, limit: int, generator: torch.Generator) -> torch.Tensor:
    """Which of ``faces`` training faces the PCA reads: all of them, in order, when there are
    at most ``limit``; else ``limit`` drawn by ``generator`` (in order)."""
    if faces <= limit:
        return torch.arange(faces)
    return torch.randperm(faces, generator=generator)[:limit].sort().values


DESCRIPTOR_WEIGHTS = [i / 20 for i in range(17)]  # the descriptor's share a, 0 to 0.8


def share_grid(families: int) -> list[tuple[float, ...]]:
    """The shares tried for ``families`` families of histograms: each of DESCRIPTOR_WEIGHTS,
    their sum at most its largest (the tower keeps a fifth); the tower alone first."""
    steps = range(len(DESCRIPTOR_WEIGHTS))
    top = len(DESCRIPTOR_WEIGHTS) - 1
    picks = [k for k in itertools.product(steps, repeat=families) if sum(k) <= top]
    return [tuple(DESCRIPTOR_WEIGHTS[i] for i in k) for k in picks]


def joined_cosine(cos_tower: torch.Tensor, cos_own: list[torch.Tensor], shares) -> torch.Tensor:
    """The joined cosine: ``(1 - sum a) cos_tower + sum a_k cos_k``."""
    own = sum(a * c for a, c in zip(shares, cos_own, strict=True))
    return (1 - sum(shares)) * cos_tower + own


def fit_descriptor(
    net, data: RunData, rows, h, groups, cfg: Config, device, bf16, stage=None, pca_faces=None
):
    """Fit ``net.descriptor`` on the training faces ``rows`` (``groups``: which of them,
    in which person), choose its share (one a family) by validation AUC, and return what
    was chosen and the training faces' fused embeddings (``h``: their whitened tower
    embeddings); ``stage`` (a :class:`Stages`) times its steps. The PCA's search runs in
    bfloat16 where the run trains in it (``bf16``). The PCA reads at most
    ``pca_faces`` (default :data:`PCA_FACES`) of the faces' histograms, held at once; the
    others are put on its directions a batch at a time."""
    if data.val is None or not len(data.val):
        raise ValueError(
            "model.descriptor: its weight is chosen on validation pairs, and this run has "
            'none; keep validation people (data.val_fraction > 0) or model.descriptor = "none".'
        )
    stage = stage or Stages()
    d, (grouped, classes) = net.descriptor, groups
    generator = torch.Generator().manual_seed(cfg.train.seed)
    sample = pca_sample(len(rows), pca_faces or PCA_FACES, generator)
    with stage("descriptor_histograms"):
        seen = descriptor_features(d, data.images, rows[sample], device)
    with stage("descriptor_pca"):
        z = d.fit_directions(seen, generator, bf16)  # seen is centred in place
    del seen  # freed before the other faces' histograms and the validation faces'
    if len(sample) < len(rows):
        with stage("descriptor_others"):
            z = on_directions(d, data.images, rows, sample, z, device)
    with stage("descriptor_pca"):  # its within-person whitening, timed with it as before
        units = d.fit_whitening(z, grouped, classes)
    del z
    info = {"features": d.feature_count, "images": len(rows), "pca_images": len(sample)}
    info["grouped"] = len(grouped)
    d.fitted.fill_(False)  # the validation faces' tower embeddings alone, then both
    with stage("descriptor_weight"):
        val_rows, ia, ib = data.val.faces()
        tower = net.head.units(
            embed_rows(
                net, data.images, val_rows, device, bf16, channels_last=cfg.train.channels_last
            )
        )
        own = batch_by_batch(d, data.images, val_rows, device, d.embed_features)
        cos_tower = (tower[ia] * tower[ib]).sum(1)
        cos_own = [(o[ia] * o[ib]).sum(1) for o in d.families(own)]
        y = data.val.y.numpy()
        grid = share_grid(len(cos_own))
        aucs = [auc(joined_cosine(cos_tower, cos_own, s).numpy(), y) for s in grid]
    best = max(range(len(aucs)), key=lambda i: (aucs[i], -i))  # ties: the earlier (smaller)
    d.set_shares(grid[best])
    d.fitted.fill_(True)
    fused = d.join(net.head.units(h), units)
    weight = grid[best][0] if len(grid[best]) == 1 else list(grid[best])
    chosen = {"weight": weight, "val_auc": aucs[best], "val_auc_tower": aucs[0]}
    return {**info, **chosen}, fused


@torch.no_grad()
def on_directions(d, images, rows, sample, z_sample, device) -> torch.Tensor:
    """All the faces ``rows`` on ``d``'s fitted directions ``(len(rows), d.dim)``: the PCA's
    ``sample`` already there (``z_sample``), the others' histograms a batch at a time."""
    z = torch.empty(len(rows), d.dim, device=z_sample.device)
    z[sample] = z_sample
    others = torch.ones(len(rows), dtype=torch.bool)
    others[sample] = False
    others = others.nonzero().flatten()
    z[others] = batch_by_batch(d, images, rows[others], device, d.directions)
    return z


@torch.no_grad()
def batch_by_batch(d, images, rows, device, then, batch: int = 256) -> torch.Tensor:
    """``then`` (``d.directions``, ``d.embed_features``) of ``d``'s raw histograms of
    ``images[rows]``, a batch at a time: never all their histograms at once."""
    return batched(lambda x: then(d.features(x)), images, rows, device, batch)


@torch.no_grad()
def descriptor_features(d, images, rows, device, batch: int = 256) -> torch.Tensor:
    """``d``'s raw histograms of ``images[rows]`` ``(len(rows), features)``, each batch
    written into its place (not joined at the end: no second copy of them all)."""
    out = torch.empty(len(rows), d.feature_count, device=d.fitted.device)
    for i in range(0, len(rows), batch):
        out[i : i + batch] = d.features(batch_images(images, rows[i : i + batch], device))
    return out


def fit_cohort(net, whitened: torch.Tensor, classes: torch.Tensor, cfg: Config) -> dict:
    """``net``'s score-normalisation cohort fitted on the whitened embeddings of the training
    faces of ``RunData.fitting_faces`` (their ``classes``): one member a person; a restricted
    run, which groups no faces by name, one member a face (its training pairs' faces)."""
    labels = classes if cfg.data.protocol == "unrestricted" else None
    return net.score_norm.fit(net.head.units(whitened), labels)


def finish(
    net,
    loss_fn: PairLoss,
    cfg: Config,
    data: RunData,
    ctx,
    use_bf16,
    stopper,
    rows,
    seconds,
    threads,
) -> tuple[dict, tuple | None]:
    """Best weights on validation (threshold chosen there) and, for the record only, on test;
    losses are ``loss_fn``'s, the pair loss validation reported all along. Returns the
    results and, where there are test pairs, what their evaluation is made of: the threshold
    chosen on validation by the run's rule, the test pairs' head outputs and scores."""
    val_out, val_scores = pair_outputs(
        net, data.images, data.val, ctx.device, use_bf16, cfg.train.channels_last
    )
    rule = cfg.model.threshold_rule
    threshold = head_threshold(net, val_scores.numpy(), data.val.y.numpy(), rule)
    val = pair_metrics(loss_fn, val_out, val_scores, data.val.y, threshold)
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
        # Training images are taken as they are (a dataset aligned already, like LFW-a);
        # photos given later may be aligned into their geometry (--align auto).
        "align": "none",
    }
    if data.test is not None:
        out, scores = pair_outputs(
            net, data.images, data.test, ctx.device, use_bf16, cfg.train.channels_last
        )
        test = pair_metrics(loss_fn, out, scores, data.test.y, threshold)
        results.update(
            {"test/loss": test["loss"], "test/acc": test["acc"], "test_pairs": len(data.test)}
        )
        results["test/auc"] = auc(scores.numpy(), data.test.y.numpy())
        val_threshold = choose_threshold(val_scores.numpy(), data.val.y.numpy(), rule)
        results["test/acc_at_val_threshold"] = accuracy(
            scores.numpy(), data.test.y.numpy(), val_threshold
        )
        return results, (val_threshold, out, scores.numpy())
    return results, None
