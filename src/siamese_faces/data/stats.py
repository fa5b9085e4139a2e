"""Dataset analysis: the figures the study printed, and more (``siamese-faces data stats``)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from .images import load_image
from .source import DataSource

_BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, None))


def _bucket(n: int) -> str:
    for lo, hi in _BUCKETS:
        if hi is None or n <= hi:
            return str(lo) if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+")
    raise AssertionError("unreachable")


def dataset_stats(source: DataSource) -> dict:
    """Counts of people, images and pairs, per split, as plain JSON-able data."""
    ds = source.dataset
    counts = {name: len(p.images) for name, p in ds.people.items()}
    hist = Counter(_bucket(n) for n in counts.values())
    buckets = [_bucket(lo) for lo, _ in _BUCKETS]
    named = set()
    out = {
        "data": str(ds.root),
        "tree": str(ds.tree),
        "layout": ds.layout,
        "people": len(counts),
        "images": sum(counts.values()),
        "people_with_2plus_images": sum(n >= 2 for n in counts.values()),
        "max_images_per_person": max(counts.values(), default=0),
        "images_per_person_histogram": {b: hist.get(b, 0) for b in buckets},
    }
    for side, pairs in (("train", source.train), ("test", source.test)):
        if pairs is None:
            out[side] = None
            continue
        people = pairs.people
        named |= people
        n = len(pairs.pairs)
        out[side] = {
            "pairs_file": str(pairs.path),
            "format": pairs.format,
            "folds": pairs.folds,
            "people": len(people),
            "images": sum(counts.get(p, 0) for p in people),
            "pairs": n,
            "pairs_same": pairs.num_same,
            "pairs_different": pairs.num_different,
            "same_percent": round(100 * pairs.num_same / n, 2),
            "different_percent": round(100 * pairs.num_different / n, 2),
            # The tail and the head of the split: how much of an epoch that takes every image
            # once goes to people with a single photo, and to the most photographed.
            "people_with_one_image": sum(counts.get(p, 0) == 1 for p in people),
            "most_images": sorted(((counts.get(p, 0), p) for p in people), reverse=True)[:3],
        }
    rest = [p for p in counts if p not in named]
    out["rest"] = {"people": len(rest), "images": sum(counts[p] for p in rest)}
    out["overlap_people"] = len(source.overlap)
    return out


def format_stats(s: dict) -> str:
    """The figures of :func:`dataset_stats` as a short human-readable report."""
    lines = [
        f"dataset   {s['data']} ({s['layout']} layout, images under {s['tree']})",
        f"people    {s['people']:,}   images {s['images']:,}   "
        f"people with >= 2 images {s['people_with_2plus_images']:,}",
        "",
        f"{'split':<8}{'people':>8}{'images':>8}{'pairs':>8}{'same':>14}{'different':>14}",
    ]
    for side in ("train", "test"):
        t = s[side]
        if t is None:
            lines.append(f"{side:<8}{'(no pairs file)':>30}")
            continue
        lines.append(
            f"{side:<8}{t['people']:>8,}{t['images']:>8,}{t['pairs']:>8,}"
            f"{t['pairs_same']:>7} {t['same_percent']:5.1f}%"
            f"{t['pairs_different']:>7} {t['different_percent']:5.1f}%"
        )
    lines.append(f"{'rest':<8}{s['rest']['people']:>8,}{s['rest']['images']:>8,}")
    for side in ("train", "test"):
        t = s[side]
        if t is not None:
            most = ", ".join(f"{name} {n:,}" for n, name in t["most_images"])
            lines.append(
                f"{side}: {t['people_with_one_image']:,} people with one image; most: {most}"
            )
    lines += [
        "",
        "images per person: "
        + "  ".join(f"{k}: {v}" for k, v in s["images_per_person_histogram"].items()),
    ]
    verdict = "disjoint (good)" if s["overlap_people"] == 0 else "OVERLAP"
    lines.append(f"train/test people in common: {s['overlap_people']} -> {verdict}")
    return "\n".join(lines)


def example_grid(
    source: DataSource, out: Path, rows: int = 3, cols: int = 6, seed: int = 0
) -> Path:
    """A PNG grid of example images with their person's name, people picked with ``seed``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = source.dataset
    names = sorted(ds.people)
    picks = random.Random(seed).sample(names, min(rows * cols, len(names)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.0, rows * 2.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, picks, strict=False):
        person = ds.people[name]
        ax.imshow(load_image(person.images[0]), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{name.replace('_', ' ')}\n{len(person.images)} image(s)", fontsize=8)
    fig.suptitle(f"{len(picks)} of {len(names):,} people in {ds.root.name}", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    if out.is_dir():  # a folder: the grid goes inside it, under its usual name
        out = out / "data-examples.png"
    elif out.suffix.lower() != ".png":
        out = out.with_name(out.name + ".png")  # what matplotlib would write: say so
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
