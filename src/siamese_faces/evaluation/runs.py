"""Loading a finished run: its configuration and best weights, without unpickling anything."""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from ..config import Config, from_dict
from ..data.align import AlignSpec
from ..data.images import Preprocess, load_image
from ..data.source import source_of
from ..io import atomic_write_text
from ..models import model_from_config
from ..models.siamese import SiameseNet, for_inference
from ..runtime import autocast, bf16_supported
from .metrics import in_words
from .predict import PairLoss, embed_rows, make_pair_loss


@dataclass
class LoadedRun:
    """A trained model ready to score: the run's own preprocessing, device and threshold."""

    path: Path
    config: Config
    net: SiameseNet
    device: torch.device
    bf16: bool
    threshold: float  # "same" when score > threshold; chosen on validation for distance heads
    results: dict
    pair_loss: PairLoss  # the loss the run trained with, to report on other pairs
    align: AlignSpec | None = None  # photos are detected and aligned first (use_alignment)
    # Where the threshold came from, as load_run finds it: the run's validation pairs and
    # rule, the model's fixed threshold, or threshold.json's origin
    threshold_origin: str = ""
    # Another backend for embeddings (onnxruntime: serving.export.use_onnx); None: PyTorch.
    embedder: Callable[[torch.Tensor], torch.Tensor] | None = None

    @functools.cached_property
    def weights_sha256(self) -> str:
        """The digest of the weights file: what a saved evaluation of this run depends on."""
        return hashlib.sha256((self.path / "best.safetensors").read_bytes()).hexdigest()

    @functools.cached_property
    def test_pairs_sha256(self) -> str | None:
        """The digest of the run's own test pairs as the files are now (None: no test file);
        read once (opening the data scans its whole tree)."""
        test = source_of(self.config.data, True).test
        return None if test is None else test.sha256

    @functools.cached_property
    def inference_net(self) -> SiameseNet:
        """The net as it embeds, made once: the weights of a loaded run never change."""
        return for_inference(self.net)

    def refresh(self) -> None:
        """``net`` was changed in place (a lever set, a tower replaced): the next embedding
        makes its inference copy again instead of using the one made before."""
        self.__dict__.pop("inference_net", None)

    @property
    def preprocess(self) -> Preprocess:
        d = self.config.data
        return Preprocess(d.size, tuple(d.crop) if d.crop else None, self.align)

    def use_alignment(self, mode: str) -> LoadedRun:
        """From now on, photos given to this run are aligned (``auto``: those not already in
        the geometry of its training images) or taken as they are (``none``)."""
        self.align = None if mode == "none" else alignment(self.path, self.config)
        return self

    def embed(self, images: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings of uint8 ``images`` ``(N, S, S)`` (or of ``images[rows]``), float32."""
        rows = torch.arange(len(images)) if rows is None else rows
        if self.embedder is not None:
            return self.embedder(images.index_select(0, rows)).float()
        return embed_rows(
            self.inference_net,
            images,
            rows,
            self.device,
            self.bf16,
            channels_last=self.config.train.channels_last,
        )

    def embed_files(self, paths) -> torch.Tensor:
        """Embeddings of image files of any size, mode or format, preprocessed as in training."""
        arr = np.stack([load_image(p, self.preprocess) for p in paths])
        return self.embed(torch.from_numpy(arr))

    @torch.no_grad()
    def pairwise_scores(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """Scores ``(N, M)`` of every embedding of ``h1`` against every one of ``h2``."""
        return self.net.pairwise_scores(h1, h2).cpu()

    @torch.no_grad()
    def scores(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """Score of each embedding pair; higher means more alike."""
        with autocast(self.device, False):
            return self.net.pair_scores(h1.to(self.device), h2.to(self.device)).cpu()


ALIGN_FILE = "align.json"
THRESHOLD_FILE = "threshold.json"  # the user's own operating threshold (calibrate)


def alignment(run_dir: Path, config: Config) -> AlignSpec:
    """The run's alignment template: read from ``align.json``, or measured once on its own
    training images and saved there."""
    from ..data.align import measure_template
    from ..data.lfw import image_pairs

    path = run_dir / ALIGN_FILE
    saved = json.loads(path.read_text()) if path.is_file() else None
    if saved is None:
        source = source_of(config.data, True)
        pairs = image_pairs(source.require_train(), source.dataset)
        images = sorted({f for p in pairs for f in (p.image1, p.image2)})
        saved = measure_template(images)
        saved["trained_on"] = "the training images as they are (not realigned)"
        atomic_write_text(path, json.dumps(saved, indent=1))
    return AlignSpec(tuple(tuple(p) for p in saved["template"]), tuple(saved["frame"]))


def read_weights_header(weights: Path) -> tuple[Config, dict[str, tuple[int, ...]]]:
    """The validated configuration inside a weights file and its tensors' shapes, read from
    the header alone (no tensor is loaded); a damaged file is one clear error."""
    try:
        with safe_open(str(weights), framework="pt") as fh:
            meta = fh.metadata() or {}
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error type for a damaged header
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ValueError(
            f"{weights}: not a readable weights file ({first}); train the run again, or copy "
            "the file again if it was cut short."
        ) from None
    if "config" not in meta:
        raise ValueError(f"{weights}: no config in its metadata; not written by siamese-faces.")
    try:
        raw = json.loads(meta["config"])
    except json.JSONDecodeError:
        raise ValueError(f"{weights}: its configuration is not JSON; damaged file.") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{weights}: its configuration is not a table; damaged file.")
    return from_dict(raw, source=str(weights)), shapes


def load_run(run_dir: str | Path, device: torch.device | None = None) -> LoadedRun:
    """The config stored inside ``best.safetensors`` and the model rebuilt from it."""
    run_dir = Path(run_dir)
    weights = run_dir / "best.safetensors"
    if not weights.is_file():
        raise ValueError(
            f"{run_dir}: no best.safetensors; is this a `siamese-faces train` "
            "output folder? (An interrupted run can be finished with --resume.)"
        )
    config, shapes = read_weights_header(weights)
    # The configuration inside is data, not instructions: validated like a user's (with its
    # bounds), and the net it describes built without memory first, to match the tensors.
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in model_from_config(config).state_dict().items()}
    if expected != shapes:
        wrong = sorted(set(expected) ^ set(shapes)) or [
            k for k in expected if expected[k] != shapes[k]
        ]
        raise ValueError(
            f"{weights}: its tensors do not fit the configuration inside it ({wrong[0]}...); "
            "the file is damaged or was not written by siamese-faces."
        )
    with safe_open(str(weights), framework="pt") as fh:
        state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open API)
    device = device or torch.device("cpu")
    net = model_from_config(config)
    net.load_state_dict(state)
    net.eval().to(device)
    if config.train.channels_last:
        net = net.to(memory_format=torch.channels_last)
    results_file = run_dir / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    threshold = results.get("threshold", net.head.default_threshold)
    run = LoadedRun(
        run_dir,
        config,
        net,
        device,
        config.train.bf16 and bf16_supported(device),
        float(threshold),
        results,
        make_pair_loss(net, config.model),
    )
    if "threshold" not in results:
        run.threshold_origin = "the model's fixed threshold"
    else:  # chosen in training by the run's rule
        run.threshold_origin = f"validation pairs, {in_words(config.model.threshold_rule)}"
    return _calibrated(run)


def _calibrated(run: LoadedRun) -> LoadedRun:
    """The run with its user-calibrated threshold (``threshold.json``), if it has one that was
    calibrated for these weights."""
    path = run.path / THRESHOLD_FILE
    if not path.is_file():
        return run
    try:
        saved = json.loads(path.read_text())
        threshold, origin, sha = float(saved["threshold"]), saved["origin"], saved["weights_sha256"]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: damaged; delete it, or run `calibrate` again.") from None
    if sha != run.weights_sha256:
        warnings.warn(f"{path}: calibrated for other weights; ignored.", stacklevel=3)
        return run
    run.threshold, run.threshold_origin = threshold, origin
    return run
