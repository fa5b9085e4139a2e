import torch

from siamese_faces.training.augment import augment, erase


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
