import pytest
import torch

from siamese_faces.training.augment import JITTER, augment, erase, jitter


def test_augment_keeps_shape_and_range_and_follows_its_generator():
    x = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    a = augment(x, torch.Generator().manual_seed(5))
    b = augment(x, torch.Generator().manual_seed(5))
    c = augment(x, torch.Generator().manual_seed(6))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)


def test_erase_hides_one_rectangle_in_the_chosen_share_of_images():
    x = torch.full((400, 1, 20, 20), 0.5)
    y = erase(x, torch.Generator().manual_seed(0), p=0.5)
    changed = (y != x).flatten(1)
    hit = changed.any(1)
    assert 150 < int(hit.sum()) < 250  # about half the images
    assert torch.equal(y[~hit], x[~hit])
    for img in (y[hit] != x[hit])[:, 0]:  # each changed image: one solid rectangle
        rows, cols = img.any(1).nonzero()[:, 0], img.any(0).nonzero()[:, 0]
        box = img[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert box.float().mean() > 0.9  # noise can equal 0.5 exactly only by chance
        area = box.numel() / img.numel()
        assert 0.005 <= area <= 0.3
    assert torch.equal(y, erase(x, torch.Generator().manual_seed(0), p=0.5))
    assert torch.equal(erase(x, torch.Generator().manual_seed(0), p=0.0), x)


def test_augment_scale_multiplies_every_jitter_and_one_is_the_default():
    x = torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(1))

    def drawn(**kw):
        return augment(x, torch.Generator().manual_seed(3), mirror=False, **kw)

    assert jitter(1.0) == JITTER  # the shipped recipes' draws are unchanged, bit for bit
    assert torch.equal(drawn(**jitter(1.0)), drawn())
    assert torch.allclose(drawn(**jitter(0.0)), x, atol=1e-5)  # nothing left to jitter
    moved = [float((drawn(**jitter(f)) - x).abs().mean()) for f in (0.5, 1.0, 2.0)]
    assert moved[0] < moved[1] < moved[2]  # the same draws, wider ranges


def test_the_identity_objective_takes_train_augment_scale():
    from types import SimpleNamespace

    from siamese_faces.config import Config, apply_overrides
    from siamese_faces.training.objectives import TowerFaces, _images

    images = torch.randint(0, 256, (6, 32, 32), dtype=torch.uint8)
    data, ctx, rows = SimpleNamespace(images=images), SimpleNamespace(device="cpu"), torch.arange(6)
    base = ["train.augment=true", "train.mirror=false", "train.channels_last=false"]

    def batch(factor):
        cfg = apply_overrides(Config(), [*base, f"train.augment_scale={factor}"])
        faces = TowerFaces(data, rows, cfg, ctx)
        return _images(faces, rows, cfg, torch.Generator().manual_seed(0))

    plain = images.unsqueeze(1).float() / 255
    assert torch.allclose(batch(0), plain, atol=1e-5)
    assert (batch(2) - plain).abs().mean() > (batch(1) - plain).abs().mean() > 0.001


@pytest.mark.parametrize("factor", [-0.5, 5])
def test_augment_scale_out_of_range_names_the_setting(factor):
    from siamese_faces.config import Config, ConfigError, apply_overrides

    with pytest.raises(ConfigError, match="train.augment_scale"):
        apply_overrides(Config(), [f"train.augment_scale={factor}"])
