"""model.tower_size: the net takes data.size faces, the tower their average at its own size,
and the descriptor reads every pixel of data.size."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from siamese_faces.config import Config, ConfigError, apply_overrides
from siamese_faces.models import model_from_config
from siamese_faces.models.siamese import Downsampled, MemberTowers, for_inference, halve, view

SMALL = ["model.name=resnet", "model.filters=4,8", "model.fc=8", "model.pooling=flatten"]


def config(*extra: str) -> Config:
    return apply_overrides(Config(), SMALL + list(extra))


def test_the_tower_is_built_for_its_size_and_reads_the_average():
    net = model_from_config(config("data.size=64", "model.tower_size=32")).eval()
    assert isinstance(net.tower, Downsampled) and net.tower.times == 1
    plain = model_from_config(config("data.size=32")).eval()
    # the same tower as one built for 32-pixel faces: same parameters, same shapes
    shapes = {k: v.shape for k, v in plain.tower.state_dict().items()}
    assert {k: v.shape for k, v in net.tower.tower.state_dict().items()} == shapes
    x = torch.rand(3, 1, 64, 64)
    assert torch.allclose(net.embed(x), net.tower.tower(halve(x)))
    # faces already at the tower's size (training averages before it jitters) pass as they are
    assert torch.allclose(net.embed(halve(x)), net.embed(x))
    assert torch.allclose(for_inference(net).embed(x), net.embed(x), atol=1e-5)


def test_the_descriptor_reads_the_nets_input_size():
    extra = ["model.descriptor=hog-lbp", "model.head=cosine"]
    big = model_from_config(config("data.size=64", "model.tower_size=32", *extra))
    small = model_from_config(config("data.size=32", *extra))
    same = model_from_config(config("data.size=64", *extra))
    # its cells are sized for the faces it reads: 64-pixel faces, not the tower's 32
    cells = (big.descriptor.hog_cell, big.descriptor.lbp_cell)
    assert cells == (same.descriptor.hog_cell, same.descriptor.lbp_cell) == (4, 8)
    assert (small.descriptor.hog_cell, small.descriptor.lbp_cell) == (2, 4)
    faces = torch.rand(2, 1, 64, 64)
    assert big.descriptor.features(faces).shape == same.descriptor.features(faces).shape


def test_zero_the_input_size_or_more_leaves_the_net_as_it_was():
    # faces no larger than the tower's size reach it as they are (e.g. the default recipe,
    # tower_size 64, at data.size=32 for a quick run)
    for extra in ([], ["model.tower_size=32"], ["model.tower_size=64"]):
        net = model_from_config(config("data.size=32", *extra))
        assert not isinstance(net.tower, Downsampled)
        assert net.embed(torch.rand(2, 1, 32, 32)).shape == (2, 8)


VIEWS = ["model.head=cosine", "model.members=2", "model.views=0,0,1,1;0.25,0.2,0.75,0.7"]


def test_views_cut_before_the_halving_read_the_input_faces():
    first = model_from_config(config("data.size=64", "model.tower_size=32", *VIEWS)).eval()
    net = config("data.size=64", "model.tower_size=32", *VIEWS, "model.views_before_halving=true")
    net = model_from_config(net).eval()
    assert isinstance(net.tower, MemberTowers)
    assert all(isinstance(m, Downsampled) and m.times == 1 for m in net.tower.members)
    # the same towers drawn from the same seed: only where the view is cut differs
    for a, b in zip(first.parameters(), net.parameters(), strict=True):
        assert torch.equal(a, b)
    x = torch.rand(3, 1, 64, 64)
    whole, inner = net.tower.members
    box = (0.25, 0.2, 0.75, 0.7)
    cut_first = halve(view(x, box))
    assert torch.allclose(
        net.embed(x), torch.cat([whole.tower(halve(x)), inner.tower(cut_first)], 1)
    )
    # the whole face's member is the one the halved net had; the inner one reads other pixels
    assert torch.allclose(first.embed(x)[:, :8], net.embed(x)[:, :8])
    assert not torch.allclose(view(halve(x), box), cut_first, atol=0.05)
    assert torch.allclose(for_inference(net).embed(x), net.embed(x), atol=1e-5)


@pytest.mark.parametrize(
    "extra", [["model.tower_size=32"], VIEWS, ["data.size=32", "model.tower_size=32", *VIEWS]]
)
def test_views_before_the_halving_need_views_and_a_halving(extra):
    with pytest.raises(ConfigError, match="model.views_before_halving.*give model.views"):
        config("data.size=64", *extra, "model.views_before_halving=true")


@pytest.mark.parametrize("size", [128, 64])
def test_halving_is_the_antialiased_bilinear_resize(size):
    x = torch.rand(2, 1, size, size, dtype=torch.float64)
    want = x
    for times in (1, 2):  # one Pillow-style antialiased resize to half the size a halving
        half = want.shape[-1] // 2
        want = F.interpolate(want, size=(half, half), mode="bilinear", antialias=True)
        assert torch.allclose(halve(x, times), want, atol=1e-12)


@pytest.mark.parametrize("size, bad", [(64, 48), (96, 64), (96, 32), (64, -1)])
def test_a_size_that_is_not_a_halving_names_the_setting(size, bad):
    with pytest.raises(ConfigError, match="model.tower_size"):
        config(f"data.size={size}", f"model.tower_size={bad}")


@pytest.mark.parametrize(
    "views",
    [[], VIEWS[1:], [*VIEWS[1:], "model.views_before_halving=true"]],
    ids=["one-tower", "views-of-the-halved-face", "views-before-the-halving"],
)
def test_a_trained_run_with_a_smaller_tower_exports_to_onnx(tmp_path, views):
    pytest.importorskip("onnxruntime", reason="the export check needs onnxruntime ([onnx])")
    from siamese_faces.data.rundata import batch_images, prepare
    from siamese_faces.evaluation.runs import load_run
    from siamese_faces.runtime import DistContext, autocast, bf16_supported
    from siamese_faces.serving.export import export_onnx
    from siamese_faces.training.objectives import TowerFaces, _images
    from siamese_faces.training.trainer import fit

    from ..helpers import write_lfw_like

    data = write_lfw_like(tmp_path / "mini-lfw")
    cfg = apply_overrides(
        Config(),
        [f"data.dir={data}", *SMALL, "data.size=32", "model.tower_size=16", "model.head=cosine"]
        + ["train.epochs=1", "train.batch_size=4", "train.threads=1"]
        + views,  # the views' crops traced with the face's size fixed (models/siamese.py, view)
    )
    cut_first = "model.views_before_halving=true" in views
    data = prepare(cfg)
    rows = torch.tensor([5, 2, 7, 2])  # in any order, one twice
    faces = TowerFaces(data, torch.arange(10), cfg, DistContext())
    batch = _images(faces, rows, cfg, torch.Generator().manual_seed(0))
    gathered = batch_images(data.images, rows, torch.device("cpu"))
    if cut_first:  # each member cuts its view from the whole face: jittered at 32 pixels
        assert batch.shape == (4, 1, 32, 32) and torch.equal(faces.batch(rows), gathered)
    else:  # training's batches are the tower's faces: averaged to 16 pixels, jittered there
        assert batch.shape == (4, 1, 16, 16)
        # halved once before training: the same values as each batch halved inside the step,
        # under its autocast (bf16 where the CPU has it)
        with autocast(torch.device("cpu"), cfg.train.bf16 and bf16_supported(torch.device("cpu"))):
            drawn = halve(gathered, 1)
        assert torch.equal(faces.batch(rows), drawn) and faces.batch(rows).dtype == drawn.dtype
    fit(cfg, data, tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    assert isinstance(run.net.tower, MemberTowers if cut_first else Downsampled)
    info = export_onnx(run, tmp_path / "m.onnx")  # checks onnxruntime against PyTorch fp32
    assert info["max_abs_diff"] <= 1e-4
