import pytest
import torch
from torch.nn import functional as F

from siamese_faces.models import create_model
from siamese_faces.models.whiten import WithinClassWhitening


def people(n_people=40, per_person=5, dim=6, seed=0):
    """Embeddings whose within-person spread is far larger along some axes than others."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_people, dim, generator=gen) * 3
    spread = torch.linspace(0.05, 1.5, dim)
    h = (
        centres.repeat_interleave(per_person, 0)
        + torch.randn(n_people * per_person, dim, generator=gen) * spread
    )
    return h, torch.arange(n_people).repeat_interleave(per_person)


def within_covariance(x, labels):
    means = torch.stack([x[labels == c].mean(0) for c in labels.unique()])
    c = x - means[labels]
    return c.T @ c / len(c)


def test_identity_until_fitted_then_within_person_spread_is_even():
    h, labels = people()
    w = WithinClassWhitening(6, ridge=1e-6)
    assert torch.equal(w(h), h)
    fitted = w.fit(h, labels)
    assert fitted == {"images": 200, "people": 40}
    cov = within_covariance(w(h), labels)
    torch.testing.assert_close(cov, torch.eye(6), atol=1e-3, rtol=0)


def test_a_ridge_shrinks_towards_plain_centred_cosines():
    h, labels = people(seed=1)
    loose, tight = WithinClassWhitening(6, ridge=1e-6), WithinClassWhitening(6, ridge=1e6)
    loose.fit(h, labels), tight.fit(h, labels)
    centred = F.normalize(h, dim=1) - F.normalize(h, dim=1).mean(0)
    # a huge ridge: W is a multiple of the identity, so cosines are those of centred units
    torch.testing.assert_close(
        F.cosine_similarity(tight(h[:10]), tight(h[10:20])),
        F.cosine_similarity(centred[:10], centred[10:20]),
    )
    assert not torch.allclose(
        loose(h[:10]), tight(h[:10]) * (loose(h[:1]).norm() / tight(h[:1]).norm())
    )


def test_members_are_whitened_each_on_its_own():
    h1, labels = people(seed=2)
    h2, _ = people(seed=3)
    joint = WithinClassWhitening(12, groups=2, ridge=0.1)
    joint.fit(torch.cat([h1, h2], 1), labels)
    for part, h in enumerate((h1, h2)):
        alone = WithinClassWhitening(6, ridge=0.1)
        alone.fit(h, labels)
        torch.testing.assert_close(
            joint(torch.cat([h1, h2], 1))[:, 6 * part : 6 * part + 6], alone(h)
        )


def test_needs_a_person_with_two_images():
    w = WithinClassWhitening(6)
    with pytest.raises(ValueError, match="model.wccn: no training person has two or more"):
        w.fit(torch.randn(5, 6), torch.arange(5))


def test_a_fitted_net_keeps_its_whitening_in_the_state_dict():
    net = create_model(
        "resnet", input_size=16, filters=(4, 4, 8, 8), kernels=(3, 3, 3, 3), fc=6, wccn=0.1
    )
    h, labels = people()
    net.whiten.fit(h, labels)
    again = create_model(
        "resnet", input_size=16, filters=(4, 4, 8, 8), kernels=(3, 3, 3, 3), fc=6, wccn=0.1
    )
    again.load_state_dict(net.state_dict())
    x = torch.rand(3, 1, 16, 16)
    net.eval(), again.eval()
    assert bool(again.whiten.fitted)
    torch.testing.assert_close(again.embed(x), net.embed(x))
    assert not torch.allclose(again.embed(x), again.tower(x))
