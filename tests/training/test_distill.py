"""Distillation from a finished run: the loss, the teacher's targets, and the protocol's rule."""

import math
import shutil
from pathlib import Path

import pytest
import torch

from siamese_faces.config import Config, ConfigError, apply_overrides
from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.runs import load_run
from siamese_faces.models import model_from_config
from siamese_faces.runtime import DistContext
from siamese_faces.training.distill import relation_loss, score_matrix
from siamese_faces.training.objectives import make_objective
from siamese_faces.training.sources import check_sources_exist
from siamese_faces.training.trainer import build, fit

from .test_training import tiny

IDENTITY = [
    "data.protocol=unrestricted",
    "train.objective=cosface",
    "model.head=cosine",
    "model.name=resnet",
    "model.filters=4,8",
    "model.kernels=3,3",
    "model.init=default",
    "train.epochs=2",
]


def slow_relation(student, teacher, s):
    """KL(teacher || student) of each face's softmax over the batch's other faces."""
    b, total = len(student), 0.0
    for i in range(b):
        others = [j for j in range(b) if j != i]
        zs = [s * float(student[i, j]) for j in others]
        zt = [s * float(teacher[i, j]) for j in others]
        ls = math.log(sum(math.exp(z) for z in zs))
        lt = math.log(sum(math.exp(z) for z in zt))
        total += sum(math.exp(t - lt) * ((t - lt) - (z - ls)) for z, t in zip(zs, zt, strict=True))
    return total / b


def test_relation_loss_matches_a_slow_loop_and_vanishes_on_agreement():
    gen = torch.Generator().manual_seed(0)
    h, g = torch.randn(6, 8, generator=gen), torch.randn(6, 12, generator=gen)
    student, teacher = score_matrix(h, 2), score_matrix(g, 3)  # widths need not match
    got = relation_loss(student, teacher, 10.0).item()
    assert got == pytest.approx(slow_relation(student, teacher, 10.0), rel=1e-5)
    assert got > 0
    assert relation_loss(teacher, teacher, 10.0).item() == pytest.approx(0.0, abs=1e-6)
    # score_matrix is the members' mean cosine, as the cosine head scores a pair
    cos = sum(
        torch.cosine_similarity(h[0, 4 * m : 4 * m + 4], h[1, 4 * m : 4 * m + 4], 0) for m in (0, 1)
    )
    assert float(student[0, 1]) == pytest.approx(float(cos) / 2, rel=1e-5)


def test_distillation_needs_a_teacher_and_an_identity_objective():
    with pytest.raises(ConfigError, match="needs both train.teacher"):
        apply_overrides(Config(), ["train.distill=1"])
    with pytest.raises(ConfigError, match="needs both train.teacher"):
        apply_overrides(Config(), ["train.teacher=runs/t"])
    with pytest.raises(
        ConfigError, match="set train.objective to one of cosface, arcface, adaface"
    ):
        apply_overrides(Config(), ["train.teacher=runs/t", "train.distill=1"])


def assert_scores_of(units: torch.Tensor, teacher: Path, data) -> torch.Tensor:
    """The targets' dot products are the teacher's scores of every pair of the faces, scored
    as it scores a pair at test time; returns the teacher's embeddings."""
    run = load_run(teacher)
    h = run.embed(data.images, data.identity_rows)
    n = len(h)
    expected = run.scores(h.repeat_interleave(n, 0), h.repeat(n, 1)).view(n, n)
    torch.testing.assert_close(units @ units.T, expected, rtol=1e-4, atol=1e-5)
    return h


@pytest.fixture
def teacher(lfw_like, tmp_path) -> Path:
    """A finished two-member run on the tiny data: the teacher."""
    cfg = tiny(lfw_like, *IDENTITY, "model.members=2", "model.wccn=0.1", "model.flip_tta=true")
    fit(cfg, prepare(cfg), tmp_path / "teacher", DistContext())
    return tmp_path / "teacher"


def test_the_targets_are_the_teachers_own_scores(lfw_like, tmp_path, teacher):
    cfg = tiny(lfw_like, *IDENTITY, f"train.teacher={teacher}", "train.distill=1")
    data = prepare(cfg)
    net, objective, *_ = build(cfg, data, DistContext())
    assert_scores_of(objective.teacher, teacher, data)  # (identity rows, joined width)
    results = fit(cfg, data, tmp_path / "student", DistContext())
    assert results["epochs_run"] == 2 and 0 <= results["test/acc"] <= 1


def test_a_teacher_with_joined_histograms_gives_its_own_scores(lfw_like, tmp_path):
    # Three members and a fitted descriptor, as the unrestricted recipe ships: the joined
    # embedding is wider than the members and is scored whole (it once failed to split).
    described = [*IDENTITY, "data.size=32", "model.descriptor=hog-lbp", "model.descriptor_dim=4"]
    own = tiny(lfw_like, *described, "model.members=3", "model.fc=12")
    fit(own, prepare(own), tmp_path / "teacher", DistContext())
    cfg = tiny(lfw_like, *described, f"train.teacher={tmp_path / 'teacher'}", "train.distill=1")
    data = prepare(cfg)
    units = build(cfg, data, DistContext())[1].teacher
    h = assert_scores_of(units, tmp_path / "teacher", data)
    assert h.shape[1] > 12  # the descriptor is joined


def test_a_teacher_stopped_part_way_is_refused(lfw_like, tmp_path, teacher):
    # A run stopped part way already has best.safetensors; only results.json marks its end.
    stopped = tmp_path / "stopped"
    shutil.copytree(teacher, stopped)
    (stopped / "results.json").unlink()
    cfg = tiny(lfw_like, *IDENTITY, f"train.teacher={stopped}", "train.distill=1")
    with pytest.raises(ConfigError, match=r"stopped'.*stopped before its end.*results.json"):
        check_sources_exist(cfg)
    with pytest.raises(ConfigError, match="stopped before its end"):
        make_objective(model_from_config(cfg), prepare(cfg), cfg, DistContext())


def test_a_teacher_that_does_not_score_by_cosine_is_refused(lfw_like, tmp_path):
    pairs = tiny(lfw_like, "data.protocol=unrestricted", "model.head=l1_sigmoid", "train.epochs=1")
    fit(pairs, prepare(pairs), tmp_path / "l1", DistContext())
    cfg = tiny(lfw_like, *IDENTITY, f"train.teacher={tmp_path / 'l1'}", "train.distill=1")
    with pytest.raises(ConfigError, match="'l1_sigmoid'; a teacher's scores must be cosines"):
        make_objective(model_from_config(cfg), prepare(cfg), cfg, DistContext())


def test_a_teacher_that_saw_a_held_out_person_is_refused(lfw_like, tmp_path, teacher):
    # Split otherwise, the teacher trains on the people this run validates on.
    other = tiny(lfw_like, *IDENTITY, "data.val_fraction=0.5", "data.split_seed=1")
    other_data, data = prepare(other), prepare(tiny(lfw_like, *IDENTITY))
    assert other_data.trained_people() & {n for p in data.val.pairs for n in p.people}
    fit(other, other_data, tmp_path / "other", DistContext())
    cfg = tiny(lfw_like, *IDENTITY, f"train.teacher={tmp_path / 'other'}", "train.distill=1")
    with pytest.raises(ConfigError, match=r"other.*trained on 2 people this run validates"):
        make_objective(model_from_config(cfg), data, cfg, DistContext())
    own_split = apply_overrides(cfg, [f"train.teacher={teacher}"])
    make_objective(model_from_config(cfg), data, own_split, DistContext())  # accepted
    bigger = tiny(
        lfw_like, *IDENTITY, "data.size=20", f"train.teacher={teacher}", "train.distill=1"
    )
    with pytest.raises(ConfigError, match="same data.size and data.crop"):
        make_objective(model_from_config(bigger), prepare(bigger), bigger, DistContext())
