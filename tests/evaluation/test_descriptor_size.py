"""experiments/descriptor_size.py: a trained run's histograms read from larger faces."""

from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.runs import load_run
from siamese_faces.models.siamese import Downsampled
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..helpers import script
from ..training.test_distill import IDENTITY
from ..training.test_training import tiny


def test_the_larger_faces_keep_the_runs_families_and_the_tower_gets_them_halved(lfw_like, tmp_path):
    families = "model.descriptor_illumination=none,tan-triggs"
    described = ("data.size=32", "model.descriptor=hog-lbp", "model.descriptor_dim=4", families)
    cfg = tiny(lfw_like, *IDENTITY, *described)
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    sizes = script("experiments", "descriptor_size")
    data = sizes.with_large_descriptor(run, 64, 16, (2,))
    d = run.net.descriptor
    assert [p.illumination for p in d.parts] == ["none", "tan-triggs"]  # both, not the first
    assert all(p.lbp_cell == 64 // 16 and p.lbp_radii == (2,) for p in d.parts)
    assert bool(d.fitted) and data.images.shape[-1] == 64
    assert isinstance(run.net.tower, Downsampled)  # the tower's faces halved back to 32
    scored = sizes.score(run, data)
    assert 0 <= scored["acc"] <= 1 and 0 <= scored["val auc"] <= 1
