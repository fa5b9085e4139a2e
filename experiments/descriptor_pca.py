"""The histograms' PCA three ways, on trained runs' weights (no training): its search's
products in bfloat16 (as training now fits it where the CPU runs bf16 natively), the same
search in float32, and ``torch.svd_lowrank`` in float32 (as it was fitted before), each from
several random starts: how far apart the starts' results lie is the yardstick for how far
apart the ways do.

    python experiments/descriptor_pca.py runs/main-epyc-1207/main-seed? --starts 3 --json
    python experiments/descriptor_pca.py runs/main-epyc-1207/main-seed? --ways bfloat16 \
        --passes 12 --json

Each run's descriptor (and the cohort after it) is fitted again as training fits it
(``ablate_inference.py descriptor``), its PCA the way and start named; start 0 draws as
training does, so ``svd_lowrank`` from start 0 gives back what a run fitted before the
change saved. ``--passes``: the search's passes for the two ways of ours (default:
``descriptors.PASSES``; ``svd_lowrank`` keeps its 4). Per fit: the shares and validation
AUC chosen on, DevTest accuracy (threshold from validation) and AUC, and the fit's seconds
by stage. Then per way: the mean over runs and starts, and for each run the range over its
starts.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from unittest import mock

import torch

from siamese_faces.evaluation.api import evaluate, open_run_data, pair_scores
from siamese_faces.evaluation.metrics import auc
from siamese_faces.evaluation.runs import load_run
from siamese_faces.models import descriptors
from siamese_faces.runtime import reuse_freed_memory

sys.path.insert(0, str(Path(__file__).parent))
from ablate_inference import refit_as  # noqa: E402
from screens import report_rows, saved_summary, screen_parser  # noqa: E402

SHIPPED = descriptors.whitened_directions
SVD_LOWRANK_PASSES = 4  # torch.svd_lowrank's niter as it was fitted; rows saved without
# "passes" (before --passes) are of this many


def svd_lowrank_directions(centred, dim, generator, bf16=False):
    """The PCA as it was fitted before: ``torch.svd_lowrank`` in float32 (``bf16`` unread),
    the faces put on its directions by a product of their own, as they then were."""
    seed = int(torch.randint(2**31, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, s, v = torch.svd_lowrank(centred, q=dim + 10, niter=SVD_LOWRANK_PASSES)
    directions = v[:, :dim] / s[:dim].clamp_min(1e-6)
    return directions, centred @ directions


WAYS = {
    "bfloat16": lambda c, d, g, _: SHIPPED(c, d, g, True),
    "float32": lambda c, d, g, _: SHIPPED(c, d, g, False),
    "svd_lowrank": svd_lowrank_directions,
}


def fitted_way(way: str, start: int):
    """``whitened_directions`` done ``way`` from random ``start`` (0: training's own draws;
    else a generator of its own, seeded by the start, for every family in turn)."""
    own = torch.Generator().manual_seed(7919 * start) if start else None

    def directions(centred, dim, generator, bf16=False):
        return WAYS[way](centred, dim, own or generator, bf16)

    return directions


def score(path: str, way: str, start: int, passes: int) -> dict:
    """One run's descriptor fitted ``way`` from ``start`` (``passes``: its search's), and what
    it then scores."""
    run = load_run(path)
    val_data, data = open_run_data(run)
    with (
        mock.patch.object(descriptors, "whitened_directions", fitted_way(way, start)),
        mock.patch.object(descriptors, "PASSES", passes),
    ):
        fitted = refit_as(run, val_data, descriptor="hog-lbp")
    result = evaluate(run, val_data, data).result["at_val_threshold"]
    val_auc = auc(pair_scores(run, val_data, val_data.val)[1], val_data.val.y.numpy())
    return {
        "run": path,
        "way": way,
        "start": start,
        "passes": SVD_LOWRANK_PASSES if way == "svd_lowrank" else passes,
        "shares": fitted["descriptor_weight"],
        "val_auc_shares": fitted["descriptor_val_auc"],  # before the cohort, shares chosen on it
        "val_auc": val_auc,
        "acc": result["acc"],
        "auc": result["auc"],
        "fit_seconds": fitted["fit_seconds"],
    }


def summary(rows: list[dict], out=sys.stdout) -> None:
    """Per way: the mean over runs and starts, each run's range over its starts, the PCA's
    seconds."""

    def kind(r: dict) -> tuple[str, int]:
        return r["way"], r.get("passes", SVD_LOWRANK_PASSES)

    for way in dict.fromkeys(map(kind, rows)):
        mine = [r for r in rows if kind(r) == way]
        pca = [r["fit_seconds"]["descriptor_pca"] for r in mine]
        acc = 100 * statistics.mean(r["acc"] for r in mine)
        print(
            f"{way[0]} ({way[1]} passes): DevTest {acc:.2f}%, AUC "
            f"{statistics.mean(r['auc'] for r in mine):.4f}, validation AUC "
            f"{statistics.mean(r['val_auc_shares'] for r in mine):.5f} (the shares chosen on "
            f"it), {statistics.mean(r['val_auc'] for r in mine):.5f} after the cohort, over "
            f"{len(mine)} fits; "
            f"PCA {min(pca):.1f}-{max(pca):.1f} s",
            file=out,
        )
        for run in dict.fromkeys(r["run"] for r in mine):
            its = [r for r in mine if r["run"] == run]
            accs = [100 * r["acc"] for r in its]
            vals = [r["val_auc_shares"] for r in its]
            print(
                f"  {run}: DevTest {min(accs):.1f}-{max(accs):.1f}%, validation AUC "
                f"{min(vals):.5f}-{max(vals):.5f} over {len(its)} starts",
                file=out,
            )


def main() -> None:
    p = screen_parser(__doc__, WAYS)
    p.add_argument("--starts", type=int, default=3, help="random starts a way and run")
    p.add_argument(
        "--passes", type=int, default=descriptors.PASSES, help="the search's passes (ours)"
    )
    args = p.parse_args()
    reuse_freed_memory()  # as training does: the fits' seconds are then training's
    if saved_summary(args, summary):
        return
    ways = args.ways.split(",")
    fits = ((path, w, s) for path in args.runs for w in ways for s in range(args.starts))
    report_rows((score(*fit, args.passes) for fit in fits), summary, args.json)


if __name__ == "__main__":
    main()
