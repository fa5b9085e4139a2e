"""One run's test pairs scored three ways: PyTorch as it runs by default (bf16 autocast where
the CPU has it), PyTorch in fp32, and onnxruntime on the exported model (fp32).

    python experiments/backends.py RUN [--pairs-test FILE] > docs/measurements/backends.json
"""

from __future__ import annotations

import argparse
import json

from siamese_faces.evaluation.api import evaluate, open_run_data
from siamese_faces.evaluation.runs import load_run
from siamese_faces.serving.export import use_onnx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--pairs-test")
    args = ap.parse_args()
    out = {}
    for name in ("torch default", "torch fp32", "onnxruntime"):
        run = load_run(args.run)
        if name == "torch fp32":
            run.bf16 = False
        if name == "onnxruntime":
            use_onnx(run)
        m = evaluate(run, *open_run_data(run, None, args.pairs_test)).result["at_model_threshold"]
        out[name] = {
            "acc": m["acc"],
            "auc": m["auc"],
            "confusion": m["confusion"],
            "bf16": run.bf16 and run.embedder is None,
        }
    print(json.dumps({"run": args.run, "backends": out}, indent=1))


if __name__ == "__main__":
    main()
