"""The classical baseline: HOG features, PCA whitening, cosine similarity, no learning of faces.

    python experiments/baseline_hog.py --data ../shared/lfw-a [--json]

PCA is fitted on the images of the training people (unrestricted: identities are not used,
only images), the threshold is chosen on the validation pairs of the default person-disjoint
split, and the DevTest accuracy and AUC are reported. Same crop as the recipes.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from siamese_faces.config import Config, apply_overrides
from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.metrics import accuracy, auc, best_threshold


def hog(images: np.ndarray, cell: int = 8, bins: int = 9) -> np.ndarray:
    """Histograms of oriented gradients, ``(N, S, S)`` -> ``(N, F)``; 2x2-cell L2-Hys blocks."""
    x = images.astype(np.float32) / 255.0
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    gy[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned orientation
    b = np.minimum((ang / np.pi * bins).astype(int), bins - 1)
    n, s, _ = x.shape
    c = s // cell
    hist = np.zeros((n, c, c, bins), np.float32)
    for k in range(bins):
        m = (mag * (b == k))[:, : c * cell, : c * cell]
        hist[..., k] = m.reshape(n, c, cell, c, cell).sum(axis=(2, 4))
    blocks = np.concatenate(
        [hist[:, i : i + c - 1, j : j + c - 1] for i in (0, 1) for j in (0, 1)], axis=-1
    )  # (N, c-1, c-1, 4*bins)
    blocks /= np.linalg.norm(blocks, axis=-1, keepdims=True) + 1e-6
    blocks = np.minimum(blocks, 0.2)
    blocks /= np.linalg.norm(blocks, axis=-1, keepdims=True) + 1e-6
    return blocks.reshape(n, -1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/lfw-a")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--components", type=int, default=256)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    start = time.perf_counter()
    cfg = apply_overrides(
        Config(),
        [
            f"data.dir={args.data}",
            f"data.size={args.size}",
            "data.crop=0.25,0.22,0.75,0.78",
            "data.protocol=unrestricted",
        ],
    )
    data = prepare(cfg)
    feats = hog(data.images.numpy())
    feats = np.concatenate([feats, hog(data.images.numpy()[:, :, ::-1])], axis=1)  # + mirror
    train = feats[data.identity_rows.numpy()]
    mean = train.mean(0)
    _, sv, vt = np.linalg.svd(train - mean, full_matrices=False)
    k = min(args.components, len(sv))
    proj = vt[:k].T / (sv[:k] + 1e-6)  # whitening

    def scores(pairs):
        a = (feats[pairs.a.numpy()] - mean) @ proj
        b = (feats[pairs.b.numpy()] - mean) @ proj
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9)

    t = best_threshold(scores(data.val), data.val.y.numpy())
    s_test, y_test = scores(data.test), data.test.y.numpy()
    result = {
        "test/acc": accuracy(s_test, y_test, t),
        "test/auc": auc(s_test, y_test),
        "val/acc": accuracy(scores(data.val), data.val.y.numpy(), t),
        "threshold": t,
        "components": k,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(
        json.dumps(result, indent=2)
        if args.json
        else f"HOG + PCA({k}) whitening + cosine: DevTest accuracy {100 * result['test/acc']:.1f}%"
        f", AUC {result['test/auc']:.3f} (threshold from validation), {result['seconds']} s"
    )


if __name__ == "__main__":
    main()
