"""train.compile: the tower's training forward through torch.compile (inductor), the module's
state dict, checkpoints and inference left as eager's; refused for pairs; eager, and said so,
where no C++ compiler is found."""

import json

import pytest
import torch
from safetensors.torch import load_file

from siamese_faces.config import ConfigError, apply_overrides
from siamese_faces.data.rundata import prepare
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import build, compile_forward, fit, has_cpp_compiler

from .test_distill import IDENTITY
from .test_training import tiny


def test_pairs_are_refused_with_the_fix(lfw_like):
    with pytest.raises(ConfigError, match="train.compile=true compiles the tower of the identity"):
        tiny(lfw_like, "train.compile=true")  # train.objective = pairs
    assert tiny(lfw_like, *IDENTITY, "train.compile=true").train.compile


def test_without_a_cpp_compiler_the_tower_stays_eager_and_training_says_so(
    lfw_like, tmp_path, monkeypatch, capsys
):
    import torch._inductor.cpp_builder as builder

    def missing():
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(builder, "get_cpp_compiler", missing)
    cfg = tiny(lfw_like, *IDENTITY, "train.compile=true", "train.epochs=1")
    _, objective, *_ = build(cfg, prepare(cfg), DistContext())
    assert objective.module.compiled is None
    assert compile_forward(objective.module) is False
    results = fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    assert results["compiled"] is False
    assert "inductor found no C++ compiler (g++); training eagerly" in capsys.readouterr().err


@pytest.mark.skipif(not has_cpp_compiler(), reason="inductor builds its kernels with g++")
def test_the_compiled_tower_trains_with_eagers_state_and_embeds_as_eager_does(lfw_like, tmp_path):
    cfg = tiny(lfw_like, *IDENTITY, "train.compile=true", "train.bf16=false")
    _, objective, *_ = build(cfg, prepare(cfg), DistContext())
    module = objective.module
    keys = set(module.state_dict())
    assert compile_forward(module) is True
    assert set(module.state_dict()) == keys  # the compiled function is not a child
    module.eval()
    x = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(module.embed(x), module.tower(x), atol=1e-5, rtol=1e-4)

    results = fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    assert results["compiled"] is True and torch.isfinite(torch.tensor(results["test/acc"]))
    eager = fit(
        apply_overrides(cfg, ["train.compile=false"]),
        prepare(cfg),
        tmp_path / "eager",
        DistContext(),
    )
    assert eager["compiled"] is False
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["compile"] is True
    # the same weights' names in both runs' best checkpoints
    assert set(load_file(tmp_path / "run" / "best.safetensors")) == set(
        load_file(tmp_path / "eager" / "best.safetensors")
    )
