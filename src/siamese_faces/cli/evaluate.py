"""``siamese-faces evaluate``, ``verify`` and ``oneshot``: using a trained run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..io import atomic_write_text, csv_text
from . import options


def _load(args):
    return options.load_run_for(args)


def _run_data(args, run):
    from ..evaluation.api import open_run_data

    return open_run_data(
        run,
        args.data,
        args.pairs_test,
        allow_overlap=args.allow_overlap,
        say=lambda text: print(text, file=sys.stderr),
        **options.data_options(args),
    )


def format_evaluation(result: dict) -> list[str]:
    m, v = result["at_model_threshold"], result["at_val_threshold"]
    lines = [f"{m['pairs']} pairs of {result['pairs_file']}: loss {result['loss']:.4f}"]
    for label, r in (("model threshold", m), ("validation threshold", v)):
        lo, hi = r["acc_ci95"]
        lines.append(
            f"  accuracy at the {label} {r['threshold']:.4g}: {r['acc']:.4f} "
            f"(95% CI {lo:.3f}-{hi:.3f})"
        )
    lines.append(
        f"  AUC {m['auc']:.4f}  EER {m['eer']:.4f}  TAR@FAR=1e-2 {m['tar_at_far_1e-2']:.4f}  "
        f"TAR@FAR=1e-3 {m['tar_at_far_1e-3']:.4f}"
    )
    c = m["confusion"]
    lines.append(
        f"  confusion: {c['true_accept']} true accepts, {c['false_reject']} false rejects, "
        f"{c['false_accept']} false accepts, {c['true_reject']} true rejects"
    )
    if "ten_fold" in result:
        t = result["ten_fold"]
        lines.append(f"  10-fold: {t['mean']:.4f} ± {t['std']:.4f}")
    return lines


def cmd_evaluate(args) -> int:
    from ..evaluation.api import evaluate, save_evaluation

    run = _load(args)
    val_data, data = _run_data(args, run)
    ev = evaluate(run, val_data, data)
    scores, _ = save_evaluation(run, ev)
    if args.json:
        print(json.dumps(ev.result, indent=2))
        return 0
    print("\n".join(format_evaluation(ev.result)))
    print(f"  scores saved to {scores}")
    return 0


def cmd_verify(args) -> int:
    from ..evaluation.api import verify_csv, verify_files

    run = _load(args)
    if args.csv:
        result = verify_csv(run, Path(args.csv))
        if args.out:
            atomic_write_text(Path(args.out), csv_text(result))
            print(f"{len(result)} pairs scored -> {args.out}")
        else:
            sys.stdout.write(csv_text(result))
        return 0
    if args.out:
        raise ValueError("--out writes the scores of --csv FILE; with two images, use --json.")
    if len(args.images) != 2:
        raise ValueError("verify takes two image files (or --csv FILE for many pairs).")
    result = verify_files(run, *args.images)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{'SAME person' if result['same'] else 'DIFFERENT people'} (score "
            f"{result['score']:.4f}, threshold {run.threshold:.4f} from the "
            f"{run.threshold_origin}{'; faces found and aligned' if result['aligned'] else ''})"
        )
    return 0


def cmd_oneshot(args) -> int:
    from ..evaluation.api import oneshot, oneshot_file

    run = _load(args)
    if args.runs:
        return _lake_runs(args, run)
    _, data = _run_data(args, run)
    result = oneshot(run, data, args.ways, args.shots, args.trials, args.seed)
    atomic_write_text(oneshot_file(run, args.ways, args.shots), json.dumps(result, indent=2))
    where = f"{args.ways}-way {args.shots}-shot on {result['people']} unseen people"
    return options.answer(args, result, lambda r: _accuracy_line(where, r))


def _accuracy_line(where: str, r: dict) -> str:
    lo, hi = r["acc_ci95"]
    return (
        f"{where}: accuracy {r['acc']:.4f} (95% CI {lo:.3f}-{hi:.3f}) over {r['trials']} "
        f"trials; chance {r['chance']:.4f}"
    )


def _lake_runs(args, run) -> int:
    from ..evaluation.api import oneshot_runs

    result = oneshot_runs(run, args.runs)
    atomic_write_text(run.path / "oneshot-lake-runs.json", json.dumps(result, indent=2))
    where = f"{result['ways']}-way one-shot, Lake's {result['runs']} runs"
    return options.answer(args, result, lambda r: _accuracy_line(where, r))


def add_commands(sub) -> None:
    def common(p, data=True):
        options.add_trained_run(p, photos=not data)
        if data:
            options.add_data(p, pairs=("test",))

    p = sub.add_parser("evaluate", help="verification metrics of a trained run on test pairs")
    common(p)
    p.set_defaults(func=cmd_evaluate, batch_work=True)

    p = sub.add_parser("verify", help="same person or not, for two image files")
    common(p, data=False)
    p.add_argument("images", nargs="*", metavar="IMAGE", help="two image files")
    p.add_argument("--csv", metavar="FILE", help="many pairs: a CSV of image1,image2 rows")
    p.add_argument("--out", metavar="FILE", help="with --csv: write the scores here")
    p.set_defaults(func=cmd_verify, batch_work=True)  # --csv: many pairs

    p = sub.add_parser("oneshot", help="N-way one-shot identification on unseen people")
    common(p)
    p.add_argument("--ways", type=int, default=20)
    p.add_argument("--shots", type=int, default=1)
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--runs",
        metavar="DIR",
        help="score Lake's official one-shot runs instead (Omniglot's all_runs folder: each "
        "test item against its run's 20 training images; --ways/--trials do not apply)",
    )
    p.set_defaults(func=cmd_oneshot, batch_work=True)
