"""Trained runs' validation pairs formed from names with their different pairs drawn by
person, as LFW draws its own, instead of by image (``data.val_identity_negatives``), on the
same weights (no training): what the shares of the histograms and the threshold, both
chosen on validation, become, and what the test pairs then score.

    python experiments/validation_negatives.py runs/main-epyc-1207/main-seed? --json
    python experiments/validation_negatives.py runs/view2/view2-unr-vbh/fold=?-seed0 --json

    python experiments/validation_negatives.py --pairs-file ../shared/lfw-a/pairsDevTrain.txt

LFW's different pairs are of two people each drawn alike (``--pairs-file``: the people of a
training pairs file's different pairs have about as many images as a person drawn alike
has, far fewer than the person of an image drawn alike); formed by image, the validation
people with many images fill most of them. Per run and way: the histograms' shares and the
validation AUC they were chosen on, the threshold, and the test pairs' accuracy, AUC, false
accepts and false rejects at it. The epoch stays the one the run chose.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from pathlib import Path

from siamese_faces.data.layout import open_dataset
from siamese_faces.data.lfw import parse_pairs
from siamese_faces.evaluation.api import evaluate, validation_data
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import reuse_freed_memory

sys.path.insert(0, str(Path(__file__).parent))
from ablate_inference import refit_as  # noqa: E402
from screens import report_rows, saved_summary, screen_parser  # noqa: E402

WAYS = ("images", "people")


def score(path: str, way: str) -> dict:
    """One run's fit after training redone on validation pairs whose different pairs are
    drawn ``way``, and what it then scores."""
    run = load_run(path)
    if run.config.data.val_identity_pairs == 0:
        raise SystemExit(f"{path}: forms no validation pairs from names (val_identity_pairs=0).")
    data = validation_data(run, dataclasses.replace(run.config.data, val_identity_negatives=way))
    fitted = refit_as(run, data, descriptor=run.config.model.descriptor)
    ev = evaluate(run, data, data).result["at_val_threshold"]
    return {
        "run": path,
        "way": way,
        "trained_with": run.config.data.val_identity_negatives,
        "shares": fitted.get("descriptor_weight"),
        "val_auc_shares": fitted.get("descriptor_val_auc"),
        "threshold": ev["threshold"],
        "acc": ev["acc"],
        "auc": ev["auc"],
        "false_accept": ev["confusion"]["false_accept"],
        "false_reject": ev["confusion"]["false_reject"],
    }


def pair_people(path: str) -> dict:
    """How many images the people of ``path``'s different pairs have, on average over their
    places in those pairs, beside a person drawn alike and the person of an image drawn alike
    (the dataset being the folder the file lies in)."""
    pairs = parse_pairs(path)
    images = {n: len(p.images) for n, p in open_dataset(Path(path).parent).people.items()}
    named = [n for q in pairs.pairs if not q.same for n in q.people]
    counts = list(images.values())
    return {
        "pairs_file": path,
        "different_pairs": len(named) // 2,
        "images_of_their_people": statistics.mean(images[n] for n in named),
        "images_of_a_person_drawn_alike": statistics.mean(counts),
        "images_of_an_images_person": sum(c * c for c in counts) / sum(counts),
    }


def summary(rows: list[dict], out=sys.stdout) -> None:
    """Per way: the test accuracy's mean over the runs, then each run's row."""
    for way in dict.fromkeys(r["way"] for r in rows):
        mine = [r for r in rows if r["way"] == way]
        acc = [100 * r["acc"] for r in mine]
        spread = f" ± {statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
        print(f"different pairs by {way}: test {statistics.mean(acc):.2f}%{spread} (std)", file=out)
        for r in mine:
            print(
                f"  {r['run']}: shares {r['shares']}, threshold {r['threshold']:.4f}, test "
                f"{100 * r['acc']:.2f}%, AUC {r['auc']:.4f}, {r['false_accept']} false accepts, "
                f"{r['false_reject']} false rejects",
                file=out,
            )


def main() -> None:
    p = screen_parser(__doc__, WAYS)
    p.add_argument("--pairs-file", help="whose people a pairs file's different pairs are of")
    args = p.parse_args()
    reuse_freed_memory()  # as training does
    if args.pairs_file:
        print(json.dumps(pair_people(args.pairs_file), indent=2))
        return
    if saved_summary(args, summary):
        return
    ways = args.ways.split(",")
    report_rows((score(path, way) for path in args.runs for way in ways), summary, args.json)


if __name__ == "__main__":
    main()
