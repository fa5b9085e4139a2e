"""One more family of features beside a trained run's embedding and its HOG and LBP
histograms (no training): a screen on trained runs.

    python experiments/extra_families.py runs/main-epyc-e36/main-seed? --families stage2,lpq \
        [--json]

Families: ``stageK``, the tower's own output map after stage K (0: the stem), of the face
and of its mirror image (flipped back), averaged. A tower that fits its training people to
99-100% while validation stays near 91% has specialised its last layers to those people; its
earlier maps describe faces more generally (the reason transfer learning reads them).
``lpq``: local phase quantisation (Ojansivu & Heikkila, 2008), the signs of the real and
imaginary parts of a 7 x 7 window's Fourier coefficients at four low frequencies as an 8-bit
code a pixel, its 256-bin histograms over 16-pixel cells of the 128-pixel face and of its
mirror, square-rooted: a texture code that reads phase, where LBP reads pixel order.

Each family is fitted as the recipe's histograms are (``descriptor_families.fit_family``: a
PCA to ``model.descriptor_dim`` whitened directions and the within-person whitening, on the
run's training people only), and a pair scores ``t cos_tower + a cos_histograms + m
cos_family``, the shares chosen on the validation pairs by AUC and the threshold most
accurate on them; against the recipe's rule (tower and histograms alone), fitted the same
way, and the family alone. No test pair is read before every rule is fixed; like
``descriptor_families.py`` the screen leaves out S-norm on every side.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch
from torch.nn import functional as F

from siamese_faces.data.rundata import batched
from siamese_faces.evaluation.predict import embed_rows
from siamese_faces.models.descriptors import cell_histograms, tan_triggs
from siamese_faces.models.siamese import halve, halvings
from siamese_faces.runtime import autocast
from siamese_faces.training.trainer import DESCRIPTOR_WEIGHTS, descriptor_features

sys.path.insert(0, str(Path(__file__).parent))
from descriptor_families import (  # noqa: E402
    fit_family,
    pair_cosines,
    scored_rules,
    screen_runs,
    tower_alone,
)

SHARES = [i / 20 for i in range(0, 13)]  # the map's share, 0 to 0.6


def stage_map(run, x: torch.Tensor, stage: int) -> torch.Tensor:
    """Stage ``stage``'s output of the tower (0: the stem) for faces ``x``, the face's and its
    mirror's (flipped back) averaged, flattened ``(B, C * H * W)``."""
    cfg = run.config
    tower = getattr(run.net.tower, "tower", run.net.tower)  # inside Downsampled, if it halves
    times = halvings(cfg.data.size, cfg.model.tower_size)
    x = halve(x, times) if times else x
    with autocast(run.device, run.bf16):
        h = tower.stem(torch.cat([x, x.flip(-1)]))
        for block in list(tower.stages)[:stage]:
            h = block(h)
    face, mirror = h.float().chunk(2)
    return ((face + mirror.flip(-1)) / 2).flatten(1)


def phase_codes(x: torch.Tensor, window: int = 7) -> torch.Tensor:
    """LPQ codes of faces ``(B, 1, S, S)``: ``(B, S - window + 1, S - window + 1)`` bytes,
    bit k the sign of the k-th of the real and imaginary parts of the window's Fourier
    coefficients at (a, 0), (0, a), (a, a), (a, -a), a = 1 / window (separable filters)."""
    r = window // 2
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    angle = 2 * math.pi * t / window
    w = torch.stack([torch.ones_like(t), torch.cos(angle), -torch.sin(angle)])  # 1, Re, Im
    along_x = F.conv2d(x, w[:, None, None, :])  # (B, 3, S, S - 2r): the rows filtered
    b, _, h, v = along_x.shape
    both = F.conv2d(along_x.reshape(b * 3, 1, h, v), w[:, None, :, None]).unflatten(0, (b, 3))
    # f[i][j]: the faces filtered by w[i] along x and by w[j] along y; w1 = Re + j Im
    f = [[both[:, i, j] for j in range(3)] for i in range(3)]
    parts = [
        f[1][0],
        f[2][0],  # (a, 0)
        f[0][1],
        f[0][2],  # (0, a)
        f[1][1] - f[2][2],
        f[1][2] + f[2][1],  # (a, a): w1(x) w1(y)
        f[1][1] + f[2][2],
        f[2][1] - f[1][2],  # (a, -a): w1(x) conj(w1(y))
    ]
    code = torch.zeros_like(f[0][0], dtype=torch.uint8)
    for bit, part in enumerate(parts):
        code = code + (part >= 0).to(torch.uint8) * (1 << bit)
    return code


def lpq_histograms(x: torch.Tensor, cell: int = 16) -> torch.Tensor:
    """Square-rooted 256-bin LPQ histograms over ``cell``-pixel cells of each face ``x`` and of
    its mirror image, ``(B, 2 * 256 * cells)``."""
    code = phase_codes(torch.cat([x, x.flip(-1)]))
    counts = cell_histograms(code.long(), torch.ones_like(code, dtype=torch.float), 256, cell)
    h = (counts / (cell * cell)).sqrt().flatten(1)
    return h.unflatten(0, (2, -1)).transpose(0, 1).flatten(1)


def family_features(run, images, rows, name: str) -> torch.Tensor:
    d, device = run.net.descriptor, run.device
    if name == "tt":  # the run's HOG and LBP histograms of the Tan & Triggs normalised faces
        return batched(lambda x: d.features(tan_triggs(x)), images, rows, device)
    if name == "rawtt":  # one family: the histograms of the face as it is and normalised
        both = lambda x: torch.cat([d.features(x), d.features(tan_triggs(x))], 1)  # noqa: E731
        return batched(both, images, rows, device)
    if name == "lpq":
        return batched(lpq_histograms, images, rows, device)
    if name.startswith("stage"):
        stage = int(name.removeprefix("stage"))
        return batched(lambda x: stage_map(run, x, stage), images, rows, device)
    raise SystemExit(f"--families: {name!r} is none of tt, rawtt, lpq, stage0 ... stage4")


def screen(path: str, families: list[str]) -> dict:
    run, data = tower_alone(path)
    net, cfg, d = run.net, run.config, run.net.descriptor
    rows, grouped, classes = data.fitting_faces()
    sides = {"val": data.val, "test": data.test}
    faces = {k: s.faces() for k, s in sides.items()}
    dim, seed, cl = cfg.model.descriptor_dim, cfg.train.seed, cfg.train.channels_last

    def features(name, r):
        if name == "histograms":
            return descriptor_features(d, data.images, r, run.device)
        return family_features(run, data.images, r, name)

    names = ["histograms", *families]
    fits = {n: fit_family(features(n, rows), grouped, classes, dim, seed) for n in names}
    cos = {}
    for side, (r, ia, ib) in faces.items():
        units = net.head.units(embed_rows(net, data.images, r, run.device, run.bf16, 256, cl))
        cos[side] = {"tower": pair_cosines(units, ia, ib)}
        for n in names:
            cos[side][n] = pair_cosines(fits[n](features(n, r)), ia, ib)
    yv, yt = sides["val"].y.numpy(), sides["test"].y.numpy()

    rules = {
        "recipe": [{"tower": 1 - a, "histograms": a} for a in DESCRIPTOR_WEIGHTS],
        "histograms alone": [{"histograms": 1.0}],
    }
    for n in families:
        rules[n] = [
            {"tower": 1 - a - m, "histograms": a, n: m}
            for a in DESCRIPTOR_WEIGHTS
            for m in SHARES
            if a + m <= 0.8
        ]
        rules[f"{n} alone"] = [{n: 1.0}]
        rules[f"{n} instead"] = [{"tower": 1 - m, n: m} for m in DESCRIPTOR_WEIGHTS]
    return {"run": path, **scored_rules(cos, rules, yv, yt)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run folders, or with --summary saved --json files")
    p.add_argument(
        "--families", default="lpq", help="comma-separated: tt, rawtt, lpq, stage0 ... stage4"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--summary", action="store_true", help="print saved --json outputs again")
    args = p.parse_args()
    if args.summary:
        for path in args.runs:
            print(path)
            print_rows(json.loads(Path(path).read_text())["rows"])
        return
    families = args.families.split(",")
    rows = screen_runs(args.runs, lambda path: screen(path, families), args.json)
    if rows is not None:
        print_rows(rows)


def print_rows(rows: list[dict]) -> None:
    """Each rule's means over the runs (rules a run lacks are left out): validation and test
    AUC, test accuracy with its sd and standard error."""
    names = [k for k in rows[0] if k != "run" and all(k in r for r in rows)]
    for name in names:
        mean = {k: statistics.mean(r[name][k] for r in rows) for k in ("val auc", "test auc")}
        acc = [100 * r[name]["test acc"] for r in rows]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print(
            f"{name}: val AUC {mean['val auc']:.4f}, test AUC {mean['test auc']:.4f}, "
            f"test acc {statistics.mean(acc):.2f} (sd {sd:.2f}, SE {sd / len(acc) ** 0.5:.2f})"
            f" over {len(rows)}"
        )


if __name__ == "__main__":
    main()
