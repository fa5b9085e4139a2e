"""ONNX export of a run's tower, and onnxruntime as a backend for embedding.

The exported graph takes what the image pipeline gives, ``uint8 (B, S, S)`` faces already
decoded, aligned (if asked), cropped and resized; it scales them to [0, 1] and embeds them
as the run does: the tower, the mean with the mirror image (``model.flip_tta``) and the
within-person whitening. Comparing two embeddings (a cosine for the default head) is left to
the caller; the run's threshold, its origin and the input size travel as metadata. A run
with a cohort normalisation (``model.score_norm``) has a second output, ``cohort_stats``
``(B, 2)``: each face's ``mu`` and ``sd``, and a pair's score is then
``((c - mu_1) / sd_1 + (c - mu_2) / sd_2) / 2`` of its cosine ``c`` (models/cohort.py).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..evaluation.api import SCORING
from ..evaluation.runs import LoadedRun
from ..io import atomic_write

ONNX_FILE = "model.onnx"
OPSET = 17


class _Embedder(nn.Module):
    def __init__(self, net) -> None:
        super().__init__()
        self.net = net
        self.normalised = net.normalises

    def forward(self, images: torch.Tensor):
        h = self.net.embed(images.unsqueeze(1).float() / 255.0)
        if not self.normalised:
            return h
        return h, self.net.cohort_stats(h)


def _need_onnx() -> None:
    import importlib.util

    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(
            f"the onnx backend needs {' and '.join(missing)}: pip install "
            "'siamese-faces[onnx]', or pass --backend torch."
        )


def export_onnx(run: LoadedRun, out: str | Path) -> dict:
    """Write ``run``'s embedder to ``out`` (ONNX, fp32, any batch size) and check it against
    PyTorch fp32 with onnxruntime; what was written and the largest difference."""
    _need_onnx()
    import onnx

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    net = run.net.float().eval().to("cpu", memory_format=torch.contiguous_format)
    size = run.config.data.size
    example = torch.randint(
        0, 256, (4, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    with warnings.catch_warnings(), torch.no_grad():
        wrapper = _Embedder(net).eval()  # the exporter restores this mode on the whole net
        outputs = ["embeddings", "cohort_stats"] if wrapper.normalised else ["embeddings"]
        result = wrapper(example)
        expected = [t.numpy() for t in (result if wrapper.normalised else (result,))]
        # The TorchScript exporter: a graph of plain convolutions needs no torch.export (and
        # so no onnxscript dependency).
        warnings.simplefilter("ignore")
        graph = io.BytesIO()
        torch.onnx.export(
            wrapper,
            (example,),
            graph,
            dynamo=False,
            input_names=["images"],
            output_names=outputs,
            dynamic_axes={"images": {0: "batch"}, **{o: {0: "batch"} for o in outputs}},
            opset_version=OPSET,
        )
    model = onnx.load_from_string(graph.getvalue())
    meta = _metadata(run, wrapper.normalised)
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    # Whole or not at all: two services starting at once may both export.
    atomic_write(out, lambda fh: fh.write(model.SerializeToString()))
    got = OnnxEmbedder(out).session.run(None, {"images": example.numpy()})
    return {
        "file": str(out),
        "opset": OPSET,
        "max_abs_diff": max(float(np.abs(g - e).max()) for g, e in zip(got, expected, strict=True)),
        **meta,
    }


def _metadata(run: LoadedRun, normalised: bool) -> dict[str, str]:
    """What travels with the exported graph: how to feed it, how to read its outputs."""
    size = run.config.data.size
    meta = {
        "siamese_faces.run": run.path.name,
        "siamese_faces.input": f"uint8 (batch, {size}, {size}), preprocessed as the run",
        "siamese_faces.crop": json.dumps(list(run.config.data.crop)),
        "siamese_faces.head": run.config.model.head,
        "siamese_faces.members": str(run.config.model.members),
        "siamese_faces.score_norm": run.config.model.score_norm if normalised else "none",
        "siamese_faces.threshold": repr(run.threshold),
        "siamese_faces.threshold_origin": run.threshold_origin,
        # Whose weights these are, embedded which way: either changed, it is exported again.
        "siamese_faces.weights_sha256": run.weights_sha256,
        "siamese_faces.scoring": str(SCORING),
    }
    if normalised:  # how a caller turns two faces' outputs into the run's score
        meta["siamese_faces.score"] = (
            "((c - mu_1) / sd_1 + (c - mu_2) / sd_2) / 2, c the score of the embeddings "
            "(cosine), (mu, sd) each face's cohort_stats"
        )
    return meta


class OnnxEmbedder:
    """Embeddings from an exported file with onnxruntime: ``uint8 (B, S, S)`` -> ``(B, D)``."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        _need_onnx()
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"images": np.ascontiguousarray(images, dtype=np.uint8)})[0]


def use_onnx(run: LoadedRun, path: str | Path | None = None) -> LoadedRun:
    """``run`` embedding through onnxruntime (its ``model.onnx``, exported now if missing or
    made from other weights than the run's: a resumed run rewrites its best weights)."""
    path = Path(path) if path else run.path / ONNX_FILE
    if not path.is_file():
        export_onnx(run, path)
    embedder = OnnxEmbedder(path)
    made_from = (embedder.metadata.get(f"siamese_faces.{k}") for k in ("weights_sha256", "scoring"))
    if tuple(made_from) != (run.weights_sha256, str(SCORING)):
        export_onnx(run, path)
        embedder = OnnxEmbedder(path)
    run.embedder = lambda images: torch.from_numpy(embedder(images.numpy()))
    return run
