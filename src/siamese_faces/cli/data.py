"""``siamese-faces data``: dataset analysis, validation splits, the image cache."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import DataConfig
from . import options


def _source(args):
    from ..data.source import open_source

    return open_source(
        args.data,
        getattr(args, "pairs_train", None),
        getattr(args, "pairs_test", None),
        getattr(args, "allow_overlap", False),
        depth=args.depth or 1,
    )


def cmd_data_stats(args) -> int:
    from ..data.stats import dataset_stats, example_grid, format_stats

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
    from ..data.splits import make_split

    source = _source(args)
    pairs = source.require_train()
    split = make_split(pairs, args.split, args.val_fraction, args.split_seed)
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
    from ..data.cache import load_images
    from ..data.images import Preprocess
    from ..data.layout import open_dataset

    dataset = open_dataset(args.data, args.depth or 1)
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


def cmd_data_pairs(args) -> int:
    from ..data.generate import describe, write_pairs
    from ..data.layout import open_dataset

    dataset = open_dataset(args.data, args.depth or 1)
    summary = write_pairs(
        dataset, Path(args.out), args.test_fraction, args.pair_count, args.split_seed
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{dataset.tree}: made {describe(summary)}")
        for side in ("train", "test"):
            print(f"  {summary[side]['file']}")
        print(f"  {Path(args.out) / 'pairs-summary.json'}")
    return 0


def _add_pairs(data_sub, d: DataConfig) -> None:
    p = data_sub.add_parser(
        "pairs", help="make person-disjoint training and test pairs files for any identity tree"
    )
    options.add_data(p, pairs=(), overlap=False, skip_bad=False)
    p.add_argument(
        "--test-fraction",
        type=float,
        default=d.test_fraction,
        help="data.test_fraction: share of the people on the test side "
        f"(default {d.test_fraction})",
    )
    p.add_argument(
        "--pair-count",
        "--pairs",
        type=int,
        default=d.pair_count,
        help="data.pair_count: same pairs (and as many different) in the training file; the "
        "test file in proportion to its people (default 0: one of each per image)",
    )
    p.add_argument(
        "--split-seed", "--seed", type=int, default=d.split_seed, help="data.split_seed: the seed"
    )
    p.add_argument(
        "--out", metavar="DIR", required=True, help="folder for pairsDevTrain.txt, pairsDevTest.txt"
    )
    options.add_json(p, "the summary")
    p.set_defaults(func=cmd_data_pairs)


def add_commands(sub) -> None:
    data = sub.add_parser("data", help="dataset analysis, validation splits, image cache")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    p = data_sub.add_parser("stats", help="people, images and pairs per split; example grid")
    options.add_data(p)
    options.add_json(p, "the figures")
    p.add_argument(
        "--grid",
        metavar="PNG",
        default="data-examples.png",
        help="where to write the example-image grid (default: %(default)s; '' for none)",
    )
    p.add_argument("--seed", type=int, default=0, help="which people the grid shows")
    p.set_defaults(func=cmd_data_stats)

    p = data_sub.add_parser("split", help="train/validation split of the training pairs")
    options.add_data(p)
    d = DataConfig()  # the defaults of data.split, data.val_fraction, data.split_seed
    p.add_argument(
        "--split",
        choices=("people", "letters"),
        default=d.split,
        help="data.split: people, no person on both sides (default); letters, the study's rule",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=d.val_fraction,
        help=f"data.val_fraction: validation share of the pairs (default {d.val_fraction})",
    )
    p.add_argument(
        "--split-seed", type=int, default=d.split_seed, help="data.split_seed, of the people rule"
    )
    # The spellings before the flags took their settings' names, for one release.
    p.add_argument("--rule", dest="split", choices=("people", "letters"), help=options.HIDDEN)
    p.add_argument("--fraction", dest="val_fraction", type=float, help=options.HIDDEN)
    p.add_argument("--seed", dest="split_seed", type=int, help=options.HIDDEN)
    p.add_argument("--out", metavar="FILE", help="save the split as JSON")
    options.add_json(p, "the counts")
    p.set_defaults(func=cmd_data_split)

    _add_pairs(data_sub, d)

    p = data_sub.add_parser("cache", help="decode and cache every image; time it")
    options.add_data(p, pairs=(), overlap=False)
    p.add_argument("--size", type=int, default=125, help="side of the square model input")
    p.add_argument(
        "--crop",
        type=float,
        nargs=4,
        metavar=("LEFT", "TOP", "RIGHT", "BOTTOM"),
        help="crop box as fractions of the frame, before resizing",
    )
    p.add_argument("--twice", action="store_true", help="load a second time and time the cache")
    options.add_json(p)
    p.set_defaults(func=cmd_data_cache)
