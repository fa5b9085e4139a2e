"""Face detectors and landmark models for `--align`, compared on displaced DevTest images.

For each candidate, on N images of runs/displaced (experiments/displaced.py) and their LFW-a
originals: the detection rate, the landmark error against LFW-a's own alignment (the five
landmarks found on the aligned displaced image against those found on the LFW-a original, in
inter-ocular distances), and the time per image (detection + landmarks + warp). The template
is the median landmarks over LFW-a DevTrain images, as a run measures it.

    python experiments/align_candidates.py --images 150 --template-images 150 \
        > docs/measurements/align_candidates.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import dlib
import numpy as np

from siamese_faces.data import align as A
from siamese_faces.data.images import load_image
from siamese_faces.data.layout import open_dataset
from siamese_faces.data.lfw import TRAIN_PAIRS, image_pairs, parse_pairs

MODELS = (
    Path(next(iter(importlib.util.find_spec("face_recognition_models").submodule_search_locations)))
    / "models"
)


def hog(adaptive: bool):
    det = dlib.get_frontal_face_detector()

    def find(gray):
        small, s = A.shrunk(gray)
        found = (det(small, 0) or det(small, 1)) if adaptive else det(small, 1)
        return [
            tuple(round(v / s) for v in (r.left(), r.top(), r.right(), r.bottom())) for r in found
        ]

    return find


def cnn():
    det = dlib.cnn_face_detection_model_v1(str(MODELS / "mmod_human_face_detector.dat"))

    def find(gray):
        small, s = A.shrunk(gray)
        found = det(small, 0) or det(small, 1)
        return [
            tuple(
                round(v / s) for v in (d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom())
            )
            for d in found
        ]

    return find


def five_point():
    pred = dlib.shape_predictor(str(MODELS / "shape_predictor_5_face_landmarks.dat"))

    def points(gray, box):
        shape = pred(gray, dlib.rectangle(*box))
        p = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=np.float64)
        # 5-point model: 0-1 one eye's corners, 2-3 the other's, 4 below the nose; no mouth.
        eyes = sorted([p[0:2].mean(0), p[2:4].mean(0)], key=lambda e: e[0])
        return np.stack([eyes[0], eyes[1], p[4]])

    return points


def sixty_eight(gray, box):
    return A.landmarks(gray, box)


CANDIDATES = {
    "HOG as is, then doubled + 68-point (chosen)": (hog(True), sixty_eight),
    "HOG doubled always + 68-point": (hog(False), sixty_eight),
    "HOG as is, then doubled + 5-point": (hog(True), five_point()),
    "CNN (MMOD) + 68-point": (cnn(), sixty_eight),
}


def template(find, points, paths):
    found = []
    for p in paths:
        g = load_image(p)
        boxes = find(g)
        if boxes:
            found.append(points(g, max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))))
    return np.median(np.stack(found), axis=0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/lfw-a")
    ap.add_argument("--displaced", default="runs/displaced")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--template-images", type=int, default=300)
    ap.add_argument("--chosen-only", action="store_true", help="time the chosen one alone")
    args = ap.parse_args()
    dataset = open_dataset(args.data)
    train = image_pairs(parse_pairs(Path(args.data) / TRAIN_PAIRS), dataset)
    every = sorted({f for p in train for f in (p.image1, p.image2)})
    train_images = every[:: max(1, len(every) // args.template_images)][: args.template_images]
    shown = sorted(Path(args.displaced, "lfw2").glob("*/*.jpg"))
    chosen = shown[:: max(1, len(shown) // args.images)][: args.images]
    rows = {}
    chosen_only = {k: v for k, v in CANDIDATES.items() if "(chosen)" in k}
    for name, (find, points) in (chosen_only if args.chosen_only else CANDIDATES).items():
        tmpl = template(find, points, train_images)
        iod = np.linalg.norm(tmpl[1] - tmpl[0])
        found, errors, seconds = 0, [], 0.0
        for path in chosen:
            original = load_image(dataset.people[path.parent.name].images[int(path.stem[-4:]) - 1])
            gray = load_image(path)
            start = time.perf_counter()
            boxes = find(gray)
            if boxes:
                box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
                out = A.warp(gray, A.similarity(points(gray, box), tmpl), (250, 250))
            seconds += time.perf_counter() - start
            if not boxes:
                continue
            found += 1
            ref, back = find(original), find(out)
            if ref and back:
                a = points(original, max(ref, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])))
                b = points(out, max(back, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])))
                errors.append(float(np.linalg.norm(a - b, axis=1).mean() / iod))
        rows[name] = {
            "detected": found,
            "images": len(chosen),
            "detection_rate": found / len(chosen),
            "landmark_error_iod_median": float(np.median(errors)),
            "landmark_error_iod_p90": float(np.percentile(errors, 90)),
            "ms_per_image": 1000 * seconds / len(chosen),
        }
        print(name, rows[name], flush=True, file=__import__("sys").stderr)
    out = {"images": len(chosen), "template_images": len(train_images), "candidates": rows}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
