"""Every option more than one command takes, defined once and named after its setting.

A flag that sets a configuration value is that setting's name (``--pairs-test`` is
``data.pairs_test``, ``--device`` is ``train.device``); an old spelling stays as a hidden alias
for one release (``--pairs``, ``--rule``, ``--fraction``).
"""

from __future__ import annotations

import argparse

from ..config import preset_names

DEFAULT_PRESET = "default"  # the recipe of docs/accuracy.md that trains in minutes
HIDDEN = argparse.SUPPRESS


def add_data(
    p: argparse.ArgumentParser,
    *,
    data: bool = True,
    pairs: tuple[str, ...] = ("train", "test"),
    overlap: bool = True,
    skip_bad: bool = True,
) -> None:
    """``--data`` (data.dir), ``--pairs-train`` / ``--pairs-test``, and how images are read."""
    g = p.add_argument_group("data")
    if data:
        g.add_argument(
            "--data",
            metavar="DIR",
            help="image folder (data.dir): <Name>/<Name>_0001.jpg folders, a folder above one "
            "such tree (LFW-a's lfw2/), or flat <Name>_0001.jpg files "
            "(default: $SIAMESE_FACES_DATA)",
        )
        g.add_argument(
            "--depth",
            type=int,
            choices=(1, 2),
            help="data.depth: identities one folder deep, <Name>/ (default), or two, "
            "<Group>/<Name>/ (Omniglot's Alphabet/characterNN/)",
        )
    if "train" in pairs:
        g.add_argument(
            "--pairs-train",
            metavar="FILE",
            help="training pairs, data.pairs_train (default: pairsDevTrain.txt beside or above "
            "the images)",
        )
    if "test" in pairs:
        g.add_argument(
            "--pairs-test",
            metavar="FILE",
            help="test pairs, data.pairs_test (default: pairsDevTest.txt beside or above the "
            "images); a View 2 pairs.txt is also scored by the 10-fold protocol",
        )
        g.add_argument("--pairs", dest="pairs_test", help=HIDDEN)  # evaluate's old spelling
    if overlap:
        g.add_argument(
            "--allow-overlap",
            action="store_true",
            help="allow people who are in both pairs files (normally an error)",
        )
    if skip_bad:
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


def add_device(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=default,
        help="where to run: the setting train.device (auto: CUDA when present)",
    )


def add_config(
    p: argparse.ArgumentParser, default_out: str | None = None, out: bool = True
) -> None:
    """``--preset`` / ``--config`` / ``--set`` / ``--device`` and (``out``) the run folder."""
    g = p.add_argument_group("configuration")
    g.add_argument(
        "--preset",
        choices=preset_names(),
        help=f"a shipped configuration (default: {DEFAULT_PRESET})",
    )
    g.add_argument("--config", metavar="FILE", help="an experiment file (TOML)")
    g.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set train.lr=3e-4 (repeatable)",
    )
    add_device(g)
    if not out:
        return
    p.add_argument(
        "--out",
        metavar="DIR",
        default=default_out,
        help=f"run folder (default: {default_out or 'runs/<name>-seed<seed>'})",
    )


def add_workers(p: argparse.ArgumentParser, trials: str, root: str) -> None:
    """Where ``trials`` (trials of a sweep, folds of a benchmark) run and are recorded:
    ``--storage``, ``--workers``, ``--root``, ``--heartbeat``."""
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage: default a SQLite file under --root; a PostgreSQL URL "
        f"(postgresql://user:pw@host/db) lets many machines share the {trials}",
    )
    p.add_argument("--workers", type=int, default=1, help=f"{trials} run at once on this machine")
    p.add_argument("--root", default=root, help=f"where the {trials}' run folders go")
    p.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        help=f"seconds between a worker's heartbeats; one of the {trials} silent for two is "
        "taken as dead and run again (default 10)",
    )


def add_json(p: argparse.ArgumentParser, what: str = "the result") -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="a run folder written by `train`")


def add_oneshot(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ways", type=int, default=20, help="N of the one-shot test (default 20)")
    p.add_argument("--trials", type=int, default=1000, help="one-shot trials (default 1000)")


def data_options(args: argparse.Namespace) -> dict:
    """How images are read, as the library's keyword arguments."""
    return {
        "skip_bad_images": getattr(args, "skip_bad_images", False),
        "cache_dir": getattr(args, "cache_dir", None),
    }


def add_use(p: argparse.ArgumentParser, photos: bool, backend: str = "torch") -> None:
    """How a trained run takes images: ``--align`` (default ``auto`` for ``photos``, ``none``
    for datasets aligned already, like LFW-a) and ``--backend`` (default ``backend``: the
    faster one for the command, as benchmarks/inference.py measures)."""
    default = "auto" if photos else "none"
    p.add_argument(
        "--align",
        choices=("auto", "none"),
        default=default,
        help="auto: find the face and align it like the run's training images (kept as it is "
        f"when already so); none: take images as they are (default: {default})",
    )
    p.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default=backend,
        help="what embeds: PyTorch, or onnxruntime on RUN/model.onnx (exported if missing or "
        f"stale; the [onnx] extra) (default: {backend})",
    )


def load_run_for(args: argparse.Namespace):
    """The run named by ``args.run``, on ``--device``, aligned and embedded as asked."""
    from ..evaluation.runs import load_run
    from ..runtime import pick_device

    run = load_run(args.run, pick_device(args.device)).use_alignment(args.align)
    if args.backend == "onnx":
        from ..serving.export import use_onnx

        use_onnx(run)
    return run


def add_trained_run(p: argparse.ArgumentParser, photos: bool, backend: str = "torch") -> None:
    """RUN, ``--device`` (default auto), ``--align``, ``--backend``, ``--json``."""
    add_run(p)
    add_device(p, default="auto")
    add_use(p, photos, backend)
    add_json(p)


def answer(args: argparse.Namespace, result, line) -> int:
    """Print ``result`` as JSON with ``--json``, else the line(s) ``line(result)`` says."""
    import json

    print(json.dumps(result, indent=2) if args.json else line(result))
    return 0
