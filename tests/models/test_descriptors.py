"""The hand-crafted descriptors (models/descriptors.py): HOG as the classical baseline computes
it, LBP as a slow loop does, the fused cosine, and a run that fits one after training (its
training faces only, its weight chosen on validation, saved and reloaded, exported)."""

import copy
import json

import numpy as np
import pytest
import torch

from siamese_faces.config import ConfigError, apply_overrides
from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.api import open_run_data
from siamese_faces.evaluation.api import pair_scores as run_scores
from siamese_faces.evaluation.metrics import accuracy, auc
from siamese_faces.evaluation.runs import load_run
from siamese_faces.models import descriptors, model_from_config
from siamese_faces.models.descriptors import (
    RIDGE,
    UNIFORM,
    Descriptor,
    DescriptorFamilies,
    gradient_histograms,
    make_descriptor,
    pattern_histograms,
    tan_triggs,
    uniform_patterns,
    whitened_directions,
)
from siamese_faces.models.siamese import halve
from siamese_faces.models.whiten import WithinClassWhitening
from siamese_faces.runtime import DistContext
from siamese_faces.training import trainer
from siamese_faces.training.trainer import (
    DESCRIPTOR_WEIGHTS,
    descriptor_features,
    fit,
    fit_after_training,
    fit_line,
    pca_sample,
    share_grid,
)

from ..helpers import script
from ..training.test_distill import IDENTITY
from ..training.test_training import tiny

DESCRIBED = ["data.size=32", "model.descriptor=hog-lbp", "model.descriptor_dim=4"]


def faces(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, size, size), generator=g, dtype=torch.uint8)


def test_hog_is_the_classical_baselines():
    images = faces(3, 32, 0)
    want = script("experiments", "baseline_hog").hog(images.numpy(), cell=4)
    got = gradient_histograms(images[:, None].float() / 255, 4)
    g = 32 // 4 - 1
    # ours is (block-channel, y, x); the baseline's (y, x, block-channel)
    got = got.reshape(3, -1, g, g).permute(0, 2, 3, 1).reshape(3, -1)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_the_uniform_patterns_are_the_58_codes_with_two_transitions_at_most():
    table = uniform_patterns()
    own = [c for c in range(256) if int(table[c]) < UNIFORM - 1]
    assert len(own) == 58 and sorted(table[own].tolist()) == list(range(58))
    assert 0 in own and 255 in own and 0b00001111 in own and 0b01010101 not in own


def slow_lbp(image: np.ndarray, cell: int, table: list[int], r: int = 1) -> np.ndarray:
    s = image.shape[0]
    m = s - 2 * r
    g = m // cell
    hist = np.zeros((UNIFORM, g, g))
    around = [(-r, -r), (-r, 0), (-r, r), (0, r), (r, r), (r, 0), (r, -r), (0, -r)]
    for y in range(g * cell):
        for x in range(g * cell):
            c = image[y + r, x + r]
            code = sum(
                (1 << b) for b, (dy, dx) in enumerate(around) if image[y + r + dy, x + r + dx] >= c
            )
            hist[table[code], y // cell, x // cell] += 1
    return np.sqrt(hist / cell**2).reshape(-1)


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_lbp_histograms_are_a_slow_loops(radius):
    images = faces(2, 20, 1)
    images[0, 5:9, 5:9] = 7  # flat patches: ties count as brighter-or-equal
    table = uniform_patterns()
    got = pattern_histograms(images[:, None].float() / 255, 4, table, radius)
    both = pattern_histograms(images[:, None].float() / 255, 4, table, radius, mirror=True)
    assert torch.equal(both[:2], got)
    for i in range(2):
        want = slow_lbp(images[i].numpy().astype(int), 4, table.tolist(), radius)
        np.testing.assert_allclose(got[i].numpy(), want, atol=1e-6)
        # the mirror image's, from the face's own comparisons: 20 - 2r pixels leave a
        # column or two outside the cells, on the left of the face and on its mirror's
        mirrored = slow_lbp(images[i].flip(-1).numpy().astype(int), 4, table.tolist(), radius)
        np.testing.assert_allclose(both[2 + i].numpy(), mirrored, atol=1e-6)


def test_the_joined_embeddings_cosine_is_the_weighted_sum_of_the_two_cosines():
    d = Descriptor(32, 4, 2, 4, 0.1)
    x = faces(40, 32, 2)[:, None].float() / 255
    labels = torch.arange(40) // 4
    d.fit(d.features(x), torch.arange(40), labels, torch.Generator().manual_seed(0))
    d.weight.fill_(0.3)
    h = torch.randn(40, 6)
    u, own = torch.nn.functional.normalize(h, dim=1), d(x)
    joined = d.fuse(u, x)  # one tower: its head's units are its unit embeddings
    assert torch.allclose(joined.norm(dim=1), torch.ones(40), atol=1e-5)
    want = 0.7 * (u[:20] * u[20:]).sum(1) + 0.3 * (own[:20] * own[20:]).sum(1)
    torch.testing.assert_close((joined[:20] * joined[20:]).sum(1), want, atol=1e-5, rtol=0)


def test_its_fit_returns_what_it_embeds_and_centres_in_place():
    d = Descriptor(32, 4, 2, 4, 0.1)
    x = faces(40, 32, 4)[:, None].float() / 255
    raw = d.features(x)
    kept = raw.clone()
    info, units = d.fit(raw, torch.arange(0, 40, 2), torch.arange(20) // 2, torch.Generator())
    torch.testing.assert_close(units, d.embed_features(kept), atol=1e-5, rtol=0)
    torch.testing.assert_close(raw, kept - kept.mean(0))  # no copy of the histograms was made
    assert info == {"features": raw.shape[1], "images": 40, "grouped": 20}


def spread_histograms(n: int = 300, bins: int = 500, rank: int = 40) -> torch.Tensor:
    """Centred rows whose singular values fall from 100 to 1 over ``rank`` directions, over
    faint noise: a spectrum whose top directions stand well apart."""
    g = torch.Generator().manual_seed(0)
    u = torch.linalg.qr(torch.randn(n, rank, generator=g)).Q
    v = torch.linalg.qr(torch.randn(bins, rank, generator=g)).Q
    x = (u * torch.logspace(2, 0, rank)) @ v.T + 1e-3 * torch.randn(n, bins, generator=g)
    return x - x.mean(0)


@pytest.mark.parametrize("bf16", [False, True])
def test_the_pcas_directions_are_the_svds_each_over_its_singular_value(bf16):
    x = spread_histograms()
    p, z = whitened_directions(x, 16, torch.Generator().manual_seed(0), bf16)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    cos = torch.nn.functional.cosine_similarity(p, vh[:16].T, dim=0).abs()
    assert cos.min() > 0.9999
    torch.testing.assert_close(p.norm(dim=0), 1 / s[:16], rtol=1e-4, atol=0)
    # the faces it puts on them are the faces times the directions, and white: the last
    # product is float32's, bf16 search or not
    torch.testing.assert_close(z, x @ p, atol=1e-5, rtol=0)
    torch.testing.assert_close(z.T @ z, torch.eye(16), atol=1e-4, rtol=0)


def test_the_bf16_search_differs_from_float32s_from_the_same_start_only_by_rounding():
    x = spread_histograms()
    p32, p16 = (whitened_directions(x, 16, torch.Generator().manual_seed(0), b)[0] for b in (0, 1))
    assert not torch.equal(p16, p32)  # its passes did run in bf16
    assert torch.nn.functional.cosine_similarity(p16, p32, dim=0).abs().min() > 0.99999
    torch.testing.assert_close(p16.norm(dim=0), p32.norm(dim=0), rtol=1e-5, atol=0)


@pytest.mark.parametrize("bf16", [False, True])
def test_the_fit_searches_in_bf16_where_training_ran_in_it(run, monkeypatch, bf16):
    loaded, _, data = run
    asked, pca = [], descriptors.whitened_directions

    def recorded(centred, dim, generator, in_bf16=False):
        asked.append(in_bf16)
        return pca(centred, dim, generator, in_bf16)

    monkeypatch.setattr(descriptors, "whitened_directions", recorded)
    net = copy.deepcopy(loaded.net)  # the module's run stays as trained
    fit_after_training(net, data, loaded.config, torch.device("cpu"), bf16)
    assert asked and set(asked) == {bf16}


@pytest.mark.parametrize("divisor, grid", [(8, 7), (10, 10), (16, 15)])
def test_the_lbp_divisor_sets_its_cells_and_a_run_builds_them(divisor, grid):
    d = make_descriptor(64, 4, divisor)
    hog = 4 * 9 * 15**2  # cells of 4 pixels: 15 x 15 blocks of 2 x 2
    assert d.lbp_cell == 64 // divisor and d.mean.shape[0] == 2 * (hog + UNIFORM * grid**2)
    x = faces(2, 64, 5)[:, None].float() / 255
    assert d.features(x).shape == (2, d.mean.shape[0])  # the count is what it computes
    cfg = tiny(
        "x", *IDENTITY, "data.size=64", *DESCRIBED[1:], f"model.descriptor_lbp_divisor={divisor}"
    )
    assert model_from_config(cfg).descriptor.lbp_cell == 64 // divisor


def test_each_lbp_radius_adds_its_histograms_after_the_first_ones():
    one, two = make_descriptor(64, 4, 16), make_descriptor(64, 4, 16, (1, 2))
    x = faces(2, 64, 6)[:, None].float() / 255
    a, b = one.features(x), two.features(x)
    hog, lbp1, lbp2 = 4 * 9 * 15**2, 59 * 15**2, 59 * 15**2  # (64 - 4) // 4 = 15 at radius 2
    assert b.shape[1] == two.mean.shape[0] == 2 * (hog + lbp1 + lbp2)
    # HOG, LBP at radius 1, then at radius 2; each of the face, then of its mirror image
    first = 2 * (hog + lbp1)
    torch.testing.assert_close(b[:, :first], a)
    want = pattern_histograms(torch.cat([x, x.flip(-1)]), 4, uniform_patterns(), 2)
    torch.testing.assert_close(b[:, first:], want.unflatten(0, (2, -1)).transpose(0, 1).flatten(1))
    cfg = tiny("x", *IDENTITY, "data.size=64", *DESCRIBED[1:], "model.descriptor_lbp_radii=1,2")
    assert model_from_config(cfg).descriptor.lbp_radii == (1, 2)
    with pytest.raises(ConfigError, match="give distinct radii of 1..4 pixels"):
        apply_overrides(tiny("x"), ["model.descriptor_lbp_radii=1,1"])


def slow_tan_triggs(image: np.ndarray, gamma=0.2, s0=1.0, s1=2.0, alpha=0.1, tau=10.0):
    """Tan & Triggs (2010), section 3, pixel by pixel: gamma, a difference of Gaussians
    (each a 2-D kernel to 3 sigma, the border mirrored), the two contrast equalisations."""
    x = (np.clip(image, 0, None) + 1e-3) ** gamma
    n = len(x)

    def blur(sigma):
        r = int(np.ceil(3 * sigma))
        t = np.arange(-r, r + 1)
        k = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma**2))
        k /= k.sum()
        out = np.zeros_like(x)
        for i in range(n):
            for j in range(n):
                for a in range(-r, r + 1):
                    for b in range(-r, r + 1):
                        # mirrored without repeating the edge pixel (numpy's "reflect")
                        y, z = abs(i + a), abs(j + b)
                        y, z = (
                            (2 * (n - 1) - y if y >= n else y),
                            (2 * (n - 1) - z if z >= n else z),
                        )
                        out[i, j] += k[a + r, b + r] * x[y, z]
        return out

    x = blur(s0) - blur(s1)
    x = x / np.mean(np.abs(x) ** alpha) ** (1 / alpha)
    x = x / np.mean(np.minimum(tau, np.abs(x)) ** alpha) ** (1 / alpha)
    return tau * np.tanh(x / tau)


def test_tan_triggs_is_the_papers_steps_pixel_by_pixel():
    images = faces(2, 12, 9).float() / 255
    got = tan_triggs(images[:, None])[:, 0]
    for image, one in zip(images.double().numpy(), got, strict=True):
        np.testing.assert_allclose(one.numpy(), slow_tan_triggs(image), rtol=1e-4, atol=1e-4)
    # a face's normalisation mirrored is its mirror image's (up to float rounding)
    mirrored = tan_triggs(images[:, None].flip(-1))
    torch.testing.assert_close(mirrored, got[:, None].flip(-1), atol=1e-4, rtol=1e-4)


def test_under_tan_triggs_the_histograms_read_the_normalised_face():
    x = faces(2, 64, 7)[:, None].float() / 255
    plain, lit = make_descriptor(64, 4, 16), make_descriptor(64, 4, 16, (1,), ("tan-triggs",))
    torch.testing.assert_close(lit.features(x), plain.features(tan_triggs(x)))
    assert not torch.allclose(lit.features(x), plain.features(x))
    cfg = tiny(
        "x", *IDENTITY, "data.size=64", *DESCRIBED[1:], "model.descriptor_illumination=tan-triggs"
    )
    assert model_from_config(cfg).descriptor.illumination == "tan-triggs"
    assert model_from_config(tiny("x", *IDENTITY, *DESCRIBED)).descriptor.illumination == "none"
    with pytest.raises(ConfigError, match="model.descriptor_illumination"):
        apply_overrides(tiny("x"), ["model.descriptor_illumination=retinex"])


def test_under_tan_triggs_the_histograms_export_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="export checks need onnxruntime ([onnx])")
    d = make_descriptor(64, 4, 16, (1,), ("tan-triggs",))

    class Features(torch.nn.Module):
        def forward(self, x):
            return d.features(x)

    x = faces(5, 64, 8)[:, None].float() / 255
    x[0, :, 20:40, 20:40] = 0.5  # a flat patch: no gradient, every comparison a tie
    axes = {"x": {0: "batch"}, "h": {0: "batch"}}  # as serving.export makes its batch
    torch.onnx.export(
        Features(),
        (x[:3],),
        tmp_path / "d.onnx",
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        output_names=["h"],
        dynamic_axes=axes,
    )
    session = ort.InferenceSession(str(tmp_path / "d.onnx"))
    got = session.run(None, {"x": x.numpy()})[0]  # more faces than the export saw
    # LBP's comparisons of nearly equal pixels may go either way in another runtime's
    # arithmetic: nearly every histogram bin agrees
    close = np.isclose(got, d.features(x).numpy(), atol=1e-4)
    assert close.mean() > 0.99


def test_two_families_are_each_fitted_on_their_own_columns_and_weighed_by_their_shares():
    d = make_descriptor(32, 4, 8, (1,), ("none", "tan-triggs"))
    plain, lit = d.parts
    assert isinstance(d, DescriptorFamilies) and d.dim == 8
    x = faces(40, 32, 3)[:, None].float() / 255
    raw = d.features(x)
    torch.testing.assert_close(raw, torch.cat([plain.features(x), lit.features(x)], 1))
    labels = torch.arange(40) // 4
    alone = make_descriptor(32, 4, 8, (1,), ("tan-triggs",))  # fitted by itself
    alone.fit(lit.features(x), torch.arange(40), labels, torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(0)
    _, units = d.fit(raw, torch.arange(40), labels, g)
    torch.testing.assert_close(units, d(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(lit.mean, alone.mean)  # its own columns' mean, its own PCA
    d.set_shares((0.2, 0.3))
    u = torch.nn.functional.normalize(torch.randn(40, 6), dim=1)
    joined = d.fuse(u, x)
    assert joined.shape == (40, 6 + 8)
    assert torch.allclose(joined.norm(dim=1), torch.ones(40), atol=1e-5)
    cos = [(e[:20] * e[20:]).sum(1) for e in (u, plain(x), lit(x))]
    want = 0.5 * cos[0] + 0.2 * cos[1] + 0.3 * cos[2]
    torch.testing.assert_close((joined[:20] * joined[20:]).sum(1), want, atol=1e-5, rtol=0)
    lit2 = "model.descriptor_illumination=none,tan-triggs"
    cfg = tiny("x", *IDENTITY, *DESCRIBED, lit2, "model.score_norm=s-norm")
    net = model_from_config(cfg)
    assert [p.illumination for p in net.descriptor.parts] == ["none", "tan-triggs"]
    assert net.score_norm.mean.shape[0] == net.tower.embedding_dim + 2 * 4  # two families
    with pytest.raises(ConfigError, match="give distinct ones of none, tan-triggs"):
        apply_overrides(tiny("x"), ["model.descriptor_illumination=none,none"])


def test_each_halving_is_a_family_reading_the_halved_face_in_the_same_grid():
    x = faces(2, 64, 9)[:, None].float() / 255
    d = make_descriptor(64, 4, 16, (2,), ("none", "tan-triggs"), (0, 1))
    assert [(p.halvings, p.illumination) for p in d.parts] == [
        (0, "none"),
        (0, "tan-triggs"),
        (1, "none"),
        (1, "tan-triggs"),
    ]
    # the scale's family is the 32-pixel face's descriptor with the same grid of cells
    small = make_descriptor(32, 4, 16, (2,), ("tan-triggs",))
    torch.testing.assert_close(d.parts[3].features(x), small.features(halve(x)))
    assert (d.parts[3].hog_cell, d.parts[3].lbp_cell) == (2, 2)
    assert (d.parts[0].hog_cell, d.parts[0].lbp_cell) == (4, 4)
    torch.testing.assert_close(d.features(x)[:, : d.parts[0].feature_count], d.parts[0].features(x))
    assert d.dim == 4 * 4
    cfg = tiny("x", *IDENTITY, "data.size=64", *DESCRIBED[1:], "model.descriptor_halvings=0,1")
    assert [p.halvings for p in model_from_config(cfg).descriptor.parts] == [0, 1]
    assert model_from_config(tiny("x", *IDENTITY, *DESCRIBED)).descriptor.halvings == 0
    with pytest.raises(ConfigError, match="give distinct halvings of 0..3"):
        apply_overrides(tiny("x"), ["model.descriptor_halvings=1,1"])


def test_a_halving_below_the_smallest_face_is_refused_with_the_size_it_needs():
    from siamese_faces.training.api import check_config

    halved = tiny("nowhere", *IDENTITY, *DESCRIBED, "model.descriptor_halvings=0,1")
    with pytest.raises(ConfigError, match=r"halved 1 times .* data.size >= 64 or fewer"):
        check_config(halved)
    with pytest.raises(ValueError, match="data.size >= 64"):
        make_descriptor(32, 4, 8, (1,), ("none",), (1,))


def test_the_shares_tried_leave_the_tower_a_fifth_and_one_familys_are_as_before():
    assert share_grid(1) == [(a,) for a in DESCRIPTOR_WEIGHTS]
    two = share_grid(2)
    assert two[0] == (0.0, 0.0) and len(two) == len(set(two)) == 17 * 18 // 2
    assert all(a + b <= 0.8 + 1e-9 for a, b in two) and (0.8, 0.0) in two and (0.4, 0.4) in two


@pytest.fixture(scope="module")
def two_families(tmp_path_factory):
    run, results, _ = fitted_run(
        tmp_path_factory, "families", "model.descriptor_illumination=none,tan-triggs"
    )
    return run, results


def test_a_run_with_two_families_chooses_both_shares_on_validation(two_families, tmp_path):
    run, results = two_families
    val_data, _ = open_run_data(run)
    d = run.net.descriptor
    assert [float(w) for w in d.shares()] == pytest.approx(results["descriptor_weight"])
    rows, ia, ib = val_data.val.faces()
    y = val_data.val.y.numpy()
    with torch.no_grad():
        x = val_data.images[rows][:, None].float() / 255
        u = torch.nn.functional.normalize(run.net.whiten(run.net.tower(x)), dim=1)
        parts = [p(x) for p in d.parts]
    cos = [(e[ia] * e[ib]).sum(1) for e in (u, *parts)]
    aucs = {
        (a, b): auc(((1 - a - b) * cos[0] + a * cos[1] + b * cos[2]).numpy(), y)
        for a in DESCRIPTOR_WEIGHTS
        for b in DESCRIPTOR_WEIGHTS
        if a + b <= 0.8 + 1e-9
    }
    assert results["descriptor_val_auc"] == pytest.approx(max(aucs.values()), abs=1e-3)
    assert results["descriptor_val_auc_tower"] == pytest.approx(aucs[0.0, 0.0], abs=1e-3)
    # Reloaded from best.safetensors, the run's validation scores are those it chose on.
    _, scores = run_scores(run, val_data, val_data.val)
    assert accuracy(scores, y, run.threshold) == pytest.approx(results["val/acc"])
    pytest.importorskip("onnxruntime", reason="export checks need onnxruntime (the [onnx] extra)")
    from siamese_faces.serving.export import export_onnx

    assert export_onnx(load_run(run.path), tmp_path / "m.onnx")["max_abs_diff"] <= 1e-4


def test_it_refuses_what_it_cannot_describe_with_the_fix():
    with pytest.raises(ConfigError, match='model.head = "cosine"'):
        apply_overrides(tiny("x"), ["model.head=l1_sigmoid", *DESCRIBED[1:]])
    with pytest.raises(ValueError, match="data.size >= 32"):
        make_descriptor(16, 4)
    d = Descriptor(32, 8, 2, 4, 0.1)
    with pytest.raises(ValueError, match="lower model.descriptor_dim"):
        d.fit(torch.zeros(8, d.mean.shape[0]), torch.arange(8), torch.arange(8), torch.Generator())


def fitted_run(tmp_path_factory, name: str, *overrides):
    """A tiny unrestricted run trained with the histograms (``overrides``: other settings),
    whitened and S-normed: the run, its results and its data."""
    from ..helpers import write_lfw_like

    root = tmp_path_factory.mktemp(name)
    cfg = tiny(
        write_lfw_like(root / "lfw"),
        *IDENTITY,
        *DESCRIBED,
        "model.wccn=0.1",
        "model.score_norm=s-norm",
        *overrides,
    )
    data = prepare(cfg)
    results = fit(cfg, data, root / "run", DistContext())
    return load_run(root / "run"), results, data


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return fitted_run(tmp_path_factory, "descriptor", "model.flip_tta=true")


def test_it_is_fitted_on_the_training_faces_alone(run):
    run, results, data = run
    d = run.net.descriptor
    assert bool(d.fitted) and results["descriptor_images"] == len(data.fitting_faces()[1])
    rows, grouped, _ = data.fitting_faces()
    seen = descriptor_features(d, data.images, rows[grouped], torch.device("cpu"))
    torch.testing.assert_close(d.mean, seen.mean(0))  # what its PCA centred
    trained = {data.paths[int(r)] for r in rows}
    held_out = {data.paths[int(r)] for r in data.val.faces()[0]}
    held_out |= {data.paths[int(r)] for r in data.test.faces()[0]}
    assert trained and not trained & held_out


def test_the_run_records_each_fitting_stage_within_its_training_time(run):
    _, results, _ = run
    seconds = results["fit_seconds"]
    assert list(seconds) == [
        "embed",
        "wccn",
        "descriptor_histograms",
        "descriptor_pca",
        "descriptor_weight",
        "cohort",
        "save",
    ]
    assert all(s >= 0 for s in seconds.values())
    assert sum(seconds.values()) <= results["train_seconds"]


def test_the_fit_says_when_it_starts_and_what_each_stage_took(run):
    run, results, data = run
    lines = []
    again = fit_after_training(
        run.net, data, run.config, torch.device("cpu"), False, say=lines.append
    )
    assert lines[0].startswith(f"fitting on {len(data.fitting_faces()[0])} training faces")
    assert lines[1] == fit_line(again["fit_seconds"]) and "descriptor_pca" in lines[1]
    assert "save" not in again["fit_seconds"]  # no saver given: nothing written
    assert again["descriptor_weight"] == results["descriptor_weight"]  # same fit, same choice


def test_the_fit_line_sums_the_stages():
    assert fit_line({"embed": 1.3, "descriptor_pca": 2.0}) == (
        "fitted on the training faces in 3.3s (embed 1.3s, descriptor_pca 2.0s)"
    )


def test_its_weight_is_the_best_on_validation_and_the_saved_run_scores_with_it(run):
    run, results, _ = run
    val_data, _ = open_run_data(run)
    d = run.net.descriptor
    assert results["descriptor_weight"] in DESCRIPTOR_WEIGHTS
    assert float(d.weight) == pytest.approx(results["descriptor_weight"])
    rows, ia, ib = val_data.val.faces()
    y = val_data.val.y.numpy()
    with torch.no_grad():
        x = val_data.images[rows][:, None].float() / 255
        tower = run.net.whiten(
            run.net.tower(torch.cat([x, x.flip(-1)])).unflatten(0, (2, -1)).mean(0)
        )
        u, own = torch.nn.functional.normalize(tower, dim=1), d(x)
    aucs = [
        auc(((1 - a) * (u[ia] * u[ib]).sum(1) + a * (own[ia] * own[ib]).sum(1)).numpy(), y)
        for a in DESCRIPTOR_WEIGHTS
    ]
    assert results["descriptor_val_auc"] == pytest.approx(max(aucs), abs=1e-3)
    assert results["descriptor_val_auc_tower"] == pytest.approx(aucs[0], abs=1e-3)
    # Reloaded from best.safetensors, the run's validation scores are those it chose on.
    _, scores = run_scores(run, val_data, val_data.val)
    assert accuracy(scores, y, run.threshold) == pytest.approx(results["val/acc"])


def test_the_onnx_export_joins_the_descriptor(run, tmp_path):
    pytest.importorskip("onnxruntime", reason="export checks need onnxruntime (the [onnx] extra)")
    from siamese_faces.serving.export import export_onnx, use_onnx

    run = load_run(run[0].path)  # its own copy: this test changes its backend
    info = export_onnx(run, tmp_path / "m.onnx")
    assert info["max_abs_diff"] <= 1e-4
    val_data, _ = open_run_data(run)
    run.bf16 = False
    torch_scores = run_scores(run, val_data, val_data.val)[1]
    onnx_scores = run_scores(use_onnx(run, tmp_path / "m.onnx"), val_data, val_data.val)[1]
    np.testing.assert_allclose(onnx_scores, torch_scores, atol=1e-3)
    json.dumps(info)


def test_a_net_without_it_loads_and_builds_as_before():
    cfg = tiny("x", *IDENTITY)
    assert model_from_config(cfg).descriptor is None


def test_a_small_face_is_refused_before_any_data_is_read():
    from siamese_faces.training.api import check_config

    with pytest.raises(ConfigError, match="data.size >= 32"):
        check_config(tiny("nowhere", *IDENTITY, "model.descriptor=hog-lbp"))


def test_restricted_its_pca_reads_every_training_pair_image_its_whitening_same_pairs(
    lfw_like, tmp_path
):
    """The restricted protocol groups no face by name: the whitening's classes are the
    same-labelled training pairs, while the PCA, which reads no label, sees every image of
    the training pairs once (never a validation or test image)."""
    cfg = tiny(lfw_like, *DESCRIBED, "data.protocol=restricted", "model.head=cosine")
    data = prepare(cfg)
    results = fit(cfg, data, tmp_path / "r", DistContext())
    rows, grouped, _ = data.fitting_faces()
    assert len(set(rows[grouped].tolist())) < len(rows)  # some images are in no same pair
    assert (results["descriptor_images"], results["descriptor_grouped"]) == (
        len(rows),
        len(grouped),
    )
    d = load_run(tmp_path / "r").net.descriptor
    seen = descriptor_features(d, data.images, rows, torch.device("cpu"))
    torch.testing.assert_close(d.mean, seen.mean(0))
    held_out = torch.cat([data.val.faces()[0], data.test.faces()[0]])
    assert not set(rows.tolist()) & set(held_out.tolist())


def test_joined_to_members_the_cosine_is_the_weighted_mean_of_theirs_and_its_own():
    from siamese_faces.models.heads import CosineHead

    d = Descriptor(32, 4, 2, 4, 0.1)
    x = faces(40, 32, 3)[:, None].float() / 255
    d.fit(d.features(x), torch.arange(40), torch.arange(40) // 4, torch.Generator().manual_seed(0))
    d.weight.fill_(0.25)
    h = torch.randn(40, 12)  # two members of 6
    head = CosineHead(12, 2).eval()
    joined = d.fuse(head.units(h), x)
    own = d(x)
    members = head(h[:20], h[20:])  # the mean of the members' cosines
    want = 0.75 * members + 0.25 * (own[:20] * own[20:]).sum(1)
    torch.testing.assert_close(head(joined[:20], joined[20:]), want, atol=1e-5, rtol=0)
    units = head.units(joined)
    torch.testing.assert_close((units[:20] * units[20:]).sum(1), want, atol=1e-5, rtol=0)


def test_a_run_of_two_members_fits_and_scores_with_it(lfw_like, tmp_path):
    cfg = tiny(lfw_like, *IDENTITY, *DESCRIBED, "model.members=2", "model.score_norm=s-norm")
    results = fit(cfg, prepare(cfg), tmp_path / "r", DistContext())
    assert results["descriptor_weight"] in DESCRIPTOR_WEIGHTS
    run = load_run(tmp_path / "r")
    val_data, _ = open_run_data(run)
    _, scores = run_scores(run, val_data, val_data.val)
    assert accuracy(scores, val_data.val.y.numpy(), run.threshold) == pytest.approx(
        results["val/acc"]
    )


def test_the_pca_reads_every_face_in_order_up_to_its_limit_else_a_drawn_sample():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert pca_sample(5, 5, g).tolist() == [0, 1, 2, 3, 4]
    assert torch.equal(g.get_state(), state)  # nothing drawn: such a fit is as it was before
    drawn = pca_sample(100, 30, torch.Generator().manual_seed(1)).tolist()
    assert len(set(drawn)) == 30 and drawn == sorted(drawn) and 0 <= drawn[0] < drawn[-1] < 100
    assert drawn == pca_sample(100, 30, torch.Generator().manual_seed(1)).tolist()
    assert drawn != pca_sample(100, 30, torch.Generator().manual_seed(2)).tolist()


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    return fitted_run(tmp_path_factory, "sampled", "model.descriptor_dim=2")


def test_a_pca_on_a_sample_whitens_and_describes_every_training_face(sampled, monkeypatch):
    run, _, data = sampled
    cpu, d = torch.device("cpu"), run.net.descriptor
    rows, grouped, classes = data.fitting_faces()
    limit = len(rows) // 2
    assert d.dim < limit, len(rows)  # enough faces for its directions in the sample
    asked, described, histograms, features = [], [], trainer.descriptor_features, d.features

    def counted(d, images, some, *args, **kw):
        asked.append(len(some))
        return histograms(d, images, some, *args, **kw)

    def batch(x):
        described.append(len(x))
        return features(x)

    monkeypatch.setattr(trainer, "descriptor_features", counted)
    monkeypatch.setattr(d, "features", batch)
    fitted = fit_after_training(run.net, data, run.config, cpu, False, pca_faces=limit)
    assert fitted["descriptor_pca_images"] == limit < fitted["descriptor_images"] == len(rows)
    # the sample's histograms held at once, every other face's a batch at a time
    assert asked == [limit] and max(described) <= 256 and sum(described) > len(rows)
    assert "descriptor_others" in fitted["fit_seconds"]
    raw = histograms(d, data.images, rows, cpu)
    sample = pca_sample(len(rows), limit, torch.Generator().manual_seed(run.config.train.seed))
    torch.testing.assert_close(d.mean, raw[sample].mean(0))  # the sample's PCA, not all faces'
    assert not torch.allclose(d.mean, raw.mean(0))
    want = WithinClassWhitening(d.dim, 1, RIDGE)
    want.fit(d.directions(raw)[grouped], classes)  # every grouped face, on its directions
    torch.testing.assert_close(d.whiten.matrix, want.matrix)
    torch.testing.assert_close(d.whiten.mean, want.mean)


def test_a_pca_sample_too_small_for_its_directions_is_refused_before_training(
    tmp_path, lfw_like, monkeypatch
):
    cfg = tiny(lfw_like, *IDENTITY, *DESCRIBED)  # 4 directions
    data = prepare(cfg)
    assert len(data.fitting_faces()[0]) > 4
    monkeypatch.setattr(trainer, "PCA_FACES", 4)  # the PCA would read 4 faces: too few
    with pytest.raises(ValueError, match="fitted on 4 training faces"):
        trainer.build(cfg, data, DistContext())
