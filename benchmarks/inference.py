"""Inference speed of a trained run: the service, enrolling, and 1:N search, both backends.

    python benchmarks/inference.py RUN [--data DIR] [--requests 300] [--repeats 3] [--json]

- ``POST /verify`` of two 250x250 JPEGs through a real uvicorn server on loopback: latency
  p50/p99 at concurrency 1 (with ``--align none``, then with ``--align auto`` reported apart),
  and verifications/s at concurrency 8. Each load test sends ``--requests`` requests to
  127.0.0.1 only, with timeouts, and stops by itself.
- enroll: images/s embedded, decode included, from already aligned LFW-a files; decoding
  alone and embedding alone beside it, to show where the time goes.
- identify: ms a probe against a gallery of 100,000 vectors (the gallery's own index: HNSW
  above 50,000 images).
Each figure for the PyTorch and the onnxruntime backend, so the faster one can be the default.
Each figure is the median of ``--repeats`` runs (all kept in the JSON). Run it with nothing
else on the machine; it prints the machine's CPU count beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from siamese_faces.data.cache import load_images
from siamese_faces.data.layout import open_dataset
from siamese_faces.evaluation.runs import load_run
from siamese_faces.serving.api import ENROLL_BATCH, embed_photos
from siamese_faces.serving.export import use_onnx
from siamese_faces.serving.gallery import Gallery


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loaded(run_dir: str, backend: str, align: str):
    run = load_run(run_dir).use_alignment(align)
    return use_onnx(run) if backend == "onnx" else run


def serve(run_dir: str, backend: str, align: str):
    """``siamese-faces serve`` in its own process, as a client would meet it: the load test's
    client threads then never hold the server's interpreter lock."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "siamese_faces",
            "serve",
            run_dir,
            "--port",
            str(port),
            "--backend",
            backend,
            "--align",
            align,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"siamese-faces serve {run_dir} exited ({server.returncode})")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, f"{url}/verify"
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"siamese-faces serve {run_dir} did not answer within 120 s")


def load_test(url: str, files: dict, requests: int, concurrency: int) -> dict:
    with httpx.Client(timeout=30) as client:
        # The multipart body encoded once: the client shares the 2 cores with the server,
        # so it should spend as little of them as it can.
        built = client.build_request("POST", url, files=files)
        body, kind = built.read(), {"content-type": built.headers["content-type"]}
        for _ in range(5):  # warm-up: first calls build kernels and caches
            client.post(url, content=body, headers=kind).raise_for_status()

        def one(_):
            start = time.perf_counter()
            client.post(url, content=body, headers=kind).raise_for_status()
            return time.perf_counter() - start

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            times = sorted(pool.map(one, range(requests)))
        wall = time.perf_counter() - start
    return {
        "concurrency": concurrency,
        "requests": requests,
        "p50_ms": 1000 * statistics.median(times),
        "p99_ms": 1000 * times[min(len(times) - 1, int(0.99 * len(times)))],
        "per_second": requests / wall,
    }


def median_of(runs: list[dict]) -> dict:
    """Each figure's median over repeated load tests, with every run kept: on a shared
    virtual machine one run can land on a noisy minute."""
    keys = ("p50_ms", "p99_ms", "per_second")
    return {**runs[0], **{k: statistics.median(r[k] for r in runs) for k in keys}, "runs": runs}


def verify_figures(
    run_dir: str, backend: str, photos: list[Path], requests: int, repeats: int
) -> dict:
    files = {"image1": photos[0].read_bytes(), "image2": photos[1].read_bytes()}
    out = {}
    for align in ("none", "auto"):
        server, url = serve(run_dir, backend, align)
        try:
            out[f"align_{align}_c1"] = median_of(
                [load_test(url, files, requests, 1) for _ in range(repeats)]
            )
            if align == "none":
                out["align_none_c8"] = median_of(
                    [load_test(url, files, requests, 8) for _ in range(repeats)]
                )
        finally:
            server.terminate()
            server.wait(30)
    return out


def enroll_figures(run_dir: str, backend: str, paths: list[Path], repeats: int) -> dict:
    """Images/s enrolled (decoded and embedded, as ``enroll`` does), and apart: decoding
    alone and embedding already decoded faces alone; medians of ``repeats``."""
    run = loaded(run_dir, backend, "none")
    embed_photos(run, paths[:64])  # warm-up

    def rate(work) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for k in range(0, len(paths), ENROLL_BATCH):
                work(paths[k : k + ENROLL_BATCH])
            times.append(time.perf_counter() - start)
        return len(paths) / statistics.median(times)

    faces = torch.from_numpy(load_images(paths, run.preprocess, use_cache=False).images)
    with FlopCounterMode(display=False) as flops:
        run.inference_net.embed(faces[:1].unsqueeze(1).float() / 255)
    return {
        "gflop_per_image": flops.get_total_flops() / 1e9,  # the mirror image's pass included
        "enroll_images_per_s": rate(lambda batch: embed_photos(run, batch)),
        "decode_only_images_per_s": rate(
            lambda batch: load_images(batch, run.preprocess, use_cache=False)
        ),
        "embed_only_images_per_s": len(paths)
        / statistics.median(_timed(lambda: run.embed(faces)) for _ in range(repeats)),
    }


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def identify_ms(folder: Path, dim: int, size: int = 100_000, probes: int = 200) -> float:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    gallery = Gallery(folder, "benchmark", dim)
    gallery.enroll([(f"P{k:06d}", vectors[k : k + 1], ["x"]) for k in range(size)])
    queries = vectors[rng.integers(0, size, probes)]
    gallery.search(queries[:5], 5)
    start = time.perf_counter()
    for q in queries:
        gallery.search(q[None], 5)
    return 1000 * (time.perf_counter() - start) / probes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--data", default="../shared/lfw-a")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--enroll-images", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3, help="each figure the median of this many")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    images = open_dataset(args.data).all_images()
    photos = [images[100], images[101]]
    chosen = images[:: max(1, len(images) // args.enroll_images)][: args.enroll_images]
    result = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor()},
        "run": args.run,
    }
    for backend in ("torch", "onnx"):
        result[backend] = {
            "verify": verify_figures(args.run, backend, photos, args.requests, args.repeats),
            **enroll_figures(args.run, backend, chosen, args.repeats),
        }
    run = load_run(args.run)
    side = run.config.data.size
    dim = int(run.embed(torch.zeros(1, side, side, dtype=torch.uint8)).shape[1])
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result["identify_ms_100k"] = identify_ms(Path(tmp), dim)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for backend in ("torch", "onnx"):
        v = result[backend]["verify"]
        print(
            f"{backend:5}  /verify c=1: p50 {v['align_none_c1']['p50_ms']:.1f} ms, p99 "
            f"{v['align_none_c1']['p99_ms']:.1f} ms; aligned p50 "
            f"{v['align_auto_c1']['p50_ms']:.1f} "
            f"ms; c=8: {v['align_none_c8']['per_second']:.0f}/s; enroll "
            f"{result[backend]['enroll_images_per_s']:.0f} images/s (decoding alone "
            f"{result[backend]['decode_only_images_per_s']:.0f}, embedding alone "
            f"{result[backend]['embed_only_images_per_s']:.0f})"
        )
    print(f"identify against 100,000 vectors: {result['identify_ms_100k']:.2f} ms a probe")


if __name__ == "__main__":
    main()
