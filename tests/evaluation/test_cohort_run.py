"""A run trained with ``model.score_norm``: its cohort is fitted on its training faces only
(people, or a restricted run's training images), and every way the library scores (pairs,
the gallery, the ONNX export) gives the normalised score."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.api import open_run_data
from siamese_faces.evaluation.api import pair_scores as run_scores
from siamese_faces.evaluation.metrics import accuracy
from siamese_faces.evaluation.runs import load_run
from siamese_faces.models.cohort import CohortNorm
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..helpers import script
from ..training.test_distill import IDENTITY
from ..training.test_training import tiny

NORMED = ["model.score_norm=s-norm", "model.flip_tta=true"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from ..helpers import write_lfw_like

    root = tmp_path_factory.mktemp("cohort")
    cfg = tiny(
        write_lfw_like(root / "lfw"), *IDENTITY, *NORMED, "model.members=2", "model.wccn=0.1"
    )
    results = fit(cfg, prepare(cfg), root / "run", DistContext())
    return load_run(root / "run"), results


def test_the_cohort_is_the_training_people_and_the_threshold_was_chosen_on_its_scores(run):
    run, results = run
    val_data, _ = open_run_data(run)
    assert results["score_norm_cohort"] == len(set(val_data.identity_labels.tolist()))
    assert bool(run.net.score_norm.fitted)
    _, scores = run_scores(run, val_data, val_data.val)
    # The experiment's AS-norm over the whole cohort of the run's training people (whitened
    # embeddings, the same cohort) gives the scores the library now makes itself.
    experiment = script("experiments", "score_norm")
    cohort = experiment.cohort_of(run, val_data)
    want = experiment.as_norm(*experiment.pair_units(run, val_data, val_data.val), cohort, 0)
    np.testing.assert_allclose(scores, want.numpy(), atol=1e-3)
    assert accuracy(scores, val_data.val.y.numpy(), run.threshold) == pytest.approx(
        results["val/acc"]
    )


def test_fitting_again_gives_the_same_fit(run):
    """A run resumed after its fit fits again from its best file, which holds the fit."""
    from siamese_faces.training.trainer import fit_after_training

    run, _ = run
    before = {k: v.clone() for k, v in run.net.named_buffers() if k.startswith(("whiten", "score"))}
    val_data, _ = open_run_data(run)
    fit_after_training(run.net, val_data, run.config, run.device, run.bf16)
    for name, value in before.items():
        torch.testing.assert_close(run.net.get_buffer(name), value, rtol=1e-4, atol=1e-5)


def test_a_restricted_run_normalises_against_its_training_images(lfw_like, tmp_path):
    tower = [s for s in IDENTITY if s.startswith("model.")]  # a tower whose faces differ
    cfg = tiny(lfw_like, *tower, "train.epochs=2", *NORMED)
    assert cfg.data.protocol == "restricted"
    data = prepare(cfg)
    results = fit(cfg, data, tmp_path / "r", DistContext())
    trained = torch.unique(torch.cat([data.train.a, data.train.b]))
    assert results["score_norm_cohort"] == len(trained)  # each training image, no name
    run = load_run(tmp_path / "r")
    val_data, _ = open_run_data(run)
    # What was fitted is the experiment's cohort of training images, moment for moment (the
    # scores themselves are ill-conditioned here: this tiny tower's faces are nearly alike).
    cohort = script("experiments", "score_norm").cohort_of(run, val_data, "images")
    alone = CohortNorm(cohort.shape[1])
    alone.fit(cohort)
    for name, value in alone.named_buffers():
        torch.testing.assert_close(getattr(run.net.score_norm, name), value)


def test_the_gallery_ranks_and_scores_by_the_normalised_score(run, tmp_path):
    from siamese_faces.serving.api import embed_photos, enroll_folder, identify, open_gallery

    run, _ = run
    data = Path(run.config.data.dir)
    gallery = open_gallery(run, tmp_path / "g")
    enroll_folder(run, gallery, data / "lfw2")
    probe = data / "lfw2" / "Alice_A" / "Alice_A_0002.jpg"
    (answer,) = identify(run, gallery, [probe], top_k=100, threshold=run.threshold)
    enrolled = sorted((data / "lfw2").glob("*/*.jpg"))
    h = run.embed_files([probe, *enrolled])
    direct = run.scores(h[:1].expand(len(enrolled), -1), h[1:])
    best = {}
    for path, s in zip(enrolled, direct.tolist(), strict=True):
        best[path.parent.name] = max(s, best.get(path.parent.name, -np.inf))
    got = {m["name"]: m["score"] for m in answer["matches"]}
    assert got == pytest.approx(best, abs=1e-4)
    assert [m["name"] for m in answer["matches"]] == sorted(best, key=best.get, reverse=True)
    assert embed_photos(run, [probe])[0].shape[1] == 2 * h.shape[1] + 2


def test_the_onnx_export_gives_each_faces_cohort_statistics(run, tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="export checks need onnxruntime (the [onnx] extra)")
    from siamese_faces.serving.export import OnnxEmbedder, export_onnx, use_onnx

    run = load_run(run[0].path)  # its own copy: this test changes its precision and backend
    info = export_onnx(run, tmp_path / "m.onnx")
    assert info["max_abs_diff"] <= 1e-4 and info["siamese_faces.score_norm"] == "s-norm"
    assert "cohort_stats" in info["siamese_faces.score"]
    size = run.config.data.size
    images = torch.randint(0, 256, (5, size, size), dtype=torch.uint8)
    h, stats = OnnxEmbedder(tmp_path / "m.onnx").session.run(None, {"images": images.numpy()})
    net = run.net.float()
    with torch.no_grad():
        mu, sd = net.score_norm.stats(net.head.units(torch.from_numpy(h)))
    np.testing.assert_allclose(stats, torch.stack([mu, sd], 1).numpy(), atol=1e-5)
    val_data, _ = open_run_data(run)
    run.bf16 = False  # the export is float32: so is the reference (scores magnify the difference)
    torch_scores = run_scores(run, val_data, val_data.val)[1]
    onnx_scores = run_scores(use_onnx(run, tmp_path / "m.onnx"), val_data, val_data.val)[1]
    np.testing.assert_allclose(onnx_scores, torch_scores, atol=1e-3)
    json.dumps(info)  # its metadata is plain data


def test_the_service_gives_what_turns_two_embeddings_into_the_score(run, tmp_path):
    pytest.importorskip("fastapi", reason="the service needs fastapi (the [serve] extra)")
    from fastapi.testclient import TestClient

    from siamese_faces.serving.app import create_app

    run = load_run(run[0].path)
    client = TestClient(create_app(run, tmp_path / "g"))
    lfw2 = Path(run.config.data.dir) / "lfw2"
    a, b = (lfw2 / n / f"{n}_0001.jpg" for n in ("Gus_G", "Hal_H"))
    embedded = [client.post("/embed", files={"image": p.read_bytes()}).json() for p in (a, b)]
    (ha, (mua, sda)), (hb, (mub, sdb)) = (
        (torch.tensor(e["embedding"])[None], e["cohort_stats"]) for e in embedded
    )
    c = float(run.net.head.units(ha) @ run.net.head.units(hb).T)
    verdict = client.post(
        "/verify", files={"image1": a.read_bytes(), "image2": b.read_bytes()}
    ).json()
    assert verdict["score"] == pytest.approx(((c - mua) / sda + (c - mub) / sdb) / 2, abs=1e-3)


def test_a_restricted_run_whitens_by_its_same_labelled_training_pairs(lfw_like, tmp_path):
    tower = [s for s in IDENTITY if s.startswith("model.")]
    cfg = tiny(lfw_like, *tower, "train.epochs=2", "model.wccn=0.1")
    assert cfg.data.protocol == "restricted"
    data = prepare(cfg)
    rows, grouped, classes = data.fitting_faces()
    same = data.train.y > 0.5
    # each class is one same pair, its two faces as the pair gives them: no name is read
    assert torch.equal(rows[grouped], torch.cat([data.train.a[same], data.train.b[same]]))
    assert torch.equal(torch.bincount(classes), torch.full((int(same.sum()),), 2))
    unseen = torch.cat([data.val.a, data.val.b, data.test.a, data.test.b])
    assert not set(rows.tolist()) & set(unseen.tolist())  # only training-pair images
    results = fit(cfg, data, tmp_path / "r", DistContext())
    assert results["wccn_people"] == int(same.sum())
    assert results["wccn_images"] == 2 * int(same.sum())
    run = load_run(tmp_path / "r")
    assert bool(run.net.whiten.fitted)
    val_data, _ = open_run_data(run)
    # the saved whitening is the experiment's fit on the same classes, buffer for buffer
    saved = {k: v.clone() for k, v in run.net.whiten.named_buffers()}
    run.net.whiten.fitted.fill_(False)  # the tower's own embeddings, as training fitted on
    h, by_pair = script("experiments", "ablate_inference").training_classes(run, val_data)
    alone = type(run.net.whiten)(run.net.tower.embedding_dim, 1, 0.1)
    alone.fit(h, by_pair)
    for name, value in alone.named_buffers():
        torch.testing.assert_close(saved[name], value, rtol=1e-4, atol=1e-5)
