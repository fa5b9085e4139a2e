"""The residual tower's two ways from the last feature map to the embedding."""

import pytest
import torch

from siamese_faces.config import Config, ConfigError, apply_overrides
from siamese_faces.models import model_from_config
from siamese_faces.models.resnet import ResNetTower


@pytest.mark.parametrize("size", [16, 17, 31, 50, 64])
def test_flatten_feeds_every_cell_of_the_last_map(size):
    tower = ResNetTower(size, filters=(4, 8, 8), fc=6, pooling="flatten").eval()
    cells = ((((size + 1) // 2 + 1) // 2 + 1) // 2) ** 2
    assert tower.fc.in_features == 8 * cells
    x = torch.rand(3, 1, size, size)
    assert tower(x).shape == (3, 6)
    # Position counts: the same picture with its quadrants swapped embeds differently,
    # where averaging over the last map would see nearly the same features.
    swapped = x.roll((size // 2, size // 2), (2, 3))
    assert not torch.allclose(tower(x), tower(swapped), atol=1e-3)


def test_average_keeps_the_saved_parameter_names():
    names = set(ResNetTower(32, filters=(4, 8), fc=6).state_dict())
    assert not any(n.startswith("pool") for n in names)  # runs saved before load as they were
    flat = set(ResNetTower(32, filters=(4, 8), fc=6, pooling="flatten").state_dict())
    assert flat - names == {
        f"pool.0.{k}"
        for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    }


def test_pooling_is_a_validated_setting():
    ok = apply_overrides(Config(), ["model.name=resnet", "model.pooling=flatten", "data.size=32"])
    assert ok.model.pooling == "flatten"
    net = model_from_config(ok)  # the setting reaches the tower: 64 channels x 2x2 cells
    assert net.tower.fc.in_features == 64 * 4
    with pytest.raises(ConfigError, match="model.pooling"):
        apply_overrides(Config(), ["model.pooling=max"])
