"""Self-supervised pre-training (train.objective = "instance") and starting from a run."""

import math

import pytest
import torch

from siamese_faces.config import Config, ConfigError, apply_overrides
from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import DistContext
from siamese_faces.training.objectives import InstanceModule, make_objective
from siamese_faces.training.trainer import build, fit

from .test_training import tiny

TOWER = ["model.head=cosine", "model.name=resnet", "model.filters=4,8", "model.kernels=3,3"]
INSTANCE = [*TOWER, "model.init=default", "train.objective=instance", "train.epochs=2"]


def slow_nt_xent(u, t):
    """SimCLR's loss written out: view i's partner is i + n (mod 2n), itself left out."""
    m, total = len(u), 0.0
    for i in range(m):
        j = (i + m // 2) % m
        logits = {k: float(u[i] @ u[k]) / t for k in range(m) if k != i}
        top = max(logits.values())
        lse = top + math.log(sum(math.exp(v - top) for v in logits.values()))
        total += lse - logits[j]
    return total / m


class Fixed(torch.nn.Module):
    """A stand-in tower that returns the embeddings it is given."""

    def forward(self, x):
        return x.flatten(1)


def test_nt_xent_matches_a_slow_loop_member_by_member():
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(8, 6, generator=gen)  # 4 faces' two views, two members of 3
    net = torch.nn.Module()
    net.tower = Fixed()
    loss, found = InstanceModule(net, groups=2, temperature=0.2)(h[:, None, None, :])
    units = [torch.nn.functional.normalize(h[:, 3 * g : 3 * g + 3], dim=1) for g in (0, 1)]
    expected = sum(slow_nt_xent(u, 0.2) for u in units) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    same = torch.nn.functional.normalize(torch.randn(4, 6, generator=gen), dim=1)
    _, all_found = InstanceModule(net, 1, 0.1)(torch.cat([same, same])[:, None, None, :])
    assert 0 <= int(found) <= 8 and int(all_found) == 8  # identical views always find each other


@pytest.mark.parametrize("protocol", ["restricted", "unrestricted"])
def test_instance_images_are_training_images_only(lfw_like, protocol):
    cfg = tiny(lfw_like, *INSTANCE, f"data.protocol={protocol}")
    data = prepare(cfg)
    objective = make_objective(build(cfg, data, DistContext())[0], data, cfg, DistContext())
    owner = {row: data.paths[row].parent.name for row in objective.rows.tolist()}
    held_out = {n for s in (data.val, data.test) for p in s.pairs for n in p.people}
    assert owner and not set(owner.values()) & held_out
    pair_rows = set(torch.cat([data.train.a, data.train.b]).tolist())
    if protocol == "restricted":  # exactly the training pairs' images: nothing from names
        assert set(owner) == pair_rows
    else:  # every image of the training people
        assert set(owner) == pair_rows | set(data.identity_rows.tolist())


def test_instance_needs_a_cosine_head():
    with pytest.raises(ConfigError, match='set model.head = "cosine"'):
        apply_overrides(Config(), ["train.objective=instance"])
    with pytest.raises(ConfigError, match="train.temperature"):
        apply_overrides(Config(), [*TOWER, "train.objective=instance", "train.temperature=0"])


def test_a_run_starts_from_a_pretrained_tower(lfw_like, tmp_path):
    pre = tiny(lfw_like, *INSTANCE)
    results = fit(pre, prepare(pre), tmp_path / "pre", DistContext())
    assert results["epochs_run"] == 2 and math.isfinite(results["val/loss"])
    cfg = tiny(lfw_like, *TOWER, "train.epochs=1", f"train.start_from={tmp_path / 'pre'}")
    data = prepare(cfg)
    net = build(cfg, data, DistContext())[0]
    fresh = build(tiny(lfw_like, *TOWER, "train.epochs=1"), data, DistContext())[0]
    source = load_run(tmp_path / "pre").net.tower.state_dict()
    for name, value in net.tower.state_dict().items():
        torch.testing.assert_close(value, source[name])
    assert not torch.equal(fresh.tower.fc.weight, net.tower.fc.weight)
    fit(cfg, data, tmp_path / "fine", DistContext())
    wider = tiny(lfw_like, *TOWER, "model.fc=8", f"train.start_from={tmp_path / 'pre'}")
    with pytest.raises(ConfigError, match="its tower is not this run's"):
        build(wider, prepare(wider), DistContext())


def test_a_start_that_saw_a_held_out_person_is_refused(lfw_like, tmp_path):
    other = tiny(lfw_like, *INSTANCE, "data.val_fraction=0.5", "data.split_seed=1")
    fit(other, prepare(other), tmp_path / "other", DistContext())
    cfg = tiny(lfw_like, *TOWER, f"train.start_from={tmp_path / 'other'}")
    with pytest.raises(ConfigError, match=r"start_from=.*trained on 2 people this run validates"):
        build(cfg, prepare(cfg), DistContext())
