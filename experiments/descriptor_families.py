"""HOG and LBP whitened apart, each with its own weight, against the joined descriptor (no
training): a screen on trained runs.

    python experiments/descriptor_families.py runs/view2/view2-default-e36-epyc/fold=*-seed0 \
        [--json]

The recipe's descriptor (``models/descriptors.py``) joins a face's HOG and LBP histograms
into one vector, takes a PCA of ``model.descriptor_dim`` whitened directions of it and the
within-person whitening, and weighs its cosine against the tower's by one share ``a`` chosen
on validation. Here the same histograms are also fitted per family: a PCA and a
within-person whitening of HOG alone and of LBP alone (as many directions each), so that a
pair scores ``(1 - a_h - a_l) cos_tower + a_h cos_hog + a_l cos_lbp``, both shares chosen on
the validation pairs by AUC, and the threshold most accurate on them
(``best_threshold``). Everything is fitted on the run's training people only, as
training fits it; no test pair is read before both rules are fixed. The screen leaves out
the score normalisation (S-norm) on both sides, so its numbers are below the runs' own; it
says whether the families apart score the validation and test pairs better than joined.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import numpy as np
import torch
from torch.nn import functional as F

from siamese_faces.evaluation.api import validation_data
from siamese_faces.evaluation.metrics import accuracy, auc, best_threshold
from siamese_faces.evaluation.predict import embed_rows
from siamese_faces.evaluation.runs import load_run
from siamese_faces.models.descriptors import RIDGE, whitened_directions
from siamese_faces.models.whiten import WithinClassWhitening
from siamese_faces.training.trainer import DESCRIPTOR_WEIGHTS, descriptor_features

# Two shares whose sum leaves the tower at least a fifth, as the joined share's grid does
PAIRS_OF_WEIGHTS = [(h, g) for h in DESCRIPTOR_WEIGHTS for g in DESCRIPTOR_WEIGHTS if h + g <= 0.8]


def fit_family(train: torch.Tensor, grouped, labels, dim: int, seed: int):
    """A PCA of ``dim`` whitened directions of ``train`` and the within-person whitening on
    its ``grouped`` rows, as ``Descriptor.fit`` fits the joined histograms (its randomised
    SVD started from ``train.seed`` as training starts it): a function that maps raw
    histograms to unit descriptors."""
    mean = train.mean(0)
    centred = train - mean  # a copy: the same histograms are fitted again, family by family
    project, z = whitened_directions(centred, dim, torch.Generator().manual_seed(seed))
    whiten = WithinClassWhitening(dim, 1, RIDGE)
    whiten.fit(z[grouped], labels)
    return lambda x: F.normalize(whiten((x - mean) @ project), dim=1)


def pair_cosines(units: torch.Tensor, ia, ib) -> torch.Tensor:
    return (units[ia] * units[ib]).sum(1)


def tower_alone(path: str):
    """The run at ``path`` (in eval mode) and its data, its descriptor left unfitted: the net
    embeds with the tower's own units, and the screen joins the histograms itself."""
    run = load_run(path)
    run.net.eval()
    run.net.descriptor.fitted.fill_(False)
    run.refresh()
    return run, validation_data(run)


def screen(path: str) -> dict:
    run, data = tower_alone(path)
    net, cfg, d = run.net, run.config, run.net.descriptor
    rows, grouped, classes = data.fitting_faces()
    sides = {"val": data.val, "test": data.test}
    faces = {k: s.faces() for k, s in sides.items()}
    cl = cfg.train.channels_last

    def tower(r):
        return net.head.units(embed_rows(net, data.images, r, run.device, run.bf16, 256, cl))

    def histograms(r):
        return descriptor_features(d, data.images, r, run.device)

    hog = d.hog_features
    columns = {"joined": slice(None), "hog": slice(0, hog), "lbp": slice(hog, None)}
    train = histograms(rows)
    dim, seed = cfg.model.descriptor_dim, cfg.train.seed
    fits = {k: fit_family(train[:, c], grouped, classes, dim, seed) for k, c in columns.items()}
    del train
    cos = {}
    for side, (r, ia, ib) in faces.items():
        raw = histograms(r)
        cos[side] = {"tower": pair_cosines(tower(r), ia, ib)}
        for name, f in fits.items():
            cos[side][name] = pair_cosines(f(raw[:, columns[name]]), ia, ib)
    yv, yt = sides["val"].y.numpy(), sides["test"].y.numpy()

    rules = {
        "joined": [{"tower": 1 - a, "joined": a} for a in DESCRIPTOR_WEIGHTS],
        "apart": [{"tower": 1 - h - g, "hog": h, "lbp": g} for h, g in PAIRS_OF_WEIGHTS],
    }
    return {"run": path, **scored_rules(cos, rules, yv, yt)}


def scored_rules(cos: dict, rules: dict, yv, yt) -> dict:
    """Each rule's shares (a grid of ``{score: share}``) chosen on the validation pairs by the
    AUC of ``sum share * cos["val"][score]``, then the threshold most accurate there; the test
    pairs scored by both only then."""

    def mix(side, shares):
        return sum(w * cos[side][k] for k, w in shares.items())

    out = {}
    for name, grid in rules.items():
        aucs = [auc(mix("val", s).numpy(), yv) for s in grid]
        best = grid[max(range(len(grid)), key=lambda i: (aucs[i], -i))]
        v, t = mix("val", best), mix("test", best)
        out[name] = {
            "shares": {k: round(w, 2) for k, w in best.items()},
            "val auc": max(aucs),
            "test auc": auc(t.numpy(), yt),
            "test acc": accuracy(t.numpy(), yt, best_threshold(v.numpy(), yv)),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = screen_runs(args.runs, screen, args.json)
    if rows is not None:
        print_means(rows, ("joined", "apart"))


def screen_runs(paths: list[str], screen, as_json: bool) -> list[dict] | None:
    """``screen(path)``'s row for each run, each printed to stderr as it comes; with
    ``as_json`` all of them printed as one JSON document instead of returned."""
    rows = []
    for path in paths:
        rows.append(screen(path))
        print(json.dumps(rows[-1]), file=sys.stderr)
    if as_json:
        print(json.dumps({"rows": rows}, indent=2))
        return None
    return rows


def print_means(rows: list[dict], names, keys=("val auc", "test auc")) -> None:
    """Each rule's mean over the runs of each AUC in ``keys`` (a key holding several
    numbers a run: their mean first), and of the test accuracy with its sd."""

    def mean(name, key):
        return statistics.mean(statistics.mean(np.atleast_1d(r[name][key])) for r in rows)

    for name in names:
        aucs = ", ".join(f"{k.replace('auc', 'AUC')} {mean(name, k):.4f}" for k in keys)
        acc = [r[name]["test acc"] for r in rows]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print(
            f"{name}: {aucs}, test acc {100 * statistics.mean(acc):.2f} (sd {100 * sd:.2f}) "
            f"over {len(rows)}"
        )


if __name__ == "__main__":
    main()
