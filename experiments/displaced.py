"""Displaced DevTest: every image of LFW-a's DevTest people as a phone or a web page gives it.

Each image is scaled 0.5-1.3x, rotated up to +-20 degrees, and placed at a random spot on a
larger canvas (1.6-2.4x the image side) of a random colour, saved as an RGB JPEG in LFW's
layout with pairsDevTest.txt beside it, so `siamese-faces evaluate RUN --data OUT` scores it
(with `--align auto` or `--align none`). Seeded; writes only under OUT.

    python experiments/displaced.py --data ../shared/lfw-a --out runs/displaced
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

from PIL import Image

from siamese_faces.data.layout import open_dataset
from siamese_faces.data.lfw import TEST_PAIRS, parse_pairs


def displace(im: Image.Image, rng: random.Random) -> tuple[Image.Image, dict]:
    scale, angle = rng.uniform(0.5, 1.3), rng.uniform(-20, 20)
    side = round(im.width * scale)
    face = im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
    face = face.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    mask = Image.new("L", (side, side), 255).rotate(angle, expand=True)
    canvas_side = round(im.width * rng.uniform(1.6, 2.4))
    colour = tuple(rng.randrange(256) for _ in range(3))
    canvas = Image.new("RGB", (canvas_side, canvas_side), colour)
    x = rng.randrange(max(1, canvas_side - face.width))
    y = rng.randrange(max(1, canvas_side - face.height))
    canvas.paste(face, (x, y), mask)
    return canvas, {"scale": scale, "angle": angle, "x": x, "y": y, "canvas": canvas_side}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/lfw-a")
    ap.add_argument("--out", default="runs/displaced")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    dataset = open_dataset(args.data)
    pairs_file = Path(args.data) / TEST_PAIRS
    people = sorted(parse_pairs(pairs_file).people)
    rng = random.Random(args.seed)
    out = Path(args.out)
    moves = {}
    for name in people:
        for path in dataset.people[name].images:
            target = out / "lfw2" / name / (path.stem + ".jpg")
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as im:
                canvas, move = displace(im, rng)
            canvas.save(target, quality=90)
            moves[f"{name}/{target.name}"] = move
    shutil.copyfile(pairs_file, out / TEST_PAIRS)
    (out / "displacements.json").write_text(json.dumps({"seed": args.seed, "images": moves}))
    print(f"{len(moves)} images of {len(people)} people -> {out}")


if __name__ == "__main__":
    main()
