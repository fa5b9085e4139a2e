"""experiments/descriptor_pca.py: its ways are the PCAs they are named for, from the starts
they are named for."""

import pytest
import torch

from siamese_faces.models.descriptors import whitened_directions

from ..helpers import script
from ..models.test_descriptors import spread_histograms


@pytest.fixture(scope="module")
def pca():
    return script("experiments", "descriptor_pca")


def test_the_search_written_out_in_float32_is_torchs_svd_lowrank_from_the_same_start(pca):
    x = spread_histograms()
    ours, on_ours = whitened_directions(x, 16, torch.Generator().manual_seed(3))
    before, on_before = pca.svd_lowrank_directions(x, 16, torch.Generator().manual_seed(3))
    sign = (ours * before).sum(0).sign()  # a direction's sign is the SVD's choice
    torch.testing.assert_close(ours * sign, before, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(on_ours * sign, on_before, rtol=1e-4, atol=1e-5)


def test_start_0_draws_as_training_does_and_another_start_draws_its_own(pca):
    x = spread_histograms()

    def directions(way, start, seed):
        return pca.fitted_way(way, start)(x, 16, torch.Generator().manual_seed(seed))[0]

    trained = whitened_directions(x, 16, torch.Generator().manual_seed(5), True)[0]
    torch.testing.assert_close(directions("bfloat16", 0, 5), trained, rtol=0, atol=0)
    torch.testing.assert_close(directions("float32", 2, 5), directions("float32", 2, 6))
    assert not torch.allclose(directions("float32", 2, 5), directions("float32", 0, 5))
