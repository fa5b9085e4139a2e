import copy
import math

import pytest
import torch
from torch import nn

from siamese_faces.config import ModelConfig, load_file, preset_names, preset_path
from siamese_faces.evaluation.predict import make_pair_loss
from siamese_faces.models import MODELS, create_model, model_from_config
from siamese_faces.models.init import initialise
from siamese_faces.models.koch import KochTower, dropout_schedule
from siamese_faces.models.phases import plain_layers

SMALL = dict(input_size=32, filters=(4, 8), kernels=(5, 3), pool_layers=2, fc=16)
HEAD_VARIANTS = [
    dict(head="cosine"),
    dict(head="l1_sigmoid"),
    dict(head="euclidean", margin=2.0),
    dict(batchnorm=True),
    dict(dropout=0.3),
    dict(fc_activation="relu"),
]


def check_model(net, size, batch=3):
    gen = torch.Generator().manual_seed(1)
    x1, x2 = torch.rand(batch, 1, size, size, generator=gen), torch.rand(batch, 1, size, size)
    net.train()
    out = net(x1, x2)
    members = getattr(net.head, "groups", 1)  # while training, one output a member
    assert out.shape == ((batch,) if members == 1 else (batch, members))
    assert net.score(out).shape == (batch,)
    assert torch.isfinite(out).all()
    assert net.embed(x1).shape[0] == batch
    loss = make_pair_loss(net, ModelConfig())(out, torch.tensor([1.0, 0.0, 1.0][:batch]))
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("variant", HEAD_VARIANTS, ids=lambda v: ",".join(map(str, v.values())))
def test_every_registered_model(name, variant):
    # Sigmoid embeddings with the N(0.5, 1e-2) bias saturate; glorot keeps every gradient alive.
    net = create_model(name, **SMALL, init="glorot", **variant)
    check_model(net, SMALL["input_size"])


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_builds_and_trains_a_step(preset):
    cfg = load_file(preset_path(preset))
    net = model_from_config(cfg)
    check_model(net, cfg.data.size, batch=2)


def test_unknown_model_lists_the_registered_ones():
    with pytest.raises(ValueError, match="registered models are"):
        create_model("nope")


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match="shrinks to nothing"):
        create_model("koch", input_size=20, filters=(4, 8, 8), kernels=(10, 7, 4))


def test_pool_then_relu_equals_relu_then_pool():
    net = create_model("koch", **SMALL, init="glorot")
    tower = net.tower
    reference = []
    # rebuild in the textbook order: conv, ReLU, pool (the first layer as plain layers)
    for m in plain_layers(copy.deepcopy(tower)).features:
        if isinstance(m, nn.Conv2d):
            reference += [m, nn.ReLU()]
        elif isinstance(m, nn.MaxPool2d):
            reference.append(m)
    x = torch.randn(4, 1, 32, 32)
    torch.testing.assert_close(tower.features(x), nn.Sequential(*reference)(x))  # float rounding


def layers(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_koch_initialisation_statistics():
    net = create_model(
        "koch", input_size=64, filters=(32, 64), kernels=(5, 5), pool_layers=2, fc=512, init="koch"
    )
    weights = torch.cat([m.weight.flatten() for m in layers(net)])
    biases = torch.cat([m.bias.flatten() for m in layers(net)])
    assert abs(weights.mean()) < 1e-3 and abs(weights.std() - 1e-2) < 5e-4
    assert abs(biases.mean() - 0.5) < 2e-3 and abs(biases.std() - 1e-2) < 2e-3


@pytest.mark.parametrize("scheme", ["glorot", "lecun"])
def test_glorot_and_lecun_statistics(scheme):
    net = create_model(
        "koch", input_size=64, filters=(32, 64), kernels=(5, 5), pool_layers=2, fc=512, init=scheme
    )
    for m in layers(net):
        w = m.weight
        fan_in, fan_out = w[0].numel(), w.shape[0] * w[0][0].numel()
        want = math.sqrt(2 / (fan_in + fan_out)) if scheme == "glorot" else math.sqrt(1 / fan_in)
        if w.numel() > 5000:
            assert abs(w.std().item() - want) / want < 0.05, (m, w.std(), want)
        assert torch.all(m.bias == 0)


def test_initialisation_comes_from_the_generator():
    a = create_model("koch", **SMALL, generator=torch.Generator().manual_seed(3), init="default")
    b = create_model("koch", **SMALL, generator=torch.Generator().manual_seed(3), init="default")
    c = create_model("koch", **SMALL, generator=torch.Generator().manual_seed(4), init="default")
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not all(
        torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )
    with pytest.raises(ValueError, match="choose one of"):
        initialise(a, "uniform", torch.Generator())


def test_dropout_schedule_decreases_to_one_tenth():
    assert dropout_schedule(0.25, 4) == [0.25, 0.2, 0.15, 0.1]
    assert dropout_schedule(0.2, 4) == [0.2, 0.15, 0.1, 0.1]
    assert dropout_schedule(0.05, 3) == [0.05, 0.05, 0.05]
    assert dropout_schedule(0.0, 4) == [0.0] * 4
    tower = KochTower(64, (4, 8, 8, 8), (3, 3, 3, 3), dropout=0.25)
    assert [m.p for m in tower.modules() if isinstance(m, nn.Dropout)] == [0.25, 0.2, 0.15, 0.1]


@pytest.mark.parametrize(
    "head, members", [("l1_sigmoid", 1), ("euclidean", 1), ("cosine", 1), ("cosine", 3)]
)
def test_pairwise_matches_the_head_pair_by_pair(head, members):
    net = create_model("koch", **SMALL, init="glorot", head=head, members=members).eval()
    with torch.no_grad():
        net.head.linear.weight.normal_() if head == "l1_sigmoid" else None  # mixed signs
        a, b = torch.randn(5, 16 * members), torch.randn(7, 16 * members)
        grid = net.head.pairwise(a, b)
        slow = torch.stack(
            [
                torch.stack([net.head(a[i : i + 1], b[j : j + 1])[0] for j in range(7)])
                for i in range(5)
            ]
        )
    assert grid.shape == (5, 7)
    assert torch.allclose(grid, slow, atol=1e-4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_members_train_independently_and_vote_by_mean_cosine(name):
    net = create_model(name, **SMALL, init="glorot", head="cosine", members=2)
    assert net.tower.embedding_dim == 2 * SMALL["fc"]
    first, second = net.tower.members
    assert not torch.equal(  # each member its own initial weights
        next(first.parameters()), next(second.parameters())
    )
    gen = torch.Generator().manual_seed(3)
    x1, x2 = (torch.rand(4, 1, 32, 32, generator=gen) for _ in range(2))
    y = torch.tensor([1.0, 0.0, 1.0, 0.0])

    def grads_of_first_member():
        net.zero_grad()
        net.train()
        out = net(x1, x2)
        assert out.shape == (4, 2)  # one cosine per member while training
        make_pair_loss(net, ModelConfig())(out, y).backward()
        return [p.grad.clone() for p in first.parameters()]

    before = grads_of_first_member()
    with torch.no_grad():  # another second member: the first one's gradients must not move
        for p in second.parameters():
            p.add_(torch.randn(p.shape, generator=gen))
    after = grads_of_first_member()
    assert all(torch.allclose(g, h, atol=1e-6) for g, h in zip(before, after, strict=True))

    net.eval()  # the verdict: the mean of the members' cosines
    with torch.no_grad():
        cos = [nn.functional.cosine_similarity(t(x1), t(x2), dim=1) for t in net.tower.members]
        assert torch.allclose(net.score(net(x1, x2)), (cos[0] + cos[1]) / 2, atol=1e-5)


def test_a_member_view_is_its_part_of_the_face_at_full_size():
    from siamese_faces.models.siamese import view

    x = torch.zeros(2, 1, 8, 8)
    x[..., :4, 2:6] = 1.0  # a bright block: rows 0-3, columns 2-5
    assert view(x, (0.0, 0.0, 1.0, 1.0)) is x
    part = view(x, (0.25, 0.0, 0.75, 0.5))
    assert part.shape == x.shape and torch.allclose(part, torch.ones_like(part))
    views = ((0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, 0.5))
    net = create_model("resnet", **SMALL, head="cosine", members=2, views=views)
    check_model(net, 32)
    faces = torch.rand(3, 1, 32, 32)
    lower = faces.clone()
    lower[..., 16:, :] = torch.rand(3, 1, 16, 32)  # only the lower half differs
    net.eval()
    with torch.no_grad():  # the second member sees the upper half only
        h, g = net.tower(faces), net.tower(lower)
    assert torch.allclose(h[:, 16:], g[:, 16:], atol=1e-6) and not torch.allclose(
        h[:, :16], g[:, :16]
    )
