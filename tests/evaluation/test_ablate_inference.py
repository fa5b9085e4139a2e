"""experiments/ablate_inference.py: each lever really changes what the run scores with."""

import json
from argparse import Namespace

import pytest
import torch

from siamese_faces.data.rundata import prepare
from siamese_faces.evaluation.api import open_run_data, pair_scores
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import DistContext
from siamese_faces.training.trainer import fit

from ..helpers import script
from ..training.test_distill import IDENTITY
from ..training.test_training import tiny


@pytest.fixture
def ablate():
    return script("experiments", "ablate_inference")


@pytest.mark.parametrize("lever", ["flip", "shift", "wccn"])
def test_a_lever_on_and_off_scores_differently_and_off_restores(lever, lfw_like, tmp_path, ablate):
    cfg = tiny(lfw_like, *IDENTITY, "model.flip_tta=true")
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    val_data, _ = open_run_data(run)
    before = pair_scores(run, val_data, val_data.val)[1]  # the inference copy is made here
    args, fitted = Namespace(pixels=2, ridge=0.1), {}
    scores = {}
    for on in (True, False):
        ablate.set_lever(run, lever, on, val_data, args, fitted)
        scores[on] = pair_scores(run, val_data, val_data.val)[1]
    assert not torch.allclose(torch.from_numpy(scores[True]), torch.from_numpy(scores[False]))
    if lever != "flip":  # the run was trained with flips on, and without whitening
        torch.testing.assert_close(torch.from_numpy(scores[False]), torch.from_numpy(before))
    if lever == "shift":  # copies moved by nothing are the face itself: the same scores
        ablate.set_lever(run, lever, True, val_data, Namespace(pixels=0, ridge=0.1), fitted)
        still = pair_scores(run, val_data, val_data.val)[1]
        torch.testing.assert_close(torch.from_numpy(still), torch.from_numpy(before))


def test_shifted_copies_average_the_face_and_its_four_moved_copies(ablate):
    tower = torch.nn.Flatten()
    x = torch.rand(2, 1, 6, 6)
    torch.testing.assert_close(ablate.ShiftedTower(tower, 0)(x), tower(x))
    c = lambda i: min(max(i, 0), 5)  # noqa: E731  (a border pixel repeats into the gap)
    expected = torch.zeros_like(x)
    for i in range(6):
        for j in range(6):
            near = [(i, j), (i, c(j + 1)), (i, c(j - 1)), (c(i + 1), j), (c(i - 1), j)]
            expected[..., i, j] = sum(x[..., a, b] for a, b in near) / 5
    torch.testing.assert_close(ablate.ShiftedTower(tower, 1)(x), expected.flatten(1))


def test_the_ridge_lever_refits_whitening_and_cohort_and_off_restores(lfw_like, tmp_path, ablate):
    cfg = tiny(lfw_like, *IDENTITY, "model.wccn=0.1", "model.score_norm=s-norm")
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    val_data, _ = open_run_data(run)
    trained = torch.from_numpy(pair_scores(run, val_data, val_data.val)[1])
    # Refitted at the run's own ridge, whitening and cohort are what training fitted: the
    # same scores (a cohort left from another whitening would not give them).
    ablate.set_lever(run, "ridge", True, val_data, Namespace(ridge=0.1), {})
    same = torch.from_numpy(pair_scores(run, val_data, val_data.val)[1])
    torch.testing.assert_close(same, trained, rtol=1e-4, atol=1e-4)
    ablate.set_lever(run, "ridge", True, val_data, Namespace(ridge=10.0), {})
    other = torch.from_numpy(pair_scores(run, val_data, val_data.val)[1])
    assert not torch.allclose(other, trained, rtol=1e-4, atol=1e-4)
    cohort = {k: v.clone() for k, v in run.net.score_norm.state_dict().items()}
    ablate.set_lever(run, "ridge", True, val_data, Namespace(ridge=0.1), {})
    refitted = run.net.score_norm.state_dict()
    assert any(not torch.equal(cohort[k], refitted[k]) for k in cohort)  # fitted anew
    ablate.set_lever(run, "ridge", False, val_data, Namespace(ridge=10.0), {})
    back = torch.from_numpy(pair_scores(run, val_data, val_data.val)[1])
    torch.testing.assert_close(back, trained)


def test_the_fit_people_lever_fits_on_the_people_file_less_validation_and_off_restores(
    lfw_like, tmp_path, ablate
):
    from ..helpers import TRAIN_PEOPLE, write_people

    extra = {"Zed_Z": 2, "Yan_Y": 3}  # in the people file, in no training pair
    write_people(lfw_like / "lfw2", extra)
    people = {**TRAIN_PEOPLE, **extra}
    lines = [str(len(people))] + [f"{n}\t{c}" for n, c in sorted(people.items())]
    (lfw_like / "peopleDevTrain.txt").write_text("\n".join(lines) + "\n")
    cfg = tiny(lfw_like, *IDENTITY, "model.wccn=0.1", "model.score_norm=s-norm")
    trained_on = prepare(cfg)
    fit(cfg, trained_on, tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    val_data, _ = open_run_data(run)
    trained = torch.from_numpy(pair_scores(run, val_data, val_data.val)[1])
    fits, cohort_fit = [], run.net.score_norm.fit
    run.net.score_norm.fit = lambda *a, **k: fits.append(cohort_fit(*a, **k)) or fits[-1]
    ablate.set_lever(run, "fit-people", True, val_data, Namespace(), {})
    refit = torch.from_numpy(pair_scores(run, val_data, val_data.val)[1])
    assert not torch.allclose(refit, trained, rtol=1e-4, atol=1e-4)
    # The cohort is one mean a person of the file, less the validation people: more people
    # than trained, and never a validation (or test: not in the file) person.
    validated = {n for p in val_data.val.pairs for n in p.people}
    assert fits == [{"cohort": len(set(people) - validated)}]
    assert len(torch.unique(trained_on.identity_labels)) < fits[0]["cohort"]
    ablate.set_lever(run, "fit-people", False, val_data, Namespace(), {})
    back = torch.from_numpy(pair_scores(run, val_data, val_data.val)[1])
    torch.testing.assert_close(back, trained)


def test_the_wccn_lever_refits_the_cohort_under_the_whitening_it_leaves(lfw_like, tmp_path, ablate):
    from siamese_faces.evaluation.predict import embed_rows
    from siamese_faces.models.cohort import CohortNorm

    cfg = tiny(lfw_like, *IDENTITY, "model.wccn=0.1", "model.score_norm=s-norm")
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    val_data, _ = open_run_data(run)
    trained = {k: v.clone() for k, v in run.net.score_norm.state_dict().items()}
    rows, _, classes = val_data.fitting_faces()

    def cohort_of_units_now():  # the cohort fitted from scratch on the net's units as it is
        h = embed_rows(run.net, val_data.images, rows, run.device, run.bf16)
        want = CohortNorm(h.shape[1])
        want.fit(run.net.head.units(h), classes)
        return want.state_dict()

    ablate.set_lever(run, "wccn", False, val_data, Namespace(ridge=0.1), {})
    off, want_off = run.net.score_norm.state_dict(), cohort_of_units_now()
    assert not torch.allclose(off["mean"], trained["mean"], atol=1e-4)  # not the stale one
    for k in ("mean", "cov"):
        torch.testing.assert_close(off[k], want_off[k], rtol=1e-4, atol=1e-5)
    ablate.set_lever(run, "wccn", True, val_data, Namespace(ridge=0.1), {})
    for k in ("mean", "cov"):  # back under the run's own whitening: the trained cohort
        torch.testing.assert_close(
            run.net.score_norm.state_dict()[k], trained[k], rtol=1e-3, atol=1e-4
        )


def descriptor_args(
    dim=None, lbp_divisor=None, lbp_radii=None, illumination=None, pca_faces=None, halvings=None
) -> Namespace:
    """The descriptor lever's options as the command line gives them (None: the run's own)."""
    return (
        script("experiments", "ablate_inference")
        .parser()
        .parse_args(
            ["descriptor", "RUN"]
            + (["--descriptor-dim", str(dim)] if dim else [])
            + (["--lbp-divisor", str(lbp_divisor)] if lbp_divisor else [])
            + (["--lbp-radii", ",".join(map(str, lbp_radii))] if lbp_radii else [])
            + (["--illumination", ",".join(illumination)] if illumination else [])
            + (["--pca-faces", str(pca_faces)] if pca_faces else [])
            + (["--halvings", ",".join(map(str, halvings))] if halvings else [])
        )
    )


def run_with_histogram_settings(lfw_like, tmp_path, *overrides):
    """A tiny run whose faces are large enough for histograms of 4 directions (``overrides``:
    e.g. trained with them), its validation data and its validation scores as trained."""
    settings = ("model.flip_tta=true", "data.size=32", "model.descriptor_dim=4", *overrides)
    cfg = tiny(lfw_like, *IDENTITY, *settings)
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    val_data, _ = open_run_data(run)
    return run, val_data, pair_scores(run, val_data, val_data.val)[1]


def test_the_descriptor_lever_joins_it_and_off_restores(lfw_like, tmp_path, ablate):
    run, val_data, before = run_with_histogram_settings(lfw_like, tmp_path)
    scores = {}
    for on in (True, False):
        seconds = ablate.set_lever(run, "descriptor", on, val_data, descriptor_args(), {})
        assert (seconds is not None and "descriptor_pca" in seconds) == on  # the fit's stages
        assert seconds is None or "descriptor_others" not in seconds  # its PCA read every face
        scores[on] = pair_scores(run, val_data, val_data.val)[1]
        assert (run.net.descriptor is not None) == on
    faces = len(val_data.fitting_faces()[0])
    sampled = descriptor_args(pca_faces=faces - 1)  # --pca-faces: one face put on its directions
    assert "descriptor_others" in ablate.set_lever(run, "descriptor", True, val_data, sampled, {})
    ablate.set_lever(run, "descriptor", False, val_data, descriptor_args(), {})
    torch.testing.assert_close(torch.from_numpy(scores[False]), torch.from_numpy(before))
    faces = val_data.images[:3, None].float() / 255
    for dim, want in ((None, 4), (2, 2)):  # the run's own directions, or --descriptor-dim's
        ablate.set_lever(run, "descriptor", True, val_data, descriptor_args(dim), {})
        assert bool(run.net.descriptor.fitted)
        with torch.no_grad():  # what is scored is the tower's embedding joined to histograms
            assert run.inference_net.embed(faces).shape[1] == run.net.tower.embedding_dim + want


def test_the_no_descriptor_lever_scores_the_tower_alone_and_off_restores(
    lfw_like, tmp_path, ablate
):
    from siamese_faces.evaluation.metrics import auc

    run, val_data, before = run_with_histogram_settings(
        lfw_like, tmp_path, "model.descriptor=hog-lbp"
    )
    scores = {}
    for on in (True, False):
        ablate.set_lever(run, "no-descriptor", on, val_data, Namespace(), {})
        scores[on] = pair_scores(run, val_data, val_data.val)[1]
        assert (run.net.descriptor is None) == on
    torch.testing.assert_close(torch.from_numpy(scores[False]), torch.from_numpy(before))
    # without the histograms: the whitened tower's cosines, which training scored as the
    # histograms' weight 0 when it chose their weight on the same validation pairs
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert auc(scores[True], val_data.val.y.numpy()) == pytest.approx(
        results["descriptor_val_auc_tower"], abs=1e-6
    )


def test_the_threshold_lever_chooses_by_the_smoothed_rule_and_off_restores(
    lfw_like, tmp_path, ablate, monkeypatch
):
    from siamese_faces.evaluation import api, metrics

    cfg = tiny(lfw_like, *IDENTITY, "data.val_identity_pairs=40")
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    val_data, data = open_run_data(run)
    # A marker for the smoothed rule's threshold: a tiny run's few scores give both one.
    monkeypatch.setattr(metrics, "smoothed_threshold", lambda s, y: 0.123456)
    chosen = {}
    for on in (True, False):
        ablate.set_lever(run, "threshold", on, val_data, Namespace(), {})
        chosen[on] = api.evaluate(run, val_data, data).result["at_val_threshold"]["threshold"]
    scores, y = pair_scores(run, val_data, val_data.val)[1], val_data.val.y.numpy()
    assert chosen == {True: 0.123456, False: metrics.best_threshold(scores, y)}
    assert run.config.model.threshold_rule == "best-accuracy"


def test_the_summary_gives_the_mean_the_std_and_lfws_standard_error(ablate, capsys):
    rows = [
        {"run": f"fold={i}", "on=True": a, "on=False": b, "auc on=True": 0.9, "auc on=False": 0.8}
        | {"val auc on=True": 0.95, "val auc on=False": 0.94}
        for i, (a, b) in enumerate([(0.90, 0.80), (0.92, 0.80), (0.88, 0.80)])
    ]
    ablate.print_summary(rows, "x")
    last = capsys.readouterr().out.splitlines()[-1]
    # by hand: mean 0.90, sample std 0.02, standard error 0.02 / sqrt(3) = 0.011547
    assert last.startswith("mean: with 90.00 ± 2.00% (SE 1.15), without 80.00 ± 0.00% (SE 0.00)")


def test_the_summary_reads_a_screens_file_label_by_label(ablate, tmp_path, monkeypatch, capsys):
    row = {"run": "seed0", "on=True": 0.9, "on=False": 0.8, "auc on=True": 0.9}
    row |= {"auc on=False": 0.8, "val auc on=True": 0.95, "val auc on=False": 0.94}
    runs = {"divisor 8": [row], "divisor 16": [row | {"on=True": 0.7}]}
    (tmp_path / "screen.json").write_text(json.dumps({"command": "...", "runs": runs}))
    monkeypatch.setattr(
        "sys.argv", ["ablate_inference.py", "summary", str(tmp_path / "screen.json")]
    )
    ablate.main()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "divisor 8" and out[2].startswith("mean: with 90.00")
    assert out[3] == "divisor 16" and out[5].startswith("mean: with 70.00")


def test_the_summary_pools_the_rows_of_several_files(ablate, tmp_path, monkeypatch, capsys):
    def row(fold, on):  # one View 2 fold's refit, as descriptor_size.py --json saves it
        r = {"run": f"fold={fold}", "on=True": on, "on=False": 0.8, "auc on=True": 0.9}
        return r | {"auc on=False": 0.8, "val auc on=True": 0.95, "val auc on=False": 0.94}

    for fold, on in ((1, 0.90), (2, 0.92), (3, 0.88)):
        (tmp_path / f"fold{fold}.json").write_text(json.dumps({"rows": [row(fold, on)]}))
    files = [str(tmp_path / f"fold{fold}.json") for fold in (1, 2, 3)]
    monkeypatch.setattr("sys.argv", ["ablate_inference.py", "summary", *files])
    ablate.main()
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("mean: with 90.00 ± 0.00%")  # the first file alone
    assert out[-5] == "the 3 files' 3 rows together"  # then a line a row, then the mean
    assert out[-1].startswith("mean: with 90.00 ± 2.00% (SE 1.15), without 80.00 ± 0.00%")


def test_oneshot_is_scored_with_the_lever_and_without_as_the_cli_scores_it(
    lfw_like, tmp_path, ablate, monkeypatch, capsys
):
    from siamese_faces.evaluation.api import oneshot

    cfg = tiny(lfw_like, *IDENTITY, "data.size=32", "model.descriptor_dim=4")
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    as_trained = oneshot(run, open_run_data(run)[1], ways=2)["acc"]
    argv = ["ablate_inference.py", "descriptor", str(tmp_path / "run"), "--oneshot", "2"]
    monkeypatch.setattr("sys.argv", [*argv, "--json"])
    ablate.main()
    (row,) = json.loads(capsys.readouterr().out)
    assert row["oneshot on=False"] == as_trained  # off is the run as trained
    assert 0.0 <= row["oneshot on=True"] <= 1.0
    monkeypatch.setattr("sys.argv", argv)
    ablate.main()
    out = capsys.readouterr().out
    assert f"one-shot with {100 * row['oneshot on=True']:.1f}%, without " in out
    asked, real = [], ablate.oneshot
    monkeypatch.setattr(ablate, "oneshot", lambda *a, **k: asked.append(k) or real(*a, **k))
    monkeypatch.setattr("sys.argv", [*argv, "--oneshot-trials", "37", "--json"])
    ablate.main()
    (row,) = json.loads(capsys.readouterr().out)
    assert [k["trials"] for k in asked] == [37, 37]  # with the lever and without
    more = oneshot(run, open_run_data(run)[1], ways=2, trials=37)["acc"]
    assert row["oneshot on=False"] == more  # as `siamese-faces oneshot --trials 37` scores it
    saved = tmp_path / "rows.json"
    saved.write_text(json.dumps([row, {**row, "oneshot on=True": row["oneshot on=True"] + 0.02}]))
    monkeypatch.setattr("sys.argv", ["ablate_inference.py", "summary", str(saved)])
    ablate.main()
    with_ = 100 * row["oneshot on=True"] + 1  # the mean of the two rows; their std 1.4 points
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"one-shot: with {with_:.1f} ± 1.4%, without {100 * more:.1f} ± 0.0%"
    )


def test_the_descriptor_lever_refits_a_run_trained_with_one_at_other_directions(
    lfw_like, tmp_path, ablate
):
    cfg = tiny(
        lfw_like, *IDENTITY, "data.size=32", "model.descriptor=hog-lbp", "model.descriptor_dim=4"
    )
    fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    run = load_run(tmp_path / "run")
    val_data, _ = open_run_data(run)
    assert run.net.descriptor.project.shape[1] == 4
    ablate.set_lever(run, "descriptor", True, val_data, descriptor_args(3), {})
    assert run.net.descriptor.project.shape[1] == 3  # fitted again, not the trained one
    assert bool(run.net.descriptor.fitted)
    assert run.net.descriptor.lbp_cell == 32 // 8  # the run's own cells
    ablate.set_lever(run, "descriptor", True, val_data, descriptor_args(3, 16), {})
    assert run.net.descriptor.lbp_cell == 32 // 16  # --lbp-divisor's
    assert run.net.descriptor.mean.shape[0] == 2 * (4 * 9 * 15**2 + 59 * 15**2)
    lever = descriptor_args(3, 16, (1, 2))  # --lbp-radii 1,2
    ablate.set_lever(run, "descriptor", True, val_data, lever, {})
    assert run.net.descriptor.lbp_radii == (1, 2)
    assert run.net.descriptor.mean.shape[0] == 2 * (4 * 9 * 15**2 + 59 * 15**2 + 59 * 14**2)
    faces = val_data.images[:3, None].float() / 255
    with torch.no_grad():
        assert run.inference_net.embed(faces).shape[1] == run.net.tower.embedding_dim + 3
    assert run.net.descriptor.illumination == "none"  # the run's own
    ablate.set_lever(
        run, "descriptor", True, val_data, descriptor_args(illumination=("tan-triggs",)), {}
    )
    assert run.net.descriptor.illumination == "tan-triggs"  # --illumination's
    assert bool(run.net.descriptor.fitted)
    # --halvings reaches the model: these 32-pixel faces have no smaller scale to describe
    with pytest.raises(ValueError, match="halved 1 times"):
        ablate.set_lever(run, "descriptor", True, val_data, descriptor_args(halvings=(0, 1)), {})
