"""An inference-time lever on and off for trained runs (no training: the same weights).

    python experiments/ablate_inference.py flip runs/accuracy/default-seed*
    python experiments/ablate_inference.py wccn runs/accuracy/default-seed* [--ridge 0.1]
    python experiments/ablate_inference.py wccn runs/accuracy/default-seed* --ridges 0.01,0.1,1
    python experiments/ablate_inference.py wccn runs/view2/view2-restricted/fold=* \
        --choose-ridge 0.01,0.1
    python experiments/ablate_inference.py shift runs/accuracy/default-seed* [--pixels 2]
    python experiments/ablate_inference.py ridge runs/lever/recipe-seed* --choose-ridge 0.1,0.3,1
    python experiments/ablate_inference.py fit-people runs/lever/recipe-seed*
    python experiments/ablate_inference.py descriptor runs/main-timed/main-seed*
    python experiments/ablate_inference.py descriptor runs/restricted-desc/restricted-seed* \
        --descriptor-dim 384
    python experiments/ablate_inference.py descriptor runs/unr-desc/unrestricted-seed* --oneshot 20
    python experiments/ablate_inference.py descriptor runs/restricted-desc/restricted-seed* \
        --lbp-divisor 16 --lbp-radii 1,2
    python experiments/ablate_inference.py descriptor runs/main-epyc-e36/main-seed? \
        --illumination tan-triggs
    python experiments/ablate_inference.py descriptor runs/main-epyc-1206/main-seed? \
        --halvings 0,1
    python experiments/ablate_inference.py threshold runs/main-desc/main-seed*
    python experiments/ablate_inference.py no-descriptor runs/unr128/unrestricted-seed* --oneshot 20
    python experiments/ablate_inference.py summary docs/measurements/descriptor_inference_view1.json

--ridges: validation AUC only, for each ridge (how the ridge is chosen; DevTest is not read).
--oneshot WAYS: each run's N-way one-shot accuracy on the test people (``siamese-faces
oneshot``'s 1,000 trials, seed 0; ``--oneshot-trials`` for more) with the lever and without,
beside the pair numbers.
--choose-ridge: the ridge of highest mean validation AUC over the runs, then the runs scored
with and without it (wccn), or (ridge) with it against the whitening they were trained with.

flip: test-time flip averaging. shift: test-time averaging over the face and its copies moved
by --pixels up, down, left and right (edge pixels repeated), on top of the run's flips.
fit-people: the whitening and the score normalisation's cohort fitted again after training on
every image of View 1's people file (``data.train_people = "people-file"``, less the
validation people), against as trained (on the training people alone); the weights unchanged.
descriptor: HOG and LBP histograms fitted after training on the training people, joined to
the embedding with their weight chosen on validation (``model.descriptor = "hog-lbp"``,
models/descriptors.py), against the run as trained; a cohort is fitted again on the joined
embeddings.
no-descriptor: a run trained with HOG and LBP histograms scored without them (its tower,
whitening and a cohort fitted again on the tower's embeddings alone), against as trained.
threshold: the threshold chosen on validation by ``model.threshold_rule = "smoothed-accuracy"``
(each class's scores smoothed by a Gaussian kernel, evaluation/metrics.py) against
"best-accuracy"; the weights and scores unchanged.
summary: the printout of a saved ``--json`` output (or of a measurements file holding its
rows under "rows", or several under their labels in "runs"), without scoring again; given
several files of one output each, also all their rows together.
wccn: within-class covariance normalisation of the embedding
(models/whiten.py): the run's own if it was trained with model.wccn, else fitted here with
--ridge on the run's training people, or for a restricted run on its same-labelled training
pairs (each pair a class); a run with score normalisation has its cohort fitted again under
the whitening left in place (or none). Each time the threshold is re-chosen on validation, and
the validation AUC (how a lever would be chosen) is printed beside DevTest's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from siamese_faces.config import ILLUMINATIONS
from siamese_faces.evaluation.api import (
    evaluate,
    oneshot,
    open_run_data,
    pair_scores,
    validation_data,
)
from siamese_faces.evaluation.metrics import auc
from siamese_faces.evaluation.predict import embed_rows, pair_outputs
from siamese_faces.evaluation.runs import load_run
from siamese_faces.models import model_from_config
from siamese_faces.models.siamese import for_inference
from siamese_faces.models.whiten import WithinClassWhitening
from siamese_faces.runtime import reuse_freed_memory
from siamese_faces.training.callbacks import load_weights
from siamese_faces.training.trainer import fit_after_training, fit_cohort


class ShiftedTower(nn.Module):
    """The tower's mean output over the face as it is and moved by ``pixels`` in each of the
    four directions (the border pixels repeated into the gap)."""

    def __init__(self, tower: nn.Module, pixels: int) -> None:
        super().__init__()
        self.tower, self.pixels = tower, pixels
        d = pixels
        self.moves = [(0, 0), (d, 0), (-d, 0), (0, d), (0, -d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d, (h, w) = self.pixels, x.shape[-2:]
        padded = F.pad(x, (d, d, d, d), mode="replicate")
        outs = [
            self.tower(padded[..., d + dy : d + dy + h, d + dx : d + dx + w].contiguous())
            for dx, dy in self.moves
        ]
        return torch.stack(outs).float().mean(0)


def set_lever(run, lever: str, on: bool, val_data, args, fitted: dict) -> dict | None:
    """Turn ``lever`` on or off for ``run``; for the descriptor turned on, the seconds each
    stage of its fit took."""
    net = run.net
    run.refresh()  # the inference copy is made again from the net as the lever leaves it
    if lever == "flip":
        net.flip_tta = on
        return
    if lever == "threshold":  # evaluate reads the rule from the run's configuration
        rule = "smoothed-accuracy" if on else "best-accuracy"
        model = dataclasses.replace(run.config.model, threshold_rule=rule)
        run.config = dataclasses.replace(run.config, model=model)
        return
    if lever == "shift":
        # Wrapped after BatchNorm is folded: folding a tower that is called five times a face
        # would fold each BatchNorm into its convolution five times.
        fast = for_inference(net)
        if on:
            fast.tower = ShiftedTower(fast.tower, args.pixels)
        run.__dict__["inference_net"] = fast  # what the run embeds with (a cached property)
        return
    if lever in ("ridge", "fit-people", "descriptor", "no-descriptor"):  # on: refitted
        if on and lever == "no-descriptor":
            refit_as(run, val_data, descriptor="none")
        elif on and lever == "ridge":
            refit_at(run, val_data, args.ridge)
        elif on and lever == "descriptor":  # how long each stage of its fit took
            return with_descriptor(run, val_data, args)["fit_seconds"]
        elif on:
            d = dataclasses.replace(run.config.data, train_people="people-file")
            fit_after_training(net, validation_data(run, d), run.config, run.device, run.bf16)
            run.refresh()
        else:  # the saved whitening and cohort back into the refitted modules
            if lever in ("descriptor", "no-descriptor"):
                fresh = model_from_config(run.config).eval()
                run.net = fresh.to(run.device, memory_format=torch.channels_last)
            load_weights(run.path / "best.safetensors", run.net)
            run.refresh()
        return
    if run.path not in fitted:  # the run's own whitening, or one fitted here
        whiten = net.whiten
        if not isinstance(whiten, WithinClassWhitening):
            whiten = WithinClassWhitening(
                net.tower.embedding_dim, run.config.model.members, args.ridge
            )
            whiten.fit(*training_classes(run, val_data))
        fitted[run.path] = whiten
    net.whiten = fitted[run.path] if on else nn.Identity()
    if net.score_norm is not None and bool(net.score_norm.fitted):
        refit_cohort(run, val_data)  # its statistics are of the units the whitening gives


# The descriptor lever's options (argparse's names) and the model.* setting each overrides.
DESCRIPTOR_OPTIONS = {
    "descriptor_dim": "descriptor_dim",
    "lbp_divisor": "descriptor_lbp_divisor",
    "lbp_radii": "descriptor_lbp_radii",
    "illumination": "descriptor_illumination",
    "halvings": "descriptor_halvings",
}


def with_descriptor(run, val_data, args) -> dict:
    """The run's net as ``model.descriptor = "hog-lbp"`` builds it with the settings the
    options of ``args`` give (:data:`DESCRIPTOR_OPTIONS`; each left out or None: the run's
    ``model.descriptor_*``), its trained weights and whitening loaded, the descriptor (and a
    cohort after it) fitted as training fits them, its PCA on at most ``args.pca_faces``
    faces (None: as training). Returns what was fitted."""
    given = {k: getattr(args, k, None) for k in DESCRIPTOR_OPTIONS}
    model = {DESCRIPTOR_OPTIONS[k]: v for k, v in given.items() if v is not None}
    pca_faces = getattr(args, "pca_faces", None)
    return refit_as(run, val_data, pca_faces, descriptor="hog-lbp", **model)


def refit_as(run, val_data, pca_faces: int | None = None, **model) -> dict:
    """The run's net with the ``model.*`` settings ``model`` changed, its trained weights and
    whitening loaded, fitted after training as training fits it (the descriptor's PCA on at
    most ``pca_faces`` faces, if given). Returns what was fitted."""
    cfg = dataclasses.replace(run.config, model=dataclasses.replace(run.config.model, **model))
    return refit(run, trained_net(run, cfg), val_data, cfg, pca_faces)


# Fitted again after training, never loaded: the descriptor (a run trained with one may have
# had other directions or sizes), and the cohort after it on the joined embeddings, whose
# size is not the tower's.
REFITTED = ("score_norm.", "descriptor.")


def trained_net(run, cfg) -> nn.Module:
    """``cfg``'s net with ``run``'s trained weights and whitening, all but ``REFITTED``."""
    net = model_from_config(cfg)
    trained = load_file(str(run.path / "best.safetensors"))
    net.load_state_dict(
        {k: v for k, v in trained.items() if not k.startswith(REFITTED)}, strict=False
    )
    return net


def refit(run, net, val_data, cfg, pca_faces: int | None = None) -> dict:
    """``net`` made ``run``'s net and fitted on ``val_data``'s training faces as training fits
    it (``fit_after_training``, with ``pca_faces``); what was fitted."""
    run.net = net.eval().to(run.device, memory_format=torch.channels_last)
    fitted = fit_after_training(net, val_data, cfg, run.device, run.bf16, pca_faces=pca_faces)
    print(f"{run.path}: {fitted}", file=sys.stderr)
    run.refresh()
    return fitted


def refit_cohort(run, val_data) -> None:
    """The run's score-normalisation cohort fitted again on its training faces under the
    whitening the net has now (or none), as training fits it after its whitening."""
    rows, _, classes = val_data.fitting_faces()
    whitened = embed_rows(run.net, val_data.images, rows, run.device, run.bf16)
    fit_cohort(run.net, whitened, classes, run.config)
    run.refresh()


def training_classes(run, val_data) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of the run's training faces that group into classes, and their classes:
    its people, or (restricted) its same-labelled training pairs (RunData.fitting_faces)."""
    rows, grouped, classes = val_data.fitting_faces()
    return embed_rows(run.net, val_data.images, rows, run.device, run.bf16)[grouped], classes


def refit_at(run, val_data, ridge: float) -> None:
    """The run's whitening fitted again at ``ridge``, and its score normalisation (if any)
    after it, as training fits both (``fit_after_training``): a cohort kept from another
    whitening would score stale."""
    run.net.whiten = WithinClassWhitening(
        run.net.tower.embedding_dim, run.config.model.members, ridge
    )
    cfg = dataclasses.replace(run.config, model=dataclasses.replace(run.config.model, wccn=ridge))
    fit_after_training(run.net, val_data, cfg, run.device, run.bf16)
    run.refresh()  # the inference copy is made again from the refitted net


def validation_auc_by_ridge(run, val_data, ridges) -> dict[float, float]:
    """Validation AUC with the whitening (and any score normalisation) fitted at each ridge."""
    out = {}
    for ridge in ridges:
        refit_at(run, val_data, ridge)
        cl = run.config.train.channels_last  # as training validated
        _, scores = pair_outputs(run.net, val_data.images, val_data.val, run.device, run.bf16, cl)
        out[ridge] = auc(scores.numpy(), val_data.val.y.numpy())
    return out


def chosen_ridge(paths, ridges) -> float:
    """The ridge of highest mean validation AUC over the runs (never a test pair read)."""
    by_run = []
    for path in paths:
        run = load_run(path)
        run.net.whiten = nn.Identity()  # fitted from the tower's own embeddings
        by_run.append(validation_auc_by_ridge(run, open_run_data(run)[0], ridges))
    means = {r: statistics.mean(aucs[r] for aucs in by_run) for r in ridges}
    best = max(ridges, key=means.get)
    print(
        "mean validation AUC "
        + ", ".join(f"ridge {r:g}: {a:.4f}" for r, a in means.items())
        + f"; chosen: {best:g}"
    )
    return best


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    levers = ["flip", "wccn", "shift", "ridge", "fit-people", "descriptor", "no-descriptor"]
    levers += ["threshold", "summary"]
    p.add_argument("lever", choices=levers)
    p.add_argument("runs", nargs="+")
    p.add_argument("--ridge", type=float, default=0.1, help="wccn ridge for runs without one")
    p.add_argument("--pixels", type=int, default=2, help="shift: how far each copy moves")
    p.add_argument("--ridges", help="comma-separated wccn ridges: validation AUC of each")
    p.add_argument(
        "--choose-ridge",
        help="comma-separated wccn ridges: the one of highest mean validation AUC over the "
        "runs is chosen, then each run is scored with and without it",
    )
    p.add_argument(
        "--descriptor-dim", type=int, help="descriptor: its directions (default: the run's)"
    )
    p.add_argument(
        "--lbp-divisor",
        type=int,
        help="descriptor: LBP cells of data.size // this pixels (default: the run's)",
    )
    p.add_argument(
        "--lbp-radii",
        type=lambda v: tuple(int(r) for r in v.split(",")),
        help="descriptor: comma-separated LBP radii, e.g. 1,2 (default: the run's)",
    )
    p.add_argument(
        "--illumination",
        type=lambda v: tuple(v.split(",")),
        help="descriptor: the faces its histograms read, comma-separated, one family each: "
        f"of {', '.join(ILLUMINATIONS)} (default: the run's)",
    )
    p.add_argument(
        "--halvings",
        type=lambda v: tuple(int(h) for h in v.split(",")),
        help="descriptor: comma-separated scales, each how many times the face is halved "
        "before its histograms, one family each with each illumination, e.g. 0,1 (default: "
        "the run's)",
    )
    p.add_argument(
        "--pca-faces",
        type=int,
        help="descriptor: at most this many training faces for its PCA (default: as training)",
    )
    p.add_argument("--oneshot", type=int, metavar="WAYS", help="also N-way one-shot (seed 0)")
    p.add_argument(
        "--oneshot-trials",
        type=int,
        default=1000,
        help="--oneshot's trials, as `siamese-faces oneshot --trials` (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true")
    return p


def summarize_saved(paths: list[str]) -> None:
    """The summary of outputs saved by ``--json`` earlier, file by file; then, where several
    files each hold one output (a View 2 fold's refit a file, say), all their rows together."""
    pooled = []
    for path in paths:
        saved = json.loads(Path(path).read_text())
        # a screen's file holds several such outputs, each under its label in "runs"
        screens = saved["runs"] if isinstance(saved, dict) and "runs" in saved else {"": saved}
        for label, rows in screens.items():
            rows = rows["rows"] if isinstance(rows, dict) else rows
            if label:
                print(label)
            else:
                pooled.append(rows)
            print_summary(rows, "the lever")
    if len(pooled) > 1:
        print(f"the {len(pooled)} files' {sum(map(len, pooled))} rows together")
        print_summary([row for rows in pooled for row in rows], "the lever")


def screen(path: str, args, fitted: dict) -> dict | None:
    """One run scored with the lever on and off (``None`` for ``--ridges``, which prints)."""
    run = load_run(path)
    val_data, data = open_run_data(run)
    if args.ridges:
        run.net.whiten = nn.Identity()  # fitted from the tower's own embeddings
        ridges = [float(r) for r in args.ridges.split(",")]
        by_ridge = validation_auc_by_ridge(run, val_data, ridges)
        print(
            f"{path}: validation AUC "
            + ", ".join(f"ridge {r:g}: {a:.4f}" for r, a in by_ridge.items())
        )
        return None
    row = {"run": path}
    for on in (True, False):
        seconds = set_lever(run, args.lever, on, val_data, args, fitted)
        if seconds:  # the fit's stages (descriptor)
            row[f"fit seconds on={on}"] = seconds
        result = evaluate(run, val_data, data).result  # threshold re-chosen on validation
        row[f"on={on}"] = result["at_val_threshold"]["acc"]
        row[f"auc on={on}"] = result["at_val_threshold"]["auc"]
        row[f"val auc on={on}"] = auc(
            pair_scores(run, val_data, val_data.val)[1], val_data.val.y.numpy()
        )
        if args.oneshot:  # the test people's N-way one-shot, as ``siamese-faces oneshot``
            trials = args.oneshot_trials
            row[f"oneshot on={on}"] = oneshot(run, data, ways=args.oneshot, trials=trials)["acc"]
    return row


def main() -> None:
    args = parser().parse_args()
    reuse_freed_memory()  # as training does: a refit's seconds are then training's
    if args.lever == "summary":
        summarize_saved(args.runs)
        return
    if args.choose_ridge:
        args.ridge = chosen_ridge(args.runs, [float(r) for r in args.choose_ridge.split(",")])
    fitted = {}
    rows = [row for path in args.runs if (row := screen(path, args, fitted)) is not None]
    if not rows:
        return
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print_summary(rows, args.lever)


def print_summary(rows: list[dict], lever: str) -> None:
    """Each run with the lever and without, then the means: ± the standard deviation (seeds)
    and ± LFW's standard error (View 2's folds, each one run)."""
    for r in rows:
        print(
            f"{r['run']}: with {lever} {100 * r['on=True']:.1f}% "
            f"(AUC {r['auc on=True']:.3f}, validation AUC {r['val auc on=True']:.4f}), "
            f"without {100 * r['on=False']:.1f}% (AUC {r['auc on=False']:.3f}, "
            f"validation AUC {r['val auc on=False']:.4f})"
        )
        if "oneshot on=True" in r:
            print(
                f"  one-shot with {100 * r['oneshot on=True']:.1f}%, "
                f"without {100 * r['oneshot on=False']:.1f}%"
            )
    on = [r["on=True"] for r in rows]
    off = [r["on=False"] for r in rows]

    def sd(v):
        return statistics.stdev(v) if len(v) > 1 else 0.0

    def se(v):
        return sd(v) / math.sqrt(len(v))

    print(
        f"mean: with {100 * statistics.mean(on):.2f} ± {100 * sd(on):.2f}% "
        f"(SE {100 * se(on):.2f}), without {100 * statistics.mean(off):.2f} ± "
        f"{100 * sd(off):.2f}% (SE {100 * se(off):.2f}); "
        f"AUC with {statistics.mean(r['auc on=True'] for r in rows):.4f}, without "
        f"{statistics.mean(r['auc on=False'] for r in rows):.4f}; validation AUC with "
        f"{statistics.mean(r['val auc on=True'] for r in rows):.4f}, without "
        f"{statistics.mean(r['val auc on=False'] for r in rows):.4f}"
    )
    if all("oneshot on=True" in r for r in rows):
        shots = {on: [r[f"oneshot on={on}"] for r in rows] for on in (True, False)}
        print(
            f"one-shot: with {100 * statistics.mean(shots[True]):.1f} ± "
            f"{100 * sd(shots[True]):.1f}%, without {100 * statistics.mean(shots[False]):.1f} ± "
            f"{100 * sd(shots[False]):.1f}%"
        )


if __name__ == "__main__":
    main()
