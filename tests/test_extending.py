"""docs/extending.md's worked example, run as written: a tower and a loss registered from
outside the package, trained for one epoch, the run reloaded and scored."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from siamese_faces.evaluation.runs import load_run
from siamese_faces.losses import LOSSES
from siamese_faces.models import MODELS

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture
def registered():
    """The doc's tower and loss blocks run, their registrations removed afterwards."""
    namespace: dict = {}
    try:
        for code in blocks()[:2]:
            exec(compile(code, str(DOC), "exec"), namespace)
        yield namespace
    finally:
        MODELS.unregister("tiny")
        LOSSES.unregister("hinge")


def test_the_doc_has_a_tower_a_loss_and_a_training_block():
    code = blocks()
    assert len(code) == 3
    assert "@register_tower" in code[0] and "@register_loss" in code[1] and "train(" in code[2]


def test_a_tower_and_a_loss_from_the_doc_train_one_epoch(registered, lfw_like, tmp_path):
    assert "tiny" in MODELS and "hinge" in LOSSES
    namespace = {**registered, "data_dir": lfw_like, "run_dir": tmp_path / "run"}
    exec(compile(blocks()[2], str(DOC), "exec"), namespace)
    results = namespace["run"].results
    assert results["epochs_run"] == 1 and 0.0 <= results["test/acc"] <= 1.0
    # The tower is the doc's, trained with the doc's loss, and the run reloads from its file.
    run = load_run(tmp_path / "run")
    assert type(run.net.tower).__name__ == "TinyTower" and run.net.tower.embedding_dim == 16
    assert run.config.model.loss == "hinge"
    out = torch.tensor([2.0, -2.0])  # confident and right: no hinge loss
    loss = run.pair_loss(out, torch.tensor([1.0, 0.0])).detach()
    assert float(loss) == pytest.approx(0, abs=1e-6)


def test_the_docs_loss_against_a_slow_loop(registered):
    loss = registered["HingeLoss"](margin=1.0)
    logit, y = torch.tensor([0.3, -2.0, 1.5, -0.2]), torch.tensor([1.0, 0.0, 0.0, 1.0])
    slow = (
        sum(max(0.0, 1.0 - (1 if t else -1) * float(v)) for v, t in zip(logit, y, strict=True)) / 4
    )
    assert float(loss(logit, y)) == pytest.approx(slow)
