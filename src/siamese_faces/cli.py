"""The ``siamese-faces`` command line: one sub-command per thing a user does."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__


def _data_args(p: argparse.ArgumentParser, pairs: bool = True) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        metavar="DIR",
        help="image folder: <Name>/<Name>_0001.jpg folders, a folder above one such "
        "tree (LFW-a's lfw2/), or flat <Name>_0001.jpg files "
        "(default: $SIAMESE_FACES_DATA)",
    )
    if pairs:
        g.add_argument(
            "--pairs-train",
            metavar="FILE",
            help="training pairs (default: pairsDevTrain.txt beside or above the images)",
        )
        g.add_argument(
            "--pairs-test",
            metavar="FILE",
            help="test pairs (default: pairsDevTest.txt beside or above the images)",
        )
        g.add_argument(
            "--allow-overlap",
            action="store_true",
            help="allow people who are in both pairs files (normally an error)",
        )
    g.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="leave out (and report) images that cannot be decoded instead of stopping",
    )
    g.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where decoded images are cached (default: $SIAMESE_FACES_CACHE or "
        "~/.cache/siamese-faces)",
    )


def _source(args):
    from .data.source import open_source

    return open_source(
        args.data,
        getattr(args, "pairs_train", None),
        getattr(args, "pairs_test", None),
        getattr(args, "allow_overlap", False),
    )


def cmd_data_stats(args) -> int:
    from .data.stats import dataset_stats, example_grid, format_stats

    source = _source(args)
    stats = dataset_stats(source)
    if args.grid:
        stats["example_grid"] = str(example_grid(source, Path(args.grid), seed=args.seed))
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(format_stats(stats))
        if args.grid:
            print(f"example grid: {stats['example_grid']}")
    return 0


def cmd_data_split(args) -> int:
    from .data.splits import make_split

    source = _source(args)
    pairs = source.require_train()
    split = make_split(pairs, args.rule, args.fraction, args.seed)
    if args.out:
        split.save(Path(args.out), pairs)
    counts = split.counts(pairs)
    if args.json:
        print(json.dumps({**counts, "saved_to": args.out}, indent=2))
    else:
        t, v = counts["train"], counts["val"]
        print(
            f"rule {split.rule}"
            + (f" (fraction {split.fraction}, seed {split.seed})" if split.rule == "people" else "")
        )
        print(
            f"train      {t['same']:>5} same + {t['different']:>5} different = {t['pairs']:>5} "
            f"pairs, {t['people']} people"
        )
        print(
            f"validation {v['same']:>5} same + {v['different']:>5} different = {v['pairs']:>5} "
            f"pairs, {v['people']} people ({100 * counts['val_fraction']:.1f}%)"
        )
        print(f"people on both sides: {counts['overlap_people']}")
        if args.out:
            print(f"saved to {args.out}")
    return 0


def cmd_data_cache(args) -> int:
    from .data.cache import load_images
    from .data.images import Preprocess
    from .data.layout import open_dataset

    dataset = open_dataset(args.data)
    pre = Preprocess(args.size, tuple(args.crop) if args.crop else None)
    paths = dataset.all_images()
    first = load_images(paths, pre, args.cache_dir, skip_bad=args.skip_bad_images)
    result = {
        "images": len(first.paths),
        "skipped": [[str(p), w] for p, w in first.skipped],
        "size": pre.size,
        "cache_file": str(first.cache_file),
        "cache_hit": first.cache_hit,
        "seconds": round(first.seconds, 3),
    }
    if args.twice:  # the second load is the one every later run pays
        second = load_images(paths, pre, args.cache_dir, skip_bad=args.skip_bad_images)
        result["second_seconds"], result["second_cache_hit"] = (
            round(second.seconds, 3),
            second.cache_hit,
        )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        how = "loaded from cache" if first.cache_hit else "decoded and cached"
        print(
            f"{result['images']:,} images at {pre.size}x{pre.size} {how} in "
            f"{first.seconds:.2f} s -> {first.cache_file}"
        )
        for path, why in first.skipped:
            print(f"skipped {path}: {why}")
        if args.twice:
            print(
                f"second load: {result['second_seconds']:.3f} s "
                f"(cache hit: {result['second_cache_hit']})"
            )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siamese-faces",
        description="One-shot face verification with Siamese networks: analyse a face dataset, "
        "train, evaluate, verify two photos, report.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="dataset analysis, validation splits, image cache")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    p = data_sub.add_parser("stats", help="people, images and pairs per split; example grid")
    _data_args(p)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument(
        "--grid",
        metavar="PNG",
        default="data-examples.png",
        help="where to write the example-image grid (default: %(default)s; '' for none)",
    )
    p.add_argument("--seed", type=int, default=0, help="which people the grid shows")
    p.set_defaults(func=cmd_data_stats)

    p = data_sub.add_parser("split", help="train/validation split of the training pairs")
    _data_args(p)
    p.add_argument(
        "--rule",
        choices=("people", "letters"),
        default="people",
        help="people: no person on both sides (default); letters: the study's rule",
    )
    p.add_argument("--fraction", type=float, default=0.3, help="validation fraction (people rule)")
    p.add_argument("--seed", type=int, default=0, help="seed of the people rule")
    p.add_argument("--out", metavar="FILE", help="save the split as JSON")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=cmd_data_split)

    p = data_sub.add_parser("cache", help="decode and cache every image; time it")
    _data_args(p, pairs=False)
    p.add_argument("--size", type=int, default=125, help="side of the square model input")
    p.add_argument(
        "--crop",
        type=float,
        nargs=4,
        metavar=("LEFT", "TOP", "RIGHT", "BOTTOM"),
        help="crop box as fractions of the frame, before resizing",
    )
    p.add_argument("--twice", action="store_true", help="load a second time and time the cache")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_data_cache)

    from .training.cli import add_training_commands

    add_training_commands(sub)
    from .evaluation.cli import add_evaluation_commands

    add_evaluation_commands(sub)
    from .reporting.cli import add_reporting_commands

    add_reporting_commands(sub)
    from .experiments.cli import add_sweep_commands

    add_sweep_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .data.images import BadImageError
    from .data.layout import DatasetError
    from .data.pairs import PairsFormatError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatasetError, PairsFormatError, BadImageError, ValueError) as exc:
        # User errors: one clear line, no traceback. Bugs (other exceptions) keep theirs.
        print(f"siamese-faces: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("siamese-faces: interrupted", file=sys.stderr)
        return 130
