"""Embedding through a temporary inference copy leaves nothing behind for the next epoch."""

from __future__ import annotations

import gc

import pytest
import torch

from siamese_faces.evaluation.predict import embed_rows
from siamese_faces.models import create_model


def live_tensors() -> int:
    # Everything the collector tracks, garbage it has not collected yet included.
    return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


@pytest.mark.parametrize("tower", ["resnet", "koch"])
def test_repeated_embedding_does_not_pile_up_tensors(tower):
    size = 32 if tower == "resnet" else 105
    net = create_model(tower, input_size=size, filters=(4, 8, 8, 8), fc=16)
    images = torch.randint(0, 256, (6, size, size), dtype=torch.uint8)
    rows = torch.arange(6)
    embed_rows(net, images, rows, torch.device("cpu"))  # first call: lazy imports, caches
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()  # as in a long-lived process, where a full collection seldom comes
    try:
        before = live_tensors()
        for _ in range(3):
            h = embed_rows(net, images, rows, torch.device("cpu"))
        del h
        after = live_tensors()
    finally:
        if was_enabled:
            gc.enable()
    # Each copy holds a full set of weights; three of them left behind would show here.
    assert after <= before, (before, after)
