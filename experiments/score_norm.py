"""Adaptive score normalisation (AS-norm) of trained runs' cosine scores, on and off.

    python experiments/score_norm.py runs/distill/base-seed* [--top-k 100] [--json]
    python experiments/score_norm.py runs/distill/base-seed* --top-ks 25,50,100,200,400,0
    python experiments/score_norm.py runs/view2/lfw-view2-default/fold=*-seed0 --top-k 100
    python experiments/score_norm.py runs/view2/view2-restricted/fold=*-seed0 --cohort images
    python experiments/score_norm.py runs/distill/base-seed* --write runs/snorm

No training: the same weights, scored two ways. A face's cosines with a cohort (the mean unit
embedding of each training person of the run: never a validation or test person) say how
alike it looks to people at large; AS-norm subtracts the mean of its top-k cohort cosines
and divides by their standard deviation, for both faces of a pair, and averages the two:
s' = ((s - mu_a) / sd_a + (s - mu_b) / sd_b) / 2 (Matejka et al., 2017; top-k 0: the whole
cohort, S-norm). A restricted run's cohort is its training pairs' images, one a face
(--cohort images): the restricted rule forbids grouping faces by name. The threshold is
chosen on the run's validation pairs each way, as `evaluate` does. --top-ks prints
validation AUC only, for each k (how k is chosen; nothing of the test pairs is read).
Cosine-head runs only. The whole cohort (k = 0, chosen here on validation) is what a run
trained with `model.score_norm = "s-norm"` scores with itself (models/cohort.py). --write ROOT
gives each run that normalisation without training it again: ROOT/<run name> holds the same
weights, whitening and split, with the cohort fitted as training fits it and the threshold
chosen on validation; `siamese-faces evaluate` and `oneshot` then score it as any run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
from pathlib import Path

import torch

from siamese_faces.evaluation.api import open_run_data
from siamese_faces.evaluation.metrics import (
    accuracy,
    auc,
    best_threshold,
    head_threshold,
    verification_report,
)
from siamese_faces.evaluation.predict import embed_rows, pair_outputs
from siamese_faces.evaluation.runs import load_run
from siamese_faces.io import atomic_write_text
from siamese_faces.models import model_from_config
from siamese_faces.models.cohort import person_means
from siamese_faces.sweeps.benchmark import mean_se
from siamese_faces.training.callbacks import save_weights
from siamese_faces.training.trainer import fit_after_training


def units(run, data, rows: torch.Tensor) -> torch.Tensor:
    """Unit embeddings whose dot products are the run's scores (whitened, flips averaged)."""
    h = embed_rows(run.inference_net, data.images, rows, run.device, run.bf16)
    return run.net.head.units(h)


def cohort_of(run, val_data, by: str = "people") -> torch.Tensor:
    """The cohort: one unit vector a training person (the mean of their images' unit
    embeddings), or with ``by = "images"`` each image of the training pairs, grouped by no
    name (what the restricted protocol allows: its rule forbids forming anything from names)."""
    if by == "images":
        return units(run, val_data, val_data.train.faces()[0])
    if run.config.data.protocol == "restricted":
        raise SystemExit(
            f"{run.path}: a restricted run may not group its faces by name; use --cohort images."
        )
    return person_means(units(run, val_data, val_data.identity_rows), val_data.identity_labels)


def as_norm(u: torch.Tensor, ia, ib, cohort: torch.Tensor | None, top_k: int) -> torch.Tensor:
    """Scores of the pairs (u[ia[i]], u[ib[i]]) of unit embeddings ``u``, AS-normalised
    against ``cohort`` unless it is None."""
    s = (u[ia] * u[ib]).sum(1)
    if cohort is None:
        return s
    near = u @ cohort.T  # (faces, cohort)
    if 0 < top_k < near.shape[1]:
        near = near.topk(top_k, dim=1).values
    mu, sd = near.mean(1), near.std(1).clamp_min(1e-6)
    return ((s - mu[ia]) / sd[ia] + (s - mu[ib]) / sd[ib]) / 2


def pair_units(run, data, pairs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each face of ``pairs`` embedded once, and the rows of the pairs' two sides."""
    rows, ia, ib = pairs.faces()
    return units(run, data, rows), ia, ib


def pair_scores(run, data, pairs, cohort: torch.Tensor | None, top_k: int):
    """Each pair's score, AS-normalised against ``cohort`` unless it is None."""
    return as_norm(*pair_units(run, data, pairs), cohort, top_k).numpy()


def evaluate_both(run, val_data, data, top_k: int, by: str) -> dict:
    cohort, row = cohort_of(run, val_data, by), {"run": str(run.path), "top_k": top_k}
    val, test = pair_units(run, val_data, val_data.val), pair_units(run, data, data.test)
    yv = val_data.val.y.numpy()
    for name, c in (("on", cohort), ("off", None)):
        v, t = as_norm(*val, c, top_k).numpy(), as_norm(*test, c, top_k).numpy()
        report = verification_report(t, data.test.y.numpy(), best_threshold(v, yv))
        row[name] = {"acc": report["acc"], "auc": report["auc"], "val_auc": auc(v, yv)}
    return row


def write_normalised(run, val_data, root: Path) -> Path:
    """``root/<run name>``: ``run`` with ``model.score_norm = "s-norm"``, its cohort (and its
    whitening, refitted: the same) fitted on its training faces as training does."""
    model = dataclasses.replace(run.config.model, score_norm="s-norm")
    config = dataclasses.replace(run.config, model=model)
    net = model_from_config(config).to(run.device).eval()
    refit = ("whiten.", "score_norm.")  # fitted after training: fitted again below
    kept = {k: v for k, v in run.net.state_dict().items() if not k.startswith(refit)}
    missing = net.load_state_dict(kept, strict=False).missing_keys
    assert all(k.startswith(refit) for k in missing), missing
    fitted = fit_after_training(net, val_data, config, run.device, run.bf16)
    for name, value in run.net.whiten.named_buffers():  # the same weights, the same whitening
        torch.testing.assert_close(net.whiten.get_buffer(name), value, rtol=1e-4, atol=1e-5)
    _, scores = pair_outputs(net, val_data.images, val_data.val, run.device, run.bf16)
    threshold = head_threshold(net, scores.numpy(), val_data.val.y.numpy())
    out = root / run.path.name
    out.mkdir(parents=True, exist_ok=True)
    for name in ("split.json", "metrics.csv"):  # the same split and training history
        shutil.copy(run.path / name, out / name)
    atomic_write_text(out / "config.json", config.to_json())
    save_weights(out / "best.safetensors", net, config.to_json(), run.results["best_epoch"] - 1)
    # What training measured stays (the pair loss too: the same outputs); what the verdict's
    # scores measured is measured again on validation, and left to `evaluate` on test.
    trained = {k: v for k, v in run.results.items() if not k.startswith("test/")}
    results = {**trained, "threshold": threshold, "normalised_from": str(run.path), **fitted}
    results["val/acc"] = accuracy(scores.numpy(), val_data.val.y.numpy(), threshold)
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    return out


def summary(rows: list[dict]) -> str:
    def stats(key):
        v = [r[key]["acc"] for r in rows]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        mean, se = mean_se(v)  # LFW's: the standard deviation over the square root of n
        return f"{100 * mean:.2f} ± {100 * sd:.2f}% (SE {100 * se:.2f})"

    return f"mean over {len(rows)} runs (± std, SE): with {stats('on')}, without {stats('off')}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--top-k", type=int, default=100, help="cohort cosines averaged (0: all)")
    p.add_argument("--top-ks", help="comma-separated k: validation AUC of each, nothing else")
    p.add_argument(
        "--cohort",
        choices=["people", "images"],
        default="people",
        help="a mean embedding a training person, or each training image (restricted runs)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--write", type=Path, help="each run again, normalised, under this folder")
    args = p.parse_args()
    rows = []
    for path in args.runs:
        run = load_run(path)
        val_data, data = open_run_data(run)
        if args.write:
            print(f"{path}: normalised copy in {write_normalised(run, val_data, args.write)}")
            continue
        if args.top_ks:
            cohort, yv = cohort_of(run, val_data, args.cohort), val_data.val.y.numpy()
            val = pair_units(run, val_data, val_data.val)
            plain = auc(as_norm(*val, None, 0).numpy(), yv)
            ks = [int(k) for k in args.top_ks.split(",")]
            got = {k: auc(as_norm(*val, cohort, k).numpy(), yv) for k in ks}
            print(
                f"{path}: validation AUC without {plain:.4f}; "
                + ", ".join(f"k={k}: {a:.4f}" for k, a in got.items())
            )
            continue
        rows.append(row := evaluate_both(run, val_data, data, args.top_k, args.cohort))
        if not args.json:
            on, off = row["on"], row["off"]
            print(
                f"{path}: with AS-norm (k={args.top_k}) {100 * on['acc']:.1f}% (AUC "
                f"{on['auc']:.3f}, validation AUC {on['val_auc']:.4f}), without "
                f"{100 * off['acc']:.1f}% (AUC {off['auc']:.3f}, validation AUC "
                f"{off['val_auc']:.4f})",
                flush=True,
            )
    if rows:
        print(json.dumps(rows, indent=2) if args.json else summary(rows))


if __name__ == "__main__":
    main()
