"""``siamese-faces serve``, ``enroll``, ``identify``, ``calibrate``: a trained run at work."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from pathlib import Path

from . import options


def _load(args):
    return options.load_run_for(args)


def cmd_enroll(args) -> int:
    from ..serving.api import enroll_folder, open_gallery

    run = _load(args)
    gallery = open_gallery(run, args.gallery)

    def progress(done, total):
        print(f"\renrolled {done}/{total} people", end="", file=sys.stderr, flush=True)

    result = enroll_folder(run, gallery, args.folder, args.skip_bad_images, progress)
    print(file=sys.stderr)
    return options.answer(
        args,
        result,
        lambda r: (
            f"{r['images']} images of {r['people']} people enrolled into {args.gallery} "
            f"({len(r['skipped'])} skipped)"
        ),
    )


def cmd_identify(args) -> int:
    from ..serving.api import identify, open_gallery, unknown_threshold

    run = _load(args)
    threshold, origin = unknown_threshold(run, args.far)
    answers = identify(
        run, open_gallery(run, args.gallery), [Path(p) for p in args.photos], args.top_k, threshold
    )
    if args.json:
        print(json.dumps({"threshold_origin": origin, "answers": answers}, indent=2))
        return 0
    for a in answers:
        shown = ", ".join(f"{m['name']} {m['score']:.3f}" for m in a["matches"])
        print(f"{a['photo']}: {a['answer']}  (top {args.top_k}: {shown})")
    print(f"unknown below {threshold:.4f}: {origin}")
    return 0


def cmd_calibrate(args) -> int:
    from ..evaluation.api import open_run_data, validation_data
    from ..evaluation.calibrate import calibrate, save_threshold

    if (args.far is None) == (not args.accuracy):
        raise ValueError("give --far RATE (e.g. 1e-3) or --accuracy, one of them.")
    run = _load(args)
    if args.pairs_test or args.data:  # the user's own pairs
        _, data = open_run_data(
            run, args.data, args.pairs_test, allow_overlap=True, **options.data_options(args)
        )
        pairs, source = data.test, f"{data.source.test.path}"
    else:  # the run's validation pairs: nothing else read
        data = validation_data(run, **options.data_options(args))
        pairs, source = data.val, "validation pairs"
    result = calibrate(run, data, pairs, source, args.far)
    path = save_threshold(run, result)
    return options.answer(
        args,
        result,
        lambda r: (
            f"threshold {r['threshold']:.4f} ({r['origin']}): on those {r['pairs']} pairs "
            f"FAR {r['far']:.4f}, TAR {r['tar']:.4f}, accuracy {r['accuracy']:.4f} -> {path}"
        ),
    )


API_KEY_ENV = "SIAMESE_FACES_API_KEY"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name that is not localhost may resolve anywhere


def cmd_serve(args) -> int:
    import uvicorn

    from ..serving.app import create_app

    key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if not _loopback(args.host) and not key:
        raise ValueError(
            f"--host {args.host} is reachable from other machines: give --api-key KEY (or set "
            f"{API_KEY_ENV}); every request but /health must then carry it as X-API-Key."
        )
    run = _load(args)
    app = create_app(run, args.gallery, key, args.max_bytes, args.far)
    print(
        f"serving {run.path} on http://{args.host}:{args.port}/ (API docs at /docs); "
        f"threshold {run.threshold:.4f} ({run.threshold_origin}); Ctrl-C stops",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_export(args) -> int:
    from ..evaluation.runs import load_run
    from ..serving.export import export_onnx

    result = export_onnx(load_run(args.run), args.out or Path(args.run) / "model.onnx")
    return options.answer(
        args,
        result,
        lambda r: (
            f"{r['file']}: ONNX opset {r['opset']}; onnxruntime against PyTorch fp32: "
            f"max abs difference {r['max_abs_diff']:.2e}"
        ),
    )


def add_commands(sub) -> None:
    def common(p, photos=True):
        options.add_trained_run(p, photos)

    p = sub.add_parser("serve", help="an HTTP service and web page for a trained run")
    # onnxruntime answers the service's requests faster at every concurrency measured
    # (README: Put a trained model to work); PyTorch enrolls folders faster.
    options.add_trained_run(p, photos=True, backend="onnx")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--gallery", metavar="DIR", help="a gallery for /identify and /gallery")
    p.add_argument("--api-key", help=f"required from clients (default: ${API_KEY_ENV})")
    p.add_argument(
        "--max-bytes", type=int, default=10 * 1024 * 1024, help="upload limit (default 10 MB)"
    )
    p.add_argument(
        "--far", type=float, default=1e-3, help="identify: 'unknown' threshold's false-accept rate"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="the run's embedder as an ONNX file")
    options.add_run(p)
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--out", metavar="FILE", help="default: RUN/model.onnx")
    options.add_json(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("enroll", help="enroll an identity-folder tree into a gallery (1:N)")
    common(p)
    p.add_argument("--gallery", required=True, metavar="DIR", help="the gallery folder")
    p.add_argument("folder", metavar="DIR", help="<Name>/<photos> folders to enroll")
    p.add_argument("--skip-bad-images", action="store_true", help="leave out unreadable photos")
    p.set_defaults(func=cmd_enroll, batch_work=True)

    p = sub.add_parser("identify", help="who is this? photos against a gallery (1:N)")
    common(p)
    p.add_argument("--gallery", required=True, metavar="DIR", help="the gallery folder")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--top-k", type=int, default=5, help="best matches shown (default 5)")
    p.add_argument(
        "--far",
        type=float,
        default=1e-3,
        help="'unknown' below the threshold at this false-accept rate on the run's validation "
        "pairs (default 1e-3)",
    )
    p.set_defaults(func=cmd_identify, batch_work=True)

    p = sub.add_parser("calibrate", help="set the run's threshold from your own labelled pairs")
    common(p, photos=False)
    options.add_data(p, pairs=("test",), overlap=False)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--far", type=float, help="the threshold at this false-accept rate")
    g.add_argument(
        "--accuracy",
        action="store_true",
        help="the most accurate threshold, by the run's model.threshold_rule",
    )
    p.set_defaults(func=cmd_calibrate, batch_work=True)
