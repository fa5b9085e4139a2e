"""ONNX export: onnxruntime embeds as PyTorch fp32 does, and serves as a backend."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="export checks need onnxruntime (the [onnx] extra)")

from siamese_faces.cli import main  # noqa: E402
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
