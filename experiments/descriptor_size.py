"""The HOG and LBP histograms on larger faces than the tower's, for trained runs (no training).

    python experiments/descriptor_size.py runs/main-xeon-udrop/main-seed? --size 128 \
        --lbp-divisor 16 --lbp-radii 2 [--json]

A run with ``model.descriptor = "hog-lbp"`` computes its histograms on the faces its tower
sees (``data.size``, 64 pixels for the `default`), downsampled from LFW-a's 125 x 140-pixel
face region. Here the same faces are read at ``--size`` pixels (a power-of-two multiple of
the run's): the tower gets them resized down to its own size inside the net, as
``model.tower_size`` does (``models.siamese.Downsampled``), and the histograms see every
pixel (HOG cells of size // 16 pixels, LBP cells of size // ``--lbp-divisor``, at
``--lbp-radii``; the run's own families of histograms, ``model.descriptor_illumination``).
With the run's trained weights, the whitening, the histograms (their weight chosen on
validation) and the cohort are fitted again on the training people as training fits them,
the threshold is chosen on validation, and the test pairs are scored; against the run as
trained. The tower's weights were trained on faces that Pillow resized to its size once,
and gets them here resized twice (to --size by Pillow, then halved as Pillow's antialiased
bilinear resize would), nearly the same faces.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ablate_inference import print_summary, refit, trained_net  # noqa: E402

from siamese_faces.evaluation.api import evaluate, pair_scores, validation_data  # noqa: E402
from siamese_faces.evaluation.metrics import auc  # noqa: E402
from siamese_faces.evaluation.runs import load_run  # noqa: E402
from siamese_faces.models.descriptors import make_descriptor  # noqa: E402
from siamese_faces.models.siamese import Downsampled, halvings  # noqa: E402


def with_large_descriptor(run, size: int, divisor: int | None, radii: tuple[int, ...] | None):
    """``run`` scoring faces of ``size`` pixels: its tower (trained weights) on them resized,
    the histograms on them at full size, the whitening, histograms and cohort fitted again.
    Returns the validation data at that size (its test pairs are the run's)."""
    cfg, m = run.config, run.config.model
    net = trained_net(run, cfg)  # the descriptor and cohort fitted again below, at the new size
    # as model.tower_size builds it
    net.tower = Downsampled(net.tower, halvings(size, cfg.data.size), cfg.data.size)
    net.descriptor = make_descriptor(
        size,
        m.descriptor_dim,
        divisor or m.descriptor_lbp_divisor,
        radii or m.descriptor_lbp_radii,
        m.descriptor_illumination,  # the run's families, each read at the new size
        m.descriptor_halvings,
    )
    data = validation_data(run, dataclasses.replace(cfg.data, size=size))
    refit(run, net, data, cfg)
    return data


def score(run, data) -> dict:
    result = evaluate(run, data, data).result  # the threshold chosen on validation
    val_auc = auc(pair_scores(run, data, data.val)[1], data.val.y.numpy())
    return {
        "acc": result["at_val_threshold"]["acc"],
        "auc": result["at_val_threshold"]["auc"],
        "val auc": val_auc,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--size", type=int, default=128, help="the faces' size for the histograms")
    p.add_argument("--lbp-divisor", type=int, help="LBP cells of --size // this pixels")
    p.add_argument(
        "--lbp-radii",
        type=lambda v: tuple(int(r) for r in v.split(",")),
        help="comma-separated LBP radii (default: the run's)",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = []
    for path in args.runs:
        run = load_run(path)
        if run.config.model.descriptor != "hog-lbp":
            raise SystemExit(f"{path}: trained without model.descriptor; nothing to compare")
        own = validation_data(run)
        off = score(run, own)
        del own
        on = score(run, with_large_descriptor(run, args.size, args.lbp_divisor, args.lbp_radii))
        row = {"run": path}
        for flag, r in ((True, on), (False, off)):
            row.update({f"on={flag}": r["acc"], f"auc on={flag}": r["auc"]})
            row[f"val auc on={flag}"] = r["val auc"]
        rows.append(row)
    if args.json:
        print(
            json.dumps(
                {
                    "size": args.size,
                    "lbp_divisor": args.lbp_divisor,
                    "lbp_radii": args.lbp_radii,
                    "rows": rows,
                },
                indent=2,
            )
        )
        return
    print_summary(rows, f"{args.size}-pixel histograms")


if __name__ == "__main__":
    main()
