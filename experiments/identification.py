"""1:N identification on LFW's unseen people, through the gallery that `enroll` builds.

Gallery: one photo of each DevTest person with two or more photos. Known probes: their other
photos. Unknown probes: every photo of half of the LFW people outside View 1's pairs files
(never trained on, never enrolled). Distractors: the other half of those people, one photo
each, added to the gallery in steps. Reported for each run: rank-1 accuracy; the open-set
identification rate at false-accept rates 1e-2 and 1e-3 (the threshold set so that that share
of unknown probes is accepted; a known probe counts when its top match is right and above
it); and rank-1 as the distractors are added.

    python experiments/identification.py RUN [RUN ...] --data ../shared/lfw-a \\
        > docs/measurements/identification.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from siamese_faces.data.cache import load_images
from siamese_faces.data.lfw import TEST_PAIRS, TRAIN_PAIRS, parse_pairs
from siamese_faces.data.source import open_source
from siamese_faces.evaluation.api import open_run_data
from siamese_faces.evaluation.runs import load_run
from siamese_faces.serving.api import search_form
from siamese_faces.serving.gallery import Gallery

STEPS = (0, 250, 500, 1000)  # distractor people added, then all of them


def embed(run, paths: list[Path], side: str = "key") -> np.ndarray:
    loaded = load_images(paths, run.preprocess)
    assert len(loaded.paths) == len(paths), "a bad image would shift the rows"
    return search_form(run, run.embed(torch.from_numpy(loaded.images)), side)


def sides(data_dir: str, trained: set[str], seed: int = 0):
    source = open_source(data_dir, None, None, True)
    people = source.dataset.people
    root = Path(data_dir)
    tested = parse_pairs(root / TEST_PAIRS).people
    view1 = parse_pairs(root / TRAIN_PAIRS).people | tested
    enrolled = sorted(n for n in tested if len(people[n].images) >= 2)
    outside = sorted(set(people) - view1 - trained)
    random.Random(seed).shuffle(outside)
    half = len(outside) // 2
    return people, enrolled, sorted(outside[:half]), sorted(outside[half:])


def open_set(known_top, known_right, unknown_top, far: float) -> float:
    threshold = np.quantile(unknown_top, 1 - far, method="higher")
    return float(np.mean(known_right & (known_top > threshold)))


def measure(run_dir: str, data_dir: str) -> dict:
    run = load_run(run_dir)
    val_data, _ = open_run_data(run)
    people, enrolled, unknown, distractors = sides(data_dir, val_data.trained_people())
    gallery_paths = [people[n].images[0] for n in enrolled]
    probe_paths = [p for n in enrolled for p in people[n].images[1:]]
    probe_names = [n for n in enrolled for _ in people[n].images[1:]]
    unknown_paths = [p for n in unknown for p in people[n].images]
    distractor_paths = [people[n].images[0] for n in distractors]
    g_vec, p_vec = embed(run, gallery_paths), embed(run, probe_paths, "query")
    u_vec, d_vec = embed(run, unknown_paths, "query"), embed(run, distractor_paths)
    out = {
        "run": run_dir,
        "enrolled": len(enrolled),
        "known_probes": len(probe_paths),
        "unknown_people": len(unknown),
        "unknown_probes": len(unknown_paths),
        "distractor_people": len(distractors),
        "rank1_with_distractors": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Gallery(tmp, run.weights_sha256, g_vec.shape[1])
        gallery.enroll(
            [(n, g_vec[k : k + 1], [str(gallery_paths[k])]) for k, n in enumerate(enrolled)]
        )
        added = 0
        for step in (*STEPS, len(distractors)):
            if step > len(distractors) or step < added:
                continue
            gallery.enroll(
                [(f"distractor {k}", d_vec[k : k + 1], ["d"]) for k in range(added, step)]
            )
            added = step
            top = [m[0] for m in gallery.search(p_vec, 1)]
            right = np.array([t.name == n for t, n in zip(top, probe_names, strict=True)])
            out["rank1_with_distractors"][str(step)] = float(right.mean())
            if step == 0:
                known_top = np.array([t.score for t in top])
                unknown_top = np.array([m[0].score for m in gallery.search(u_vec, 1)])
                out["rank1"] = float(right.mean())
                out["open_set_at_far_1e-2"] = open_set(known_top, right, unknown_top, 1e-2)
                out["open_set_at_far_1e-3"] = open_set(known_top, right, unknown_top, 1e-3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--data", default="../shared/lfw-a")
    args = ap.parse_args()
    rows = []
    for r in args.runs:
        rows.append(measure(r, args.data))
        print(json.dumps(rows[-1]), file=sys.stderr)
    keys = ["rank1", "open_set_at_far_1e-2", "open_set_at_far_1e-3"]
    summary = {  # mean and sample standard deviation over the runs, as elsewhere
        k: [float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows], ddof=1))]
        for k in keys
    }
    print(json.dumps({"runs": rows, "mean_std": summary}, indent=1))


if __name__ == "__main__":
    main()
