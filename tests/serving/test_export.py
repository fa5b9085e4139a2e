"""ONNX export: onnxruntime embeds as PyTorch fp32 does, and serves as a backend."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="export checks need onnxruntime (the [onnx] extra)")

from siamese_faces.cli import main  # noqa: E402
from siamese_faces.evaluation.api import SCORING  # noqa: E402
from siamese_faces.evaluation.runs import load_run  # noqa: E402
from siamese_faces.serving.export import OnnxEmbedder, export_onnx  # noqa: E402


def test_onnx_embeddings_match_pytorch_fp32(run_dir, tmp_path):
    run = load_run(run_dir[0])
    info = export_onnx(run, tmp_path / "m.onnx")
    assert info["max_abs_diff"] <= 1e-4 and info["siamese_faces.head"] == "cosine"
    size = run.config.data.size
    images = torch.randint(0, 256, (7, size, size), dtype=torch.uint8)  # another batch size
    fresh = load_run(run_dir[0]).net.float().eval()
    with torch.no_grad():
        want = fresh.embed(images.unsqueeze(1).float() / 255).numpy()
    got = OnnxEmbedder(tmp_path / "m.onnx")(images.numpy())
    assert np.abs(got - want).max() <= 1e-4
    assert not run.net.training  # exporting leaves the loaded run as it was


def test_verify_with_the_onnx_backend(run_dir, capsys):
    run, data = run_dir
    a, b = (data / "lfw2" / n / f"{n}_0001.jpg" for n in ("Gus_G", "Hal_H"))
    argv = ["verify", "--align", "none", str(run), str(a), str(b), "--json"]
    assert main([*argv, "--backend", "onnx"]) == 0
    onnx = json.loads(capsys.readouterr().out)
    assert (run / "model.onnx").is_file()  # exported on first use
    assert main(argv) == 0
    torch_ = json.loads(capsys.readouterr().out)
    assert onnx["score"] == pytest.approx(torch_["score"], abs=0.02)  # PyTorch runs in bf16
    assert main(["export", str(run), "--out", str(run / "again.onnx")]) == 0
    assert "max abs difference" in capsys.readouterr().out


def _set_metadata(path, key, value):
    import onnx

    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
    onnx.save(model, str(path))


def test_a_stale_export_is_made_again_from_the_runs_own_weights(run_dir, tmp_path):
    from siamese_faces.serving.export import use_onnx

    run = load_run(run_dir[0])
    path = tmp_path / "model.onnx"
    export_onnx(run, path)
    # As if exported before a --resume rewrote the weights, then by an older way of embedding.
    for key, stale in (("weights_sha256", "0" * 64), ("scoring", str(SCORING - 1))):
        _set_metadata(path, f"siamese_faces.{key}", stale)
        use_onnx(run, path)
        made = OnnxEmbedder(path).metadata
        assert made["siamese_faces.weights_sha256"] == run.weights_sha256
        assert made["siamese_faces.scoring"] == str(SCORING)


def test_the_onnx_backend_without_onnxruntime_is_one_line_naming_the_extra(
    run_dir, monkeypatch, capsys
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name)
    )
    run, data = run_dir
    a = data / "lfw2" / "Gus_G" / "Gus_G_0001.jpg"
    assert main(["verify", "--align", "none", "--backend", "onnx", str(run), str(a), str(a)]) == 2
    err = capsys.readouterr().err
    assert "siamese-faces[onnx]" in err and "--backend torch" in err and "Traceback" not in err


def test_serve_embeds_with_onnxruntime_unless_told_otherwise():
    from siamese_faces.cli import build_parser

    assert build_parser().parse_args(["serve", "RUN"]).backend == "onnx"  # the faster there
    assert build_parser().parse_args(["enroll", "RUN", "--gallery", "G", "DIR"]).backend == "torch"
