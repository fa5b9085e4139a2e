"""Write a run's model inputs as a small image tree: each image cropped and resized exactly as
the recipes do (data.size, data.crop), saved losslessly as PNG beside a copy of the pairs
files, so that a machine without ../shared (the GPU machine of experiments/lfw_view2.sh) gets
the very same arrays. Train there with ``--set data.crop=`` (the crop is already applied).

    python experiments/export_inputs.py --data ../shared/lfw-a --out .gpudata/lfw64 \
        [--size 64] [--crop 0.25,0.22,0.75,0.78] [--pairs pairs.txt]

Only the people of the pairs files given (default: View 2's pairs.txt) are written.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image

from siamese_faces.data.cache import load_images
from siamese_faces.data.images import Preprocess, load_image
from siamese_faces.data.layout import open_dataset
from siamese_faces.data.lfw import parse_pairs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--crop", default="0.25,0.22,0.75,0.78")
    p.add_argument("--pairs", nargs="+", default=["pairs.txt"])
    args = p.parse_args()
    src, out = Path(args.data), Path(args.out)
    dataset = open_dataset(src)
    people = set().union(*(parse_pairs(src / name).people for name in args.pairs))
    pre = Preprocess(args.size, tuple(float(v) for v in args.crop.split(",")))
    loaded = load_images([f for n in sorted(people) for f in dataset.people[n].images], pre)
    for path, image in zip(loaded.paths, loaded.images, strict=True):
        folder = out / "lfw2" / path.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "L").save(folder / f"{path.stem}.png", optimize=True)
    for name in args.pairs:
        shutil.copy(src / name, out / name)
    # The round trip is exact: read back with no crop and no resize, every array is the same.
    back = Preprocess(args.size, None)
    for path, image in zip(loaded.paths, loaded.images, strict=True):
        again = load_image(out / "lfw2" / path.parent.name / f"{path.stem}.png", back)
        if not (again == image).all():
            raise SystemExit(f"{path}: the PNG does not read back as the same array")
    print(f"{len(loaded.paths)} images of {len(people)} people -> {out}")


if __name__ == "__main__":
    main()
