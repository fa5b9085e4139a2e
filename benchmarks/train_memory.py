"""Resident memory of a training run, epoch by epoch: does it stay flat?

    python benchmarks/train_memory.py --data ../shared/lfw-a [--preset study2019]
        [--set train.epochs=40 ...] [--every 1.0] [--json]

Runs ``siamese-faces train`` (this checkout's, or whichever ``siamese_faces`` is first on
PYTHONPATH) into a temporary run folder, reads the process's resident set size from
/proc every ``--every`` seconds, and reports its peak within each epoch (an epoch ends at
its log line) and over the whole run. A training whose memory grows from epoch to epoch
shows it here long before a 100-epoch sweep trial runs out of memory. Linux only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

EPOCH = re.compile(r"^epoch\s+(\d+)(?:/\d+)?\s")  # "epoch   3/36  train/loss ..."


def rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(kib.group(1)) / 1024 if kib else None


def run(data: str, preset: str, settings: list[str], every: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "siamese_faces", "train", "--data", data,
               "--preset", preset, "--out", str(Path(tmp) / "run")]  # fmt: skip
        for s in settings:
            cmd += ["--set", s]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        epoch, peaks = [0], {}  # epoch 0: start-up and data, before the first epoch ends

        def read_log() -> None:
            for line in proc.stderr:
                m = EPOCH.match(line)
                if m:
                    epoch[0] = int(m.group(1))

        reader = threading.Thread(target=read_log, daemon=True)
        reader.start()
        while proc.poll() is None:
            mib = rss_mib(proc.pid)
            if mib is not None:
                # A sample belongs to the epoch in progress: one more than the last logged.
                key = epoch[0] + 1
                peaks[key] = max(peaks.get(key, 0.0), mib)
            time.sleep(every)
        reader.join(timeout=5)
    if proc.returncode:
        raise SystemExit(f"training exited with status {proc.returncode}: {' '.join(cmd)}")
    per_epoch = [round(peaks[k]) for k in sorted(peaks)]
    return {"preset": preset, "settings": settings, "peak_mib_per_epoch": per_epoch,
            "peak_mib": max(per_epoch, default=0)}  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the image folder, as for siamese-faces train")
    ap.add_argument("--preset", default="study2019")
    ap.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(args.data, args.preset, args.settings, args.every)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.preset} {' '.join(args.settings)}")
        print("peak RSS per epoch (MiB, the last is the final evaluation):")
        print(" ".join(str(m) for m in result["peak_mib_per_epoch"]))
        print(f"peak RSS {result['peak_mib']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
