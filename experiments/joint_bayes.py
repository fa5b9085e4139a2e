"""Screen a Joint Bayesian verifier (Chen et al., 2012) on top of trained runs: validation
AUC only (no test pair is read).

    python experiments/joint_bayes.py runs/distill/base-seed* [--ridges 0.01,0.1,1]

A face's embedding (the run's own, whitened as the run scores it, then unit length) is
modelled as a person's mean plus that photo's own variation, both Gaussian:
``x = mu + eps``, ``mu ~ N(0, S_mu)``, ``eps ~ N(0, S_eps)``. ``S_eps`` is the within-person
covariance of the run's training people (or, restricted, its same-labelled training pairs:
RunData.fitting_faces), ``S_mu`` the covariance of their means; each gets a ridge of
``ridge`` times its mean variance. A pair's score is the log-likelihood ratio of "one person"
(the two share ``mu``) against "two people". Printed beside the run's own validation AUC
(its cosine, with its whitening and score normalisation), so a reader sees whether the
model of between-person variation adds anything to the cosine.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch.nn import functional as F

from siamese_faces.evaluation.api import open_run_data, pair_scores
from siamese_faces.evaluation.metrics import auc
from siamese_faces.evaluation.predict import embed_rows
from siamese_faces.evaluation.runs import load_run


def ridged(cov: torch.Tensor, ridge: float) -> torch.Tensor:
    d = cov.shape[0]
    return cov + ridge * cov.diagonal().mean() * torch.eye(d, dtype=cov.dtype)


def fit(x: torch.Tensor, classes: torch.Tensor, ridge: float) -> dict:
    """``S_mu`` and ``S_eps`` (float64) from faces ``x`` (N, D) of ``classes`` (N,), and the
    centre; only classes of two faces or more inform the within-person part."""
    x = x.double()
    centre = x.mean(0)
    x = x - centre
    labels, inverse, counts = classes.unique(return_inverse=True, return_counts=True)
    means = torch.zeros(len(labels), x.shape[1], dtype=x.dtype).index_add_(0, inverse, x)
    means /= counts[:, None].double()
    resid = x - means[inverse]
    several = counts[inverse] > 1
    s_eps = resid[several].T @ resid[several] / max(1, int(several.sum()) - int((counts > 1).sum()))
    s_mu = means.T @ means / len(labels)
    return {"centre": centre, "s_mu": ridged(s_mu, ridge), "s_eps": ridged(s_eps, ridge)}


def llr_matrix(model: dict) -> torch.Tensor:
    """``M`` with score ``-z^T M z`` for ``z = [x1; x2]``: the inverse covariance of "two
    people" minus that of "one person" (the constant term drops out of any ranking)."""
    s_mu, s_eps = model["s_mu"], model["s_eps"]
    total = s_mu + s_eps
    zero = torch.zeros_like(s_mu)
    same = torch.cat([torch.cat([total, s_mu], 1), torch.cat([s_mu, total], 1)])
    diff = torch.cat([torch.cat([total, zero], 1), torch.cat([zero, total], 1)])
    return torch.linalg.inv(same) - torch.linalg.inv(diff)


def scores(model: dict, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    z = torch.cat([h1.double(), h2.double()], 1) - torch.cat([model["centre"]] * 2)
    return -((z @ llr_matrix(model)) * z).sum(1)


def unit(h: torch.Tensor) -> torch.Tensor:
    return F.normalize(h.float(), dim=1)


def screen(path: str, ridges: list[float]) -> dict:
    run = load_run(path)
    val_data, _ = open_run_data(run)
    rows, grouped, classes = val_data.fitting_faces()
    train_h = unit(embed_rows(run.net, val_data.images, rows, run.device, run.bf16)[grouped])
    val_rows, ia, ib = val_data.val.faces()
    val_h = unit(embed_rows(run.net, val_data.images, val_rows, run.device, run.bf16))
    y = val_data.val.y.numpy()
    row = {
        "run": path,
        "own": auc(pair_scores(run, val_data, val_data.val)[1], y),
        "cosine": auc((val_h[ia] * val_h[ib]).sum(1).numpy(), y),
    }
    for ridge in ridges:
        model = fit(train_h, classes, ridge)
        row[f"jb {ridge:g}"] = auc(scores(model, val_h[ia], val_h[ib]).numpy(), y)
    return row


def validation_halves(val_data, seed: int = 0):
    """The validation people split in two, seeded: half A's faces and persons (to fit on),
    and the validation pairs whose people are all in half B (to score)."""
    names = sorted({n for p in val_data.val.pairs for n in p.people})
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    half_a = {names[i] for i in order[: len(names) // 2]}
    rows, classes = val_data.identity_table(sorted(half_a))
    keep = torch.tensor([not (set(p.people) & half_a) for p in val_data.val.pairs])
    return rows, classes, keep


def screen_halves(path: str, ridges: list[float]) -> dict:
    """Fitted on half of the validation people instead (people the tower never trained on,
    so their photos vary as unseen people's do), scored on pairs of the other half."""
    from siamese_faces.models.whiten import WithinClassWhitening

    run = load_run(path)
    val_data, _ = open_run_data(run)
    rows, classes, keep = validation_halves(val_data)
    val_rows, ia, ib = val_data.val.faces()
    ia, ib, y = ia[keep], ib[keep], val_data.val.y[keep].numpy()
    row = {"run": path, "pairs": int(keep.sum())}
    for name, whiten in (("own", run.net.whiten), ("raw", torch.nn.Identity())):
        run.net.whiten = whiten
        h = unit(embed_rows(run.net, val_data.images, val_rows, run.device, run.bf16))
        row[f"cosine {name}"] = auc((h[ia] * h[ib]).sum(1).numpy(), y)
    raw_fit = embed_rows(run.net, val_data.images, rows, run.device, run.bf16)
    raw_val = embed_rows(run.net, val_data.images, val_rows, run.device, run.bf16)
    for ridge in ridges:
        w = WithinClassWhitening(run.net.tower.embedding_dim, run.config.model.members, ridge)
        w.fit(raw_fit, classes)
        h = unit(w(raw_val))
        row[f"wccn {ridge:g}"] = auc((h[ia] * h[ib]).sum(1).numpy(), y)
        model = fit(unit(raw_fit), classes, ridge)
        row[f"jb {ridge:g}"] = auc(scores(model, unit(raw_val)[ia], unit(raw_val)[ib]).numpy(), y)
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--ridges", default="0.01,0.1,1", help="comma-separated ridges to screen")
    p.add_argument("--halves", action="store_true", help="fit on half the validation people")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    ridges = [float(r) for r in args.ridges.split(",")]
    rows = [(screen_halves if args.halves else screen)(path, ridges) for path in args.runs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(
            f"{r['run']}: validation AUC "
            + ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in r.items()
                if k != "run"
            )
        )


if __name__ == "__main__":
    main()
