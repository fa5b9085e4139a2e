"""The tiny trained run (cosine head, so that a gallery can search it) every service test uses."""

import pytest

from siamese_faces.config import Config, apply_overrides
from siamese_faces.data.rundata import prepare
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..helpers import write_lfw_like
from ..training.test_training import TINY


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("svc")
    data = write_lfw_like(root / "mini-lfw")
    cfg = apply_overrides(
        Config(),
        [f"data.dir={data}", *TINY, "train.epochs=2", "model.head=cosine", "model.flip_tta=true"],
    )
    fit(cfg, prepare(cfg), root / "run", DistContext())
    return root / "run", data
