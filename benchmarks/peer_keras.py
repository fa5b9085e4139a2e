"""Training speed beside TensorFlow/Keras, the study's own framework, on the study's network.

    pip install -e '.[peer]'
    python benchmarks/peer_keras.py [--rounds 3] [--epochs 4] [--steps 20] [--threads 2] [--json]

The study's final configuration (125x125 inputs, 8/16/32/64 filters of 10/7/4/4, 2x2
max-pools after the first three, FC 2048 sigmoid, weighted L1 -> sigmoid, binary
cross-entropy, Adam 1e-3, batch 128) written in Keras 3 on TensorFlow below, and the
``study2019`` preset of siamese-faces, each trained on the same random pairs (``--steps``
batches an epoch, ``--epochs`` epochs, the first dropped as warm-up). Each framework runs in
a process of its own, in interleaved rounds (Keras fp32, Keras bf16, PyTorch bf16, PyTorch
fp32, then again), so that a noisy minute of the machine hits all of them alike. Reported:
training-phase images/s (two a pair) as the median over rounds, and each process's peak RSS.
Run it with nothing else on the machine.

siamese-faces keeps freed memory for reuse (``train.reuse_memory``, on by default); its
engines here do the same. Keras runs with glibc's defaults, as the study's code does, unless
``--keras-reuse-memory`` starts its processes with the same two allocator settings (through
``GLIBC_TUNABLES``), to check that the gap is not the allocator alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZE, BATCH = 125, 128
ENGINES = ("keras-fp32", "keras-bf16", "torch-bf16", "torch-fp32")


def pairs(steps: int):
    import numpy as np

    rng = np.random.default_rng(0)
    n = steps * BATCH
    x = rng.random((2, n, SIZE, SIZE, 1), dtype=np.float32)
    return x[0], x[1], (np.arange(n) % 2).astype(np.float32)


def keras_epochs(bf16: bool, steps: int, epochs: int, threads: int) -> tuple[list[float], int]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    if bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    tower = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            layers.Conv2D(8, 10, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 7, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 4, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 4, activation="relu"),
            layers.Flatten(),
            layers.Dense(2048, activation="sigmoid"),
        ]
    )
    a, b = keras.Input((SIZE, SIZE, 1)), keras.Input((SIZE, SIZE, 1))
    distance = layers.Lambda(lambda h: keras.ops.abs(h[0] - h[1]))([tower(a), tower(b)])
    out = layers.Dense(1, activation="sigmoid", dtype="float32")(distance)
    model = keras.Model([a, b], out)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    x1, x2, y = pairs(steps)
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit([x1, x2], y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[Clock()])  # fmt: skip
    return times, model.count_params()


def torch_epochs(bf16: bool, steps: int, epochs: int, threads: int) -> tuple[list[float], int]:
    import torch

    from siamese_faces.config import apply_overrides, load_file, preset_path
    from siamese_faces.evaluation.predict import make_pair_loss
    from siamese_faces.models import model_from_config
    from siamese_faces.runtime import reuse_freed_memory
    from siamese_faces.training.trainer import make_optimizer, train_step

    torch.set_num_threads(threads)
    reuse_freed_memory()  # as training does (train.reuse_memory)
    cfg = apply_overrides(load_file(preset_path("study2019")), [f"train.batch_size={BATCH}"])
    net = model_from_config(cfg, torch.Generator().manual_seed(0))
    net = net.to(memory_format=torch.channels_last)  # the default training path's layout
    loss, opt = make_pair_loss(net, cfg.model), make_optimizer(net.parameters(), cfg)
    x1, x2, y = (torch.from_numpy(v) for v in pairs(steps))
    x1, x2 = (x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last) for x in (x1, x2))
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for k in range(0, len(y), BATCH):
            s = slice(k, k + BATCH)
            train_step(net, loss, opt, x1[s], x2[s], y[s], bf16)
        times.append(time.perf_counter() - start)
    return times, sum(p.numel() for p in net.parameters())


def child(engine: str, steps: int, epochs: int, threads: int) -> None:
    framework, precision = engine.split("-")
    run = keras_epochs if framework == "keras" else torch_epochs
    times, parameters = run(precision == "bf16", steps, epochs, threads)
    rate = 2 * steps * BATCH / statistics.median(times[1:])  # the first epoch: warm-up
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"engine": engine, "images_per_s": rate, "peak_rss_gib": rss_gib,
                      "parameters": parameters}))  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4, help="a round's epochs, the first dropped")
    ap.add_argument("--steps", type=int, default=20, help="batches of 128 pairs an epoch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument(
        "--keras-reuse-memory",
        action="store_true",
        help="start Keras with glibc's mmap off and no trimming, as siamese-faces runs",
    )
    ap.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--summarize", metavar="FILE", help="re-report a saved --json result, timing nothing"
    )
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps, args.epochs, args.threads)
        return 0
    if args.summarize:
        result = json.loads(Path(args.summarize).read_text())
        add_ratios(result)
        report(result, args.json)
        return 0
    # The parent only: the Keras children never import siamese-faces (or torch).
    from siamese_faces.runtime import REUSE_TUNABLES

    runs: dict[str, list[dict]] = {e: [] for e in args.engines}
    for _ in range(args.rounds):
        for engine in args.engines:
            cmd = [sys.executable, __file__, "--child", engine, "--steps", str(args.steps),
                   "--epochs", str(args.epochs), "--threads", str(args.threads)]  # fmt: skip
            env = dict(os.environ)
            if args.keras_reuse_memory and engine.startswith("keras"):
                env["GLIBC_TUNABLES"] = REUSE_TUNABLES
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
            runs[engine].append(json.loads(out.strip().splitlines()[-1]))
    result = {"cpus": os.cpu_count(), "threads": args.threads, "batch": BATCH, "engines": {},
              "keras_reuse_memory": args.keras_reuse_memory}  # fmt: skip
    for engine, rs in runs.items():
        result["engines"][engine] = {
            "images_per_s": statistics.median(r["images_per_s"] for r in rs),
            "peak_rss_gib": max(r["peak_rss_gib"] for r in rs),
            "parameters": rs[0]["parameters"],  # the same network on both sides
            "runs": rs,
        }
    add_ratios(result)
    report(result, args.json)
    return 0


def add_ratios(result: dict) -> None:
    """Each siamese-faces engine against Keras at its own precision and against Keras fp32
    (the study's): the ratio of the medians, and the range of the same round's ratios."""
    engines = result["engines"]
    for engine, r in engines.items():
        if not engine.startswith("torch"):
            continue
        for key, peer in (
            ("same_precision", "keras-" + engine.split("-")[1]),
            ("fp32", "keras-fp32"),
        ):
            if peer not in engines:
                continue
            r[f"vs_keras_{key}"] = r["images_per_s"] / engines[peer]["images_per_s"]
            rounds = [
                a["images_per_s"] / b["images_per_s"]
                for a, b in zip(r["runs"], engines[peer]["runs"], strict=True)
            ]
            r[f"vs_keras_{key}_round_range"] = [min(rounds), max(rounds)]


def report(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for engine, r in result["engines"].items():
        ratios = "".join(
            f"  {r[f'vs_keras_{key}']:.2f}x Keras {name} (rounds "
            f"{r[f'vs_keras_{key}_round_range'][0]:.2f}-{r[f'vs_keras_{key}_round_range'][1]:.2f}x)"
            for key, name in (("same_precision", "same precision"), ("fp32", "fp32"))
            if f"vs_keras_{key}" in r
        )
        rss = f"peak RSS {r['peak_rss_gib']:.2f} GiB"
        print(f"{engine:<11} {r['images_per_s']:7.0f} images/s  {rss}{ratios}")


if __name__ == "__main__":
    sys.exit(main())
