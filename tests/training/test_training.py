"""The trainer on a tiny synthetic dataset: determinism, early stopping, resume, errors."""

import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from siamese_faces.cli import main
from siamese_faces.config import Config, ConfigError, apply_overrides
from siamese_faces.data.rundata import prepare
from siamese_faces.data.splits import Split
from siamese_faces.evaluation.metrics import accuracy
from siamese_faces.evaluation.predict import pair_outputs
from siamese_faces.evaluation.runs import load_run
from siamese_faces.runtime import DistContext
from siamese_faces.training.callbacks import EarlyStopping
from siamese_faces.training.trainer import fit

from ..helpers import script

TINY = [
    "data.size=16",
    "model.filters=4,8",
    "model.kernels=3,3",
    "model.pool_layers=2",
    "model.fc=16",
    "train.batch_size=2",
    "train.threads=1",
    "train.lr=0.01",
    "model.descriptor=none",  # its histograms need larger faces (tests/models/test_descriptors.py)
]


def tiny(lfw_like, *extra) -> Config:
    return apply_overrides(Config(), [f"data.dir={lfw_like}", *TINY, *extra])


def rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as fh:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]


def test_run_folder_has_every_artifact(lfw_like, tmp_path):
    cfg = tiny(lfw_like, "train.epochs=2")
    results = fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    run = tmp_path / "run"
    for name in (
        "config.json",
        "split.json",
        "metrics.csv",
        "best.safetensors",
        "last.pt",
        "results.json",
    ):
        assert (run / name).is_file(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert json.loads((run / "config.json").read_text())["train"]["lr"] == 0.01
    assert set(rows(run)[0]) == {
        "epoch",
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "val/auc",
    }
    assert results["epochs_run"] == 2 and 0 <= results["test/acc"] <= 1
    assert not list(run.glob("*.tmp"))


def test_same_seed_same_numbers(lfw_like, tmp_path):
    cfg = tiny(lfw_like, "train.epochs=3", "model.dropout=0.3")
    fit(cfg, prepare(cfg), tmp_path / "a", DistContext())
    fit(cfg, prepare(cfg), tmp_path / "b", DistContext())
    assert rows(tmp_path / "a") == rows(tmp_path / "b")
    other = tiny(lfw_like, "train.epochs=3", "model.dropout=0.3", "train.seed=1")
    fit(other, prepare(other), tmp_path / "c", DistContext())
    assert rows(tmp_path / "a") != rows(tmp_path / "c")


def test_early_stopping_logic():
    stop = EarlyStopping(patience=2)
    improved = [stop.update(v, e) for e, v in enumerate([1.0, 0.8, 0.9, 0.7, 0.75, 0.71])]
    assert improved == [True, True, False, True, False, False]
    assert stop.should_stop and stop.best_epoch == 3 and stop.best == 0.7


def test_early_stopping_restores_the_best_epoch(lfw_like, tmp_path):
    # A high learning rate on 5 pairs overfits fast: validation loss rises, training stops.
    cfg = tiny(lfw_like, "train.epochs=30", "train.patience=2", "train.lr=0.05", "train.bf16=false")
    results = fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    val = [float(r["val/loss"]) for r in rows(tmp_path / "run")]
    best = min(range(len(val)), key=val.__getitem__)
    assert results["best_epoch"] == best + 1
    assert results["val/loss"] == pytest.approx(val[best], rel=1e-5)  # best weights restored
    if results["stopped_early"]:
        assert len(val) == best + 1 + 2


def test_epochs_before_validation_begins_train_alike_and_are_never_kept(lfw_like, tmp_path, capsys):
    # Validating an epoch changes nothing that trains the next (no draw, no state): skipped,
    # the epochs train to the same numbers, and the best is chosen among the validated ones.
    extra = ("train.epochs=4", "model.dropout=0.3", "train.monitor=auc", "train.patience=4")
    every = tiny(lfw_like, *extra)
    fit(every, prepare(every), tmp_path / "every", DistContext())
    later = tiny(lfw_like, *extra, "train.validate_after=0.5")
    results = fit(later, prepare(later), tmp_path / "later", DistContext())
    a, b = rows(tmp_path / "every"), rows(tmp_path / "later")

    def trained(rs):  # each row's columns but validation's
        return [{k: v for k, v in r.items() if not k.startswith("val/")} for r in rs]

    assert trained(b) == trained(a)
    assert b[2:] == a[2:]  # epochs 3 and 4: the same validation numbers
    assert all(r[k] == "nan" for r in b[:2] for k in ("val/loss", "val/acc", "val/auc"))
    aucs = [float(r["val/auc"]) for r in a[2:]]
    assert results["best_epoch"] == 3 + aucs.index(max(aucs))
    assert capsys.readouterr().err.count("not validated (train.validate_after)") == 2
    # experiments/summarize.py tells the two kinds of epoch apart (after the first, a warm-up)
    with open(tmp_path / "later" / "metrics.csv") as fh:
        seconds = [float(r["seconds"]) for r in csv.DictReader(fh)]
    means = script("experiments", "summarize").load(tmp_path / "later")["epoch_seconds_mean"]
    assert means == {"validated": statistics.mean(seconds[2:]), "unvalidated": seconds[1]}
    with pytest.raises(ConfigError, match="train.validate_after"):
        tiny(lfw_like, "train.validate_after=1")
    assert tiny(lfw_like, "train.epochs=36", "train.validate_after=0.5").train.first_validated == 19


class Interrupt(Exception):
    pass


def test_interrupted_mid_epoch_and_resumed_ends_identical(lfw_like, tmp_path):
    cfg = tiny(lfw_like, "train.epochs=4", "model.dropout=0.3")
    fit(cfg, prepare(cfg), tmp_path / "whole", DistContext())

    def die(epoch, step):
        if epoch == 2 and step == 1:
            raise Interrupt  # as Ctrl-C would, in the middle of the third epoch

    with pytest.raises(Interrupt):
        fit(cfg, prepare(cfg), tmp_path / "cut", DistContext(), hook=die)
    assert len(rows(tmp_path / "cut")) == 2
    fit(cfg, prepare(cfg), tmp_path / "cut", DistContext(), resume=True)
    assert rows(tmp_path / "cut") == rows(tmp_path / "whole")
    a = json.loads((tmp_path / "whole" / "results.json").read_text())
    b = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert (a["val/loss"], a["test/acc"]) == (b["val/loss"], b["test/acc"])


def cli_train(lfw_like, out, *extra, preset="study2019"):
    args = [
        sys.executable,
        "-m",
        "siamese_faces",
        "train",
        "--data",
        str(lfw_like),
        "--out",
        str(out),
        "--preset",
        preset,
    ]
    for s in TINY + list(extra):
        args += ["--set", s]
    return args


def test_process_killed_and_resumed_ends_identical(lfw_like, tmp_path):
    env = {**os.environ, "SIAMESE_FACES_PROGRESS": "0"}
    # Slow each step a little so that the kill lands inside a later epoch, not at its end.
    extra = ["train.epochs=5", "train.batch_size=1"]
    subprocess.run(
        cli_train(lfw_like, tmp_path / "whole", *extra), check=True, env=env, capture_output=True
    )
    proc = subprocess.Popen(
        cli_train(lfw_like, tmp_path / "cut", *extra),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "cut" / "last.pt").exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "cut" / "results.json").exists(), "killed too late to test resume"
    subprocess.run(
        cli_train(lfw_like, tmp_path / "cut", *extra) + ["--resume"],
        check=True,
        env=env,
        capture_output=True,
    )
    assert rows(tmp_path / "cut") == rows(tmp_path / "whole")


def test_bad_config_fails_before_training(lfw_like, tmp_path, capsys):
    code = main(
        ["train", "--data", str(lfw_like), "--out", str(tmp_path / "r"), "--set", "train.lr=-3"]
    )
    assert code == 2 and "train.lr=-3.0: use a positive learning rate" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_existing_run_needs_resume(lfw_like, tmp_path, capsys):
    cfg = tiny(lfw_like, "train.epochs=1")
    fit(cfg, prepare(cfg), tmp_path / "r", DistContext())
    code = main(["train", "--data", str(lfw_like), "--out", str(tmp_path / "r")])
    assert code == 2 and "--resume" in capsys.readouterr().err


def test_each_epochs_line_says_how_far_the_run_has_come(lfw_like, tmp_path, capsys):
    cfg = tiny(lfw_like, "train.epochs=2")
    fit(cfg, prepare(cfg), tmp_path / "r", DistContext())
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("epoch")]
    assert [x.split()[1] for x in lines] == ["1/2", "2/2"]


def test_resume_with_changed_config_is_refused(lfw_like, tmp_path):
    cfg = tiny(lfw_like, "train.epochs=1")
    fit(cfg, prepare(cfg), tmp_path / "r", DistContext())
    changed = tiny(lfw_like, "train.epochs=1", "train.lr=0.02")
    with pytest.raises(ValueError, match="train.lr changed"):
        fit(changed, prepare(changed), tmp_path / "r", DistContext(), resume=True)


def test_resume_on_other_threads_is_allowed(lfw_like, tmp_path):
    # How a run uses the machine is no change to what it learns: a View 2 fold begun by a
    # one-worker benchmark (all cores) resumes in a two-worker one (one core each).
    cfg = tiny(lfw_like, "train.epochs=2", "train.threads=2")

    def die(epoch, step):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(cfg, prepare(cfg), tmp_path / "cut", DistContext(), hook=die)
    other = tiny(lfw_like, "train.epochs=2", "train.threads=1", "train.reuse_memory=false")
    fit(other, prepare(other), tmp_path / "cut", DistContext(), resume=True)
    assert len(rows(tmp_path / "cut")) == 2
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["train"]["threads"] == 1
    changed = tiny(lfw_like, "train.epochs=2", "train.threads=1", "train.lr=0.02")
    with pytest.raises(ValueError, match=r"\(train\.lr changed\)"):  # named alone
        fit(changed, prepare(changed), tmp_path / "cut", DistContext(), resume=True)


def test_evaluate_cli(lfw_like, tmp_path, capsys):
    cfg = tiny(lfw_like, "train.epochs=2")
    results = fit(cfg, prepare(cfg), tmp_path / "r", DistContext())
    assert main(["evaluate", str(tmp_path / "r"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    m = out["at_model_threshold"]
    assert m["pairs"] == 4 and m["acc"] == results["test/acc"]
    assert out["loss"] == pytest.approx(results["test/loss"], rel=1e-5)


def test_contrastive_head_chooses_threshold_on_validation(lfw_like, tmp_path):
    cfg = tiny(lfw_like, "train.epochs=2", "model.head=euclidean", "model.fc_activation=none")
    results = fit(cfg, prepare(cfg), tmp_path / "r", DistContext())
    assert results["threshold"] != -0.5  # chosen on validation scores, not the default
    assert torch.isfinite(torch.tensor(results["val/loss"]))


def test_the_threshold_rule_chooses_training_and_evaluate_and_calibrate_thresholds(
    lfw_like, tmp_path, capsys, monkeypatch
):
    from siamese_faces.evaluation import metrics
    from siamese_faces.evaluation.runs import load_run

    from .test_distill import IDENTITY

    # A marker for the smoothed rule's threshold (the rule itself is tested against a slow
    # loop in tests/evaluation/test_metrics.py): tiny runs' few scores give both rules one.
    marker, calls = 0.123456, []
    monkeypatch.setattr(metrics, "smoothed_threshold", lambda s, y: calls.append(len(s)) or marker)
    rule = ["model.threshold_rule=smoothed-accuracy", "data.val_identity_pairs=40"]
    cfg = tiny(lfw_like, *IDENTITY, *rule)
    data = prepare(cfg)
    results = fit(cfg, data, tmp_path / "r", DistContext())
    assert results["threshold"] == marker and set(calls) == {len(data.val)}
    assert load_run(tmp_path / "r").threshold_origin == "validation pairs, smoothed accuracy"
    assert main(["evaluate", str(tmp_path / "r"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["at_val_threshold"]["threshold"] == marker
    assert main(["calibrate", str(tmp_path / "r"), "--align", "none", "--accuracy", "--json"]) == 0
    calibrated = json.loads(capsys.readouterr().out)
    assert calibrated["origin"] == "validation pairs, smoothed accuracy"
    assert calibrated["threshold"] == marker


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["study2019", "default"])  # pairs, and CosFace
def test_torchrun_two_process_ddp(lfw_like, tmp_path, preset):
    out = tmp_path / "ddp"
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    args = (
        launcher
        + cli_train(
            lfw_like,
            out,
            "train.epochs=2",
            "train.batch_size=4",
            "data.val_fraction=0.3",
            # the default's descriptor needs faces of 32 pixels or more, and more faces
            # than directions
            *(["data.size=32", "model.descriptor_dim=4"] if preset == "default" else []),
            preset=preset,
        )[1:]
    )
    env = {**os.environ, "SIAMESE_FACES_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == 2 and results["epochs_run"] == 2
    assert len(rows(out)) == 2  # one writer: rank 0


@pytest.mark.parametrize(
    "members, wccn, erase, more",
    [
        (1, 0.0, 0.0, []),
        (2, 0.1, 0.5, []),
        (2, 0.0, 0.0, ["model.views=0,0,1,1;0.1,0,0.9,0.7", "data.val_identity_pairs=40"]),
        (1, 0.0, 0.0, ["train.objective=arcface", "model.margin=0.5"]),
        (2, 0.0, 0.0, ["train.objective=adaface", "model.margin=0.4", "model.subcentres=2"]),
    ],
)
def test_unrestricted_identity_objectives_train_on_training_people_only(
    lfw_like, tmp_path, members, wccn, erase, more
):
    cfg = tiny(
        lfw_like,
        "train.objective=cosface",
        *more,
        f"model.members={members}",
        f"model.wccn={wccn}",
        f"train.erase={erase}",
        "train.epochs=2",
        "data.protocol=unrestricted",
        "model.head=cosine",
        "model.name=resnet",
        "model.filters=4,8",
        "model.kernels=3,3",
        "model.init=default",
        "train.augment=true",
        "train.schedule=cosine",
        "train.monitor=auc",
        "model.flip_tta=true",
        "train.batch_size=4",
    )
    data = prepare(cfg)
    people = {data.paths[r].parent.name for r in data.identity_rows.tolist()}
    val_people = {n for p in data.val.pairs for n in p.people}
    test_people = {n for p in data.test.pairs for n in p.people}
    assert people and not people & val_people and not people & test_people
    file_val = {n for i in data.split.val for n in data.train_pairs.pairs[i].people}
    assert val_people == file_val  # pairs formed from names stay among the validation people
    n = cfg.data.val_identity_pairs
    assert len(data.val) == len(data.split.val) + n
    assert int(data.val.y[len(data.val) - n :].sum()) == n // 2  # half of them same
    for i in range(len(data.val) - n, len(data.val)):
        pair, a, b = data.val.pairs[i], int(data.val.a[i]), int(data.val.b[i])
        assert a != b and bool(data.val.y[i]) == pair.same == (pair.name1 == pair.name2)
        assert (data.paths[a].parent.name, data.paths[b].parent.name) == pair.people
    results = fit(cfg, data, tmp_path / "run", DistContext())
    assert results["epochs_run"] == 2 and 0 <= results["test/acc"] <= 1
    if wccn:  # fitted on the training people only, and saved with the best weights
        assert 0 < results["wccn_people"] <= len(set(data.identity_labels.tolist()))
        run = load_run(tmp_path / "run")
        assert bool(run.net.whiten.fitted)
        cl = run.config.train.channels_last
        _, scores = pair_outputs(run.net, data.images, data.val, run.device, run.bf16, cl)
        # the saved net is the one whose validation threshold and accuracy were reported
        assert accuracy(scores.numpy(), data.val.y.numpy(), run.threshold) == (
            pytest.approx(results["val/acc"])
        )


def test_restricted_pairs_objective_with_resampling(lfw_like, tmp_path):
    cfg = tiny(
        lfw_like,
        "train.epochs=2",
        "train.same_fraction=0.5",
        "train.augment=true",
        "model.head=cosine",
    )
    results = fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    assert results["epochs_run"] == 2


def test_members_train_and_evaluate_as_one_net(lfw_like, tmp_path):
    cfg = tiny(lfw_like, "train.epochs=2", "model.head=cosine", "model.members=2")
    results = fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
    assert results["epochs_run"] == 2
    assert 0.0 <= results["test/acc"] <= 1.0
    # one decision a pair (the mean cosine), not one a member
    assert all(0.0 <= float(r["train/acc"]) <= 1.0 for r in rows(tmp_path / "run"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this checks the error without CUDA")
def test_device_flag_is_the_train_device_setting(lfw_like, tmp_path, capsys):
    code = main(
        [
            "train",
            "--data",
            str(lfw_like),
            "--out",
            str(tmp_path / "r"),
            "--device",
            "cuda",
            "--preset",
            "study2019",
        ]
    )
    assert code == 2 and "train.device='cuda' but no CUDA device" in capsys.readouterr().err


def test_validation_that_cannot_be_formed_is_a_clear_error(lfw_like):
    base = ["data.protocol=unrestricted", "train.objective=cosface", "model.head=cosine"]
    with pytest.raises(ValueError, match="no pair of its 8 went to validation"):
        prepare(tiny(lfw_like, *base, "data.val_fraction=0.05"))
    # Dan and Fay (one image each) validate alone: no same pair can be formed from names.
    split = Split("people", None, None, "", "", (0, 1, 2, 3, 4, 5, 6), (7,), ())
    with pytest.raises(ValueError, match="none of the 2 validation people has two or more"):
        prepare(tiny(lfw_like, *base, "data.val_identity_pairs=10"), split=split)


def test_validation_pairs_drawn_by_person_keep_the_files_and_the_same_pairs(lfw_like):
    base = ["data.protocol=unrestricted", "train.objective=cosface", "model.head=cosine"]
    base += ["data.val_identity_pairs=60", "data.val_fraction=0.5"]
    by_image, by_person = (
        prepare(tiny(lfw_like, *base, f"data.val_identity_negatives={way}")).val
        for way in ("images", "people")
    )
    assert len(by_image) == len(by_person)

    def kept(pairs):  # the file's pairs in order, then the formed same pairs (in any order)
        file = [(p.image1, p.image2, p.same) for p in pairs.pairs if p.where]
        return file, sorted((str(p.image1), str(p.image2)) for p in pairs.pairs if p.same)

    assert kept(by_image) == kept(by_person)
    assert [p for p in by_image.pairs if not p.same] != [p for p in by_person.pairs if not p.same]
    assert all(p.name1 != p.name2 for p in by_person.pairs if not p.same)


@pytest.mark.parametrize("extra", [["model.wccn=0"], ["model.head=cosine"]])
def test_a_diverged_run_is_an_error_not_a_result(lfw_like, tmp_path, capsys, extra):
    # lr 1e10 sends the weights to infinity: no results.json, no AUC of NaN scores, one line.
    args = ["train", "--data", str(lfw_like), "--out", str(tmp_path / "run")]
    for s in [*TINY, "train.epochs=3", "train.lr=1e10", "data.val_fraction=0.3", *extra]:
        args += ["--set", s]
    assert main(args) == 4  # the exit code of a diverged training
    err = capsys.readouterr().err
    assert "diverged" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.parametrize(
    "setting",
    [
        "train.lr=inf",
        "train.lr=nan",
        "train.weight_decay=inf",
        "model.scale=inf",
        "model.margin=nan",
    ],
)
def test_non_finite_settings_are_refused_before_any_data(setting):
    with pytest.raises(ConfigError, match="finite"):
        apply_overrides(Config(), [setting])


@pytest.mark.parametrize(
    "setting, fix",
    [
        ("train.seed=-1", "0 or more"),
        ("model.fc=100000000000", "1..65536"),
        ("model.members=100000", "1..64"),
        ("model.filters=8,100000", "1..4096"),
        ("train.ema_batchnorm_batches=16", "with a moving average"),
        ("train.ema=0.9;train.ema_batchnorm_batches=-1", "a number of batches"),
    ],
)
def test_out_of_range_settings_are_refused(setting, fix):
    with pytest.raises(ConfigError, match=fix):
        apply_overrides(Config(), setting.split(";"))


def test_metrics_refuse_non_finite_scores():
    from siamese_faces.evaluation.metrics import NonFiniteScores, accuracy, auc, best_threshold

    scores, labels = [0.1, float("nan"), 0.7], [0, 1, 1]
    for fn in (
        lambda: auc(scores, labels),
        lambda: best_threshold(scores, labels),
        lambda: accuracy(scores, labels, 0.5),
    ):
        with pytest.raises(NonFiniteScores, match="diverged"):
            fn()


def test_a_run_folder_is_owned(lfw_like, tmp_path):
    from filelock import FileLock

    from siamese_faces.training.api import train

    cfg = tiny(lfw_like, "train.epochs=1", "data.val_fraction=0.3")
    # A second process on the same folder is refused while the first holds it.
    run = tmp_path / "busy"
    run.mkdir()
    with FileLock(run / ".lock"):
        with pytest.raises(ValueError, match="another training is writing"):
            train(cfg, run)
    train(cfg, run)  # once the other is gone, it is free
    # A folder with a user's files is not a run: nothing in it is overwritten.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.json").write_text("my own results")
    with pytest.raises(ValueError, match="not a run of siamese-faces"):
        train(cfg, mine)
    assert (mine / "results.json").read_text() == "my own results"
    # --resume where there is no run is an error, not a silent fresh start.
    with pytest.raises(ValueError, match="no run to continue"):
        train(cfg, tmp_path / "nothing-here", resume=True)


def test_moving_average_matches_a_slow_loop():
    from siamese_faces.training.trainer import _after_step, make_average

    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    average = make_average(net, 0.9)
    assert make_average(net, 0.0) is None
    calls = []
    step = _after_step(average, net, lambda epoch, index: calls.append((epoch, index)))
    expected = None
    for k in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(k)))
        net.train()(torch.randn(5, 3))  # moves BatchNorm's running statistics too
        current = {n: v.detach().clone().float() for n, v in net.state_dict().items()}
        if expected is None:  # the first update copies the weights
            expected = current
        else:
            expected = {n: 0.9 * expected[n] + 0.1 * current[n] for n in current}
        step(0, k)
    got = average.module.state_dict()
    for name in ("0.weight", "0.bias", "1.weight", "1.running_mean", "1.running_var"):
        assert torch.allclose(got[name].float(), expected[name], atol=1e-6), name
    assert calls == [(0, 0), (0, 1), (0, 2), (0, 3)]


MEASURED = ["model.batchnorm=true", "train.ema_batchnorm_batches=1"]


@pytest.mark.parametrize("measured", [[], MEASURED])
def test_moving_average_is_what_is_kept_and_resumes_identically(lfw_like, tmp_path, measured):
    from safetensors.torch import load_file

    cfg = tiny(lfw_like, "train.epochs=3", "train.patience=3", "train.ema=0.5", *measured)
    fit(cfg, prepare(cfg), tmp_path / "whole", DistContext())

    def die(epoch, step):
        if epoch == 1 and step == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(cfg, prepare(cfg), tmp_path / "cut", DistContext(), hook=die)
    fit(cfg, prepare(cfg), tmp_path / "cut", DistContext(), resume=True)
    assert rows(tmp_path / "cut") == rows(tmp_path / "whole")
    # Without the average, or (measured) with its averaged statistics: other numbers validated.
    unmeasured = ["model.batchnorm=true", "train.ema=0.5"] if measured else []
    plain = tiny(lfw_like, "train.epochs=3", "train.patience=3", *unmeasured)
    fit(plain, prepare(plain), tmp_path / "plain", DistContext())
    assert rows(tmp_path / "plain") != rows(tmp_path / "whole")
    # fp32: on a CPU with native bf16 this tiny Koch tower does not move in bf16 in one epoch
    # (its weights stay equal to the average), and the point here is the average, not bf16.
    one = tiny(lfw_like, "train.epochs=1", "train.ema=0.5", "train.bf16=false", *measured)
    fit(one, prepare(one), tmp_path / "one", DistContext())
    last = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    best = load_file(str(tmp_path / "one" / "best.safetensors"))
    assert int(last["average"]["n_averaged"]) > 1
    weights = [k for k in best if k.endswith("weight")]
    assert weights and all(torch.equal(best[k], last["average"]["module." + k]) for k in weights)
    assert not all(torch.equal(best[k], last["model"][k]) for k in weights)


@pytest.mark.parametrize("protocol", ["restricted", "unrestricted"])
def test_batchnorm_measured_again_on_the_epochs_first_batches(lfw_like, protocol):
    from siamese_faces.training.trainer import build, measure_batchnorm

    extra = ["train.objective=cosface"] if protocol == "unrestricted" else []
    cfg = tiny(
        lfw_like,
        f"data.protocol={protocol}",
        *extra,
        "model.batchnorm=true",
        "model.dropout=0.5",  # draws from the global generator in training mode
        "train.ema=0.5",
        "train.ema_batchnorm_batches=2",
    )
    net, objective, *_ = build(cfg, prepare(cfg), DistContext())
    bn = next(m for m in net.tower.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    bn.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().float()))
    net.eval()
    state = torch.get_rng_state()
    measure_batchnorm(net, objective, cfg, DistContext(), 1, False)
    assert torch.equal(torch.get_rng_state(), state)  # dropout's draws left as they were
    assert len(seen) == 2 and not net.training
    x = torch.cat(seen)
    assert len(x) == 2 * len(objective.images(next(objective.batches(1)), torch.Generator()))
    # The mean over both batches, not a running mean weighted towards the last one (nor the
    # statistics the net had: a mean of 0 and a variance of 1 from its initialisation).
    assert torch.allclose(bn.running_mean, x.mean((0, 2, 3)), rtol=1e-4, atol=1e-7)
    each = torch.stack([t.var((0, 2, 3)) for t in seen])
    assert torch.allclose(bn.running_var, each.mean(0), rtol=1e-4, atol=0)


def test_an_epoch_takes_what_the_per_person_limits_say(lfw_like):
    from siamese_faces.training.trainer import build

    cfg = tiny(
        lfw_like,
        "data.protocol=unrestricted",
        "train.objective=cosface",
        "model.head=cosine",
        "model.name=resnet",
        "model.init=default",
        "train.schedule=cosine",
        "train.epochs=3",
        "train.max_images_per_person=1",
        "train.min_images_per_person=2",
    )
    data = prepare(cfg)
    labels = data.identity_labels
    counts = torch.bincount(labels)
    assert counts.max() >= 2 and counts.min() == 1  # the limits have something to do
    _, objective, _, opt, sched = build(cfg, data, DistContext())
    steps = 0
    for epoch in range(cfg.train.epochs):
        taken = torch.cat([b[1] for b in objective.batches(epoch)])
        assert sorted(taken.tolist()) == torch.nonzero(counts >= 2).flatten().tolist()
        for _ in objective.batches(epoch):
            opt.step()
            sched.step()
            steps += 1
    assert steps < cfg.train.epochs * len(labels) // 2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # the schedule's end


@pytest.mark.parametrize(
    "extra, match",
    [
        (["train.max_images_per_person=-1"], "0 \\(every image"),
        (["train.min_images_per_person=0"], "1 \\(every person"),
        (["train.max_images_per_person=4"], "identity objectives"),
    ],
)
def test_per_person_limits_are_checked(extra, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides(Config(), extra)


def test_a_minimum_no_person_reaches_is_a_clear_error(lfw_like, tmp_path):
    cfg = tiny(
        lfw_like,
        "data.protocol=unrestricted",
        "train.objective=cosface",
        "model.head=cosine",
        "train.min_images_per_person=50",
    )
    with pytest.raises(ValueError, match="train.min_images_per_person=50: too few"):
        fit(cfg, prepare(cfg), tmp_path / "run", DistContext())
