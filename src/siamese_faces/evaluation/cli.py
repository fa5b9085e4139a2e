"""``siamese-faces evaluate``, ``verify`` and ``oneshot``: using a trained run."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from pathlib import Path

import torch

from ..io import atomic_write_text, csv_text


def open_run_data(args, run):
    """The run's data (or ``--data``/``--pairs`` instead), with the run's own validation split.

    ``args`` carries the command-line options (``data``, ``pairs``, ``skip_bad_images``,
    ``cache_dir``, ``allow_overlap``); None, or any left out, means the run's own data.
    """
    skip_bad = getattr(args, "skip_bad_images", False)
    cache_dir = getattr(args, "cache_dir", None)
    from ..data.source import open_source
    from ..data.splits import load_split
    from ..training.rundata import prepare

    d = run.config.data
    if getattr(args, "data", None):
        d = dataclasses.replace(d, dir=args.data)
    if getattr(args, "pairs", None):
        d = dataclasses.replace(d, pairs_test=args.pairs)
    config = dataclasses.replace(run.config, data=d)
    train_pairs = open_source(
        run.config.data.dir, run.config.data.pairs_train or None, allow_overlap=True
    ).require_train()
    split = load_split(run.path / "split.json", train_pairs)
    # The validation pairs always come from the run's own data: that is where the
    # threshold is chosen. --data only changes the images and pairs being scored.
    own = dataclasses.replace(run.config.data, pairs_test="")
    val_data = prepare(
        dataclasses.replace(config, data=own), skip_bad, cache_dir, True, split=split
    )
    allow_overlap = getattr(args, "allow_overlap", False)
    data = (
        val_data
        if config.data == own
        else prepare(config, skip_bad, cache_dir, allow_overlap, split=split)
    )
    return val_data, data


def evaluate_run(run, val_data, data) -> tuple[dict, list[dict]]:
    """Every verification metric on ``data.test``; the threshold comes from validation only."""
    from ..evaluation.metrics import best_threshold, ten_fold, verification_report
    from ..evaluation.predict import pair_outputs

    net, cl = run.net, run.config.train.channels_last
    val_scores = net.score(
        pair_outputs(net, val_data.images, val_data.val, run.device, run.bf16, cl)
    ).numpy()
    val_threshold = best_threshold(val_scores, val_data.val.y.numpy())
    out = pair_outputs(net, data.images, data.test, run.device, run.bf16, cl)
    scores, y = net.score(out).numpy(), data.test.y.numpy()
    result = {
        "run": str(run.path),
        "pairs_file": str(data.source.test.path),
        "loss": float(net.loss(out, data.test.y).detach()),
        "at_model_threshold": verification_report(scores, y, run.threshold),
        "at_val_threshold": verification_report(scores, y, val_threshold),
        "dropped_pairs": data.test.dropped,
    }
    if data.source.test.folds > 1:
        result["ten_fold"] = ten_fold(scores, y, [p.fold for p in data.test.pairs])
    rows = [
        {
            "name1": p.name1,
            "index1": p.index1,
            "name2": p.name2,
            "index2": p.index2,
            "same": int(p.same),
            "fold": p.fold,
            "score": float(s),
        }
        for p, s in zip(data.test.pairs, scores, strict=True)
    ]
    return result, rows


def cmd_evaluate(args) -> int:
    from ..training.distributed import pick_device
    from .runs import load_run

    run = load_run(args.run, pick_device(args.device))
    val_data, data = open_run_data(args, run)
    if data.test is None:
        raise ValueError("no test pairs to evaluate: pass --pairs FILE.")
    result, rows = evaluate_run(run, val_data, data)
    name = Path(result["pairs_file"]).stem
    atomic_write_text(run.path / f"scores-{name}.csv", csv_text(rows))
    atomic_write_text(run.path / f"eval-{name}.json", json.dumps(result, indent=2))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m, v = result["at_model_threshold"], result["at_val_threshold"]
    print(f"{m['pairs']} pairs of {result['pairs_file']}: loss {result['loss']:.4f}")
    for label, r in (("model threshold", m), ("validation threshold", v)):
        lo, hi = r["acc_ci95"]
        print(
            f"  accuracy at the {label} {r['threshold']:.4g}: {r['acc']:.4f} "
            f"(95% CI {lo:.3f}-{hi:.3f})"
        )
    print(
        f"  AUC {m['auc']:.4f}  EER {m['eer']:.4f}  TAR@FAR=1e-2 {m['tar_at_far_1e-2']:.4f}  "
        f"TAR@FAR=1e-3 {m['tar_at_far_1e-3']:.4f}"
    )
    c = m["confusion"]
    print(
        f"  confusion: {c['true_accept']} true accepts, {c['false_reject']} false rejects, "
        f"{c['false_accept']} false accepts, {c['true_reject']} true rejects"
    )
    if "ten_fold" in result:
        t = result["ten_fold"]
        print(f"  10-fold: {t['mean']:.4f} ± {t['std']:.4f}")
    print(f"  scores saved to {run.path / f'scores-{name}.csv'}")
    return 0


def cmd_verify(args) -> int:
    from ..training.distributed import pick_device
    from .runs import load_run

    run = load_run(args.run, pick_device(args.device))
    if args.csv:
        return verify_csv(run, Path(args.csv), Path(args.out) if args.out else None)
    if len(args.images) != 2:
        raise ValueError("verify takes two image files (or --csv FILE for many pairs).")
    h = run.embed_files(args.images)
    score = float(run.scores(h[:1], h[1:])[0])
    same = score > run.threshold
    result = {
        "image1": args.images[0],
        "image2": args.images[1],
        "same": same,
        "score": score,
        "threshold": run.threshold,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{'SAME person' if same else 'DIFFERENT people'} (score {score:.4f}, "
            f"threshold {run.threshold:.4f})"
        )
    return 0


def verify_csv(run, path: Path, out: Path | None) -> int:
    """Score every row ``image1,image2`` of a CSV (header optional); paths relative to it."""
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if rows and rows[0][:2] == ["image1", "image2"]:
        rows = rows[1:]
    for i, r in enumerate(rows):
        if len(r) < 2:
            raise ValueError(f"{path}:{i + 1}: a row needs two image paths, image1,image2.")
    files = sorted({(path.parent / r[k]).resolve() for r in rows for k in (0, 1)})
    index = {f: i for i, f in enumerate(files)}
    emb = run.embed_files(files)
    a = torch.tensor([index[(path.parent / r[0]).resolve()] for r in rows])
    b = torch.tensor([index[(path.parent / r[1]).resolve()] for r in rows])
    scores = run.scores(emb[a], emb[b]).tolist() if rows else []
    result = [
        {"image1": r[0], "image2": r[1], "score": s, "same": int(s > run.threshold)}
        for r, s in zip(rows, scores, strict=True)
    ]
    if out:
        atomic_write_text(out, csv_text(result))
        print(f"{len(result)} pairs scored -> {out}")
    else:
        sys.stdout.write(csv_text(result))
    return 0


def cmd_oneshot(args) -> int:
    from ..training.distributed import pick_device
    from .oneshot import run_trials, sample_trials
    from .runs import load_run

    run = load_run(args.run, pick_device(args.device))
    _, data = open_run_data(args, run)
    if data.source.test is None:
        raise ValueError("one-shot trials use the test pairs file's people: pass --pairs FILE.")
    people = data.people_rows(data.source.test.people)
    rows = torch.tensor(sorted({r for rs in people.values() for r in rs}))
    sub = run.embed(data.images, rows)  # each image embedded once, reused by every trial
    emb = torch.zeros(len(data.images), sub.shape[1])
    emb[rows] = sub
    trials = sample_trials(people, args.ways, args.shots, args.trials, args.seed)
    result = {
        "run": str(run.path),
        **run_trials(trials, emb, run.scores),
        "shots": args.shots,
        "seed": args.seed,
        "people": len(people),
    }
    atomic_write_text(
        run.path / f"oneshot-{args.ways}way-{args.shots}shot.json", json.dumps(result, indent=2)
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        lo, hi = result["acc_ci95"]
        print(
            f"{args.ways}-way {args.shots}-shot on {len(people)} unseen people: accuracy "
            f"{result['acc']:.4f} (95% CI {lo:.3f}-{hi:.3f}) over {args.trials} trials; "
            f"chance {result['chance']:.4f}"
        )
    return 0


def add_evaluation_commands(sub) -> None:
    def common(p, data=True):
        p.add_argument("run", metavar="RUN", help="a run folder written by `train`")
        p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        if data:
            p.add_argument("--data", metavar="DIR", help="score another image folder's pairs")
            p.add_argument(
                "--pairs",
                metavar="FILE",
                help="pairs to score (default: the run's test file); a View 2 "
                "pairs.txt is also scored by the 10-fold protocol",
            )
            p.add_argument("--skip-bad-images", action="store_true")
            p.add_argument("--allow-overlap", action="store_true")
            p.add_argument("--cache-dir", metavar="DIR")
        p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("evaluate", help="verification metrics of a trained run on test pairs")
    common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("verify", help="same person or not, for two image files")
    common(p, data=False)
    p.add_argument("images", nargs="*", metavar="IMAGE", help="two image files")
    p.add_argument("--csv", metavar="FILE", help="many pairs: a CSV of image1,image2 rows")
    p.add_argument("--out", metavar="FILE", help="with --csv: write the scores here")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("oneshot", help="N-way one-shot identification on unseen people")
    common(p)
    p.add_argument("--ways", type=int, default=20)
    p.add_argument("--shots", type=int, default=1)
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_oneshot)
