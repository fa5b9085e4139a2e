"""LFW View 2's protocol on a miniature View 2 file: folds, resume, shared storage, people."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from siamese_faces.cli import main
from siamese_faces.config import Config, ConfigError, apply_overrides
from siamese_faces.data.rundata import prepare
from siamese_faces.sweeps.benchmark import (
    earlier_folds,
    mean_se,
    parse_folds,
    run_benchmark,
    summarize,
    view2_spec,
)
from siamese_faces.sweeps.sweep import first_seeds, queue_line, queue_points, run_name

from ..helpers import needs_postgres, postgres_database, write_people
from ..training.test_distill import IDENTITY
from ..training.test_training import TINY

FOLDS = 3


def fold_people(k: int) -> dict[str, int]:
    return {f"A{k}_Same": 3, f"B{k}_Same": 3, f"C{k}_Other": 1, f"D{k}_Other": 2}


@pytest.fixture
def view2_like(tmp_path: Path) -> Path:
    """``root/lfw2/<Name>/...`` and a View 2 ``pairs.txt``: 3 folds of 2 same + 2 different,
    no person in two folds."""
    root = tmp_path / "mini-view2"
    people = {}
    lines = [f"{FOLDS}\t2"]
    for k in range(1, FOLDS + 1):
        people.update(fold_people(k))
        lines += [f"A{k}_Same\t1\t2", f"B{k}_Same\t2\t3"]
        lines += [f"A{k}_Same\t3\tC{k}_Other\t1", f"B{k}_Same\t1\tD{k}_Other\t2"]
    write_people(root / "lfw2", people)
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    return root


def config(data: Path, *extra: str) -> Config:
    return apply_overrides(
        Config(), [f"data.dir={data}", *TINY, "data.val_fraction=0.4", "train.epochs=1", *extra]
    )


@pytest.mark.parametrize("protocol", ["restricted", "unrestricted"])
def test_a_folds_people_never_train_or_validate_its_model(view2_like, protocol):
    for k in range(1, FOLDS + 1):
        data = prepare(config(view2_like, f"data.fold={k}", f"data.protocol={protocol}"))
        mine = set(fold_people(k))
        assert {n for p in data.test.pairs for n in p.people} == mine
        assert len(data.test) == 4
        trained = {n for p in data.train.pairs for n in p.people}
        validated = {n for p in data.val.pairs for n in p.people}
        assert trained and validated and not (trained | validated) & mine
        assert not trained & validated  # validation people carved out of the other folds
        names = data.train_pairs.people | {n for p in data.val.pairs for n in p.people}
        assert validated <= names
        if protocol == "restricted":  # pairs as given, none formed from names
            assert len(data.identity_rows) == 0
            given = {(p.name1, p.name2, p.same) for p in data.train_pairs.pairs}
            assert {(p.name1, p.name2, p.same) for p in data.train.pairs} <= given
        else:
            identities = {data.paths[int(r)].parent.name for r in data.identity_rows}
            assert identities and not identities & (mine | validated)


def test_a_fold_needs_a_view2_file(lfw_like):
    with pytest.raises(ValueError, match="no pairs.txt"):
        prepare(config(lfw_like, "data.fold=1"))
    with pytest.raises(ValueError, match="View 2 pairs file"):
        prepare(config(lfw_like, "data.fold=1", f"data.pairs_test={lfw_like / 'pairsDevTest.txt'}"))


def test_mean_and_standard_error_by_hand():
    acc, se = mean_se([0.90, 0.80, 0.85])
    # mean 0.85; sample std sqrt((0.05^2 + 0.05^2 + 0) / 2) = 0.05; SE = 0.05 / sqrt(3)
    assert acc == pytest.approx(0.85) and se == pytest.approx(0.05 / math.sqrt(3))
    assert parse_folds("1-3,7") == [1, 2, 3, 7] and parse_folds("4") == [4]
    for bad in ("0-2", "11", "a"):
        with pytest.raises(ValueError, match="--folds"):
            parse_folds(bad)


def completed_folds(storage: str, name: str) -> list[int]:
    study = optuna.load_study(study_name=name, storage=storage)
    return sorted(
        t.user_attrs["params"]["data.fold"]
        for t in study.get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE
    )


def ends(err: str) -> list[tuple[str, str]]:
    """The lines in which trials said how they ended: (run folder, progress)."""
    return [
        (line.split(":")[0], line.rsplit("(", 1)[1])
        for line in err.splitlines()
        if "done: best epoch" in line
    ]


def test_benchmark_resumes_without_redoing_a_finished_fold(view2_like, tmp_path, capsys):
    root, storage = tmp_path / "runs", f"sqlite:///{tmp_path / 'bench.db'}"
    base = config(view2_like)
    # As if the first run were killed after two folds: only those two are finished.
    first = run_benchmark(view2_spec(base, "b", [1, 2]), str(view2_like), root, storage)
    assert [f["fold"] for f in first["folds"]] == [1, 2]
    assert ends(capsys.readouterr().err) == [
        ("fold=1-seed0", "1 of 2 trials finished)"),
        ("fold=2-seed0", "2 of 2 trials finished)"),
    ]
    trained = {
        f: (root / "b" / f"fold={f}-seed0" / "best.safetensors").stat().st_mtime_ns for f in (1, 2)
    }
    summary = run_benchmark(view2_spec(base, "b", [1, 2, 3]), str(view2_like), root, storage)
    assert completed_folds(storage, "b") == [1, 2, 3]
    assert ends(capsys.readouterr().err) == [("fold=3-seed0", "3 of 3 trials finished)")]
    for f, mtime in trained.items():  # not trained again
        assert (root / "b" / f"fold={f}-seed0" / "best.safetensors").stat().st_mtime_ns == mtime
    accs = [f["acc"] for f in summary["folds"]]
    assert summary["acc_mean"] == pytest.approx(sum(accs) / 3)
    assert summary["acc_se"] == pytest.approx(mean_se(accs)[1])
    saved = json.loads((root / "b" / "results.json").read_text())
    assert saved["acc_mean"] == summary["acc_mean"] and len(saved["roc"]["tar"]) == 201
    assert (root / "b" / "roc.png").is_file() and "± " in (root / "b" / "results.md").read_text()
    # a summary of some folds (--summary-only --folds 1,3) is of those folds alone
    some = summarize(view2_spec(base, "b", [1, 3]), storage, tmp_path / "some")
    assert [f["fold"] for f in some["folds"]] == [1, 3]
    assert some["acc_mean"] == pytest.approx((accs[0] + accs[2]) / 2)


def test_the_progress_counts_the_folds_asked_for_not_the_storages_others(
    view2_like, tmp_path, capsys
):
    """Folds run in parts under one name (``--folds 5,6``, later ``--folds 9,10``): the
    second part's progress is of its own folds ("1 of 1"), not "2 of 1"."""
    root, storage = tmp_path / "runs", f"sqlite:///{tmp_path / 'parts.db'}"
    for fold in (1, 2):
        run_benchmark(view2_spec(config(view2_like), "p", [fold]), str(view2_like), root, storage)
        assert ends(capsys.readouterr().err) == [(f"fold={fold}-seed0", "1 of 1 trials finished)")]


def test_folds_asked_for_run_alone_though_a_stopped_run_left_others_queued(
    view2_like, tmp_path, capsys
):
    """A run of all the folds, stopped, leaves the rest queued; ``--folds 3`` then trained the
    first queued folds instead (Optuna pops the study's first waiting trial), and went on to
    all of them. Now it trains fold 3 alone and leaves the others queued for a run that asks."""
    root, storage = tmp_path / "runs", f"sqlite:///{tmp_path / 'w.db'}"
    every = view2_spec(config(view2_like), "w", [1, 2, 3])
    queue_points(every, storage, seeds=1)  # as a stopped run of all three leaves them
    only = view2_spec(config(view2_like), "w", [3])
    line = queue_line(only, storage, 0, 10)
    assert "1 waiting from before" in line and "2 other trial(s) of the study" in line
    summary = run_benchmark(only, str(view2_like), root, storage)
    assert [f["fold"] for f in summary["folds"]] == [3] and completed_folds(storage, "w") == [3]
    assert ends(capsys.readouterr().err) == [("fold=3-seed0", "1 of 1 trials finished)")]
    assert sorted(p.name for p in (root / "w").glob("fold=*")) == ["fold=3-seed0"]
    study = optuna.load_study(study_name="w", storage=storage)
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert sorted(t.user_attrs["params"]["data.fold"] for t in waiting) == [1, 2]
    trained = (root / "w" / "fold=3-seed0" / "best.safetensors").stat().st_mtime_ns
    summary = run_benchmark(every, str(view2_like), root, storage)
    assert [f["fold"] for f in summary["folds"]] == [1, 2, 3]
    assert completed_folds(storage, "w") == [1, 2, 3]  # each once
    assert (root / "w" / "fold=3-seed0" / "best.safetensors").stat().st_mtime_ns == trained


def test_a_run_cut_short_leaves_its_finished_folds_records(view2_like, tmp_path, monkeypatch):
    """results.json is written as each fold finishes: a machine taken back during fold 2
    leaves fold 1's record, which --merge can join where the run folders are gone."""
    import siamese_faces.training.api as training_api

    real_train = training_api.train

    def train(cfg, *args, **kwargs):
        if cfg.data.fold == 2:
            raise KeyboardInterrupt  # the machine taken back: no Exception Optuna would catch
        return real_train(cfg, *args, **kwargs)

    monkeypatch.setattr(training_api, "train", train)
    root, storage = tmp_path / "runs", f"sqlite:///{tmp_path / 'cut.db'}"
    spec = view2_spec(config(view2_like), "cut", [1, 2])
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(spec, str(view2_like), root, storage)
    saved = root / "cut" / "results.json"
    records = earlier_folds([saved], spec)
    assert [f["fold"] for f in records] == [1] and completed_folds(storage, "cut") == [1]
    assert records[0]["acc"] == json.loads(saved.read_text())["acc_mean"]
    assert len(records[0]["tar"]) == 201  # its ROC too, not only its accuracy


def test_folds_of_an_earlier_summary_join_the_storages(view2_like, tmp_path):
    """Machines that share no storage (or a session whose run folders are gone) merge their
    results.json: a fold the storage finished wins over an earlier record of it."""
    base = config(view2_like)
    elsewhere = run_benchmark(
        view2_spec(base, "b", [1, 2]),
        str(view2_like),
        tmp_path / "a",
        f"sqlite:///{tmp_path / 'a.db'}",
    )
    here_storage = f"sqlite:///{tmp_path / 'h.db'}"
    here = run_benchmark(
        view2_spec(base, "b", [2, 3]), str(view2_like), tmp_path / "h", here_storage
    )
    earlier = earlier_folds(
        [tmp_path / "a" / "b" / "results.json"], view2_spec(base, "b", [1, 2, 3])
    )
    merged = summarize(
        view2_spec(base, "b", [1, 2, 3]), here_storage, tmp_path / "m", earlier=earlier
    )
    assert [f["fold"] for f in merged["folds"]] == [1, 2, 3]
    assert merged["folds"][0]["acc"] == elsewhere["folds"][0]["acc"]
    assert merged["folds"][0]["from"].endswith("results.json")
    assert "from" not in merged["folds"][1] and merged["folds"][1] == here["folds"][0]
    accs = [f["acc"] for f in merged["folds"]]
    assert (merged["acc_mean"], merged["acc_se"]) == pytest.approx(mean_se(accs))
    tars = [f["tar"] for f in merged["folds"]]
    assert merged["roc"]["folds"] == 3
    assert merged["roc"]["tar"] == pytest.approx([sum(t) / 3 for t in zip(*tars, strict=True)])
    # a record without scores or time (its run folder lost) counts for accuracy and AUC only
    bare = {**elsewhere["folds"][0], "tar": None, "train_seconds": None}
    only = summarize(view2_spec(base, "b", [1, 3]), here_storage, tmp_path / "o", earlier=[bare])
    assert (
        only["roc"]["folds"] == 1
        and only["train_seconds_per_fold"] == here["folds"][1]["train_seconds"]
    )
    assert "| 1 |" in (tmp_path / "o" / "results.md").read_text()
    # a record of accuracy alone (transcribed from a note): the mean AUC is of the others
    no_auc = {**bare, "auc": None}
    acc_only = summarize(
        view2_spec(base, "b", [1, 3]), here_storage, tmp_path / "n", earlier=[no_auc]
    )
    assert acc_only["acc_mean"] == pytest.approx((no_auc["acc"] + here["folds"][1]["acc"]) / 2)
    assert (acc_only["auc_mean"], acc_only["auc_folds"]) == (here["folds"][1]["auc"], 1)
    assert "(over 1 of 2 folds)" in (tmp_path / "n" / "results.md").read_text()
    alone = summarize(view2_spec(base, "b", [1]), here_storage, tmp_path / "u", earlier=[no_auc])
    assert alone["auc_folds"] == 0 and "AUC unknown" in (tmp_path / "u" / "results.md").read_text()
    # folds that trained on other threads or memory settings are the same recipe's
    machine = apply_overrides(base, ["train.threads=3", "train.reuse_memory=false"])
    again = earlier_folds([tmp_path / "a" / "b" / "results.json"], view2_spec(machine, "b", [1]))
    assert again == earlier
    # a summary written before a setting existed summarises that setting's default: the same
    # recipe, as a resume reads a checkpoint written before it
    saved = json.loads((tmp_path / "a" / "b" / "results.json").read_text())
    del saved["config"]["model"]["threshold_rule"]
    (tmp_path / "older.json").write_text(json.dumps(saved))
    older = earlier_folds([tmp_path / "older.json"], view2_spec(base, "b", [1]))
    assert [f["acc"] for f in older] == [f["acc"] for f in earlier]
    # the folds of another recipe are refused, naming the setting
    other = view2_spec(apply_overrides(base, ["train.lr=0.5"]), "b", [1, 2, 3])
    with pytest.raises(ValueError, match=r"results.json: .*train\.lr"):
        earlier_folds([tmp_path / "a" / "b" / "results.json"], other)
    with pytest.raises(ValueError, match="not a results.json"):
        earlier_folds([tmp_path / "h.db"], other)


def test_seeds_of_a_fold_are_scored_as_their_ensemble(tmp_path):
    """``--seeds 2``: each fold's two trainings, as one verifier (the mean of their scores,
    the threshold on their shared validation pairs), each seed's own accuracy beside it."""
    from siamese_faces.evaluation.ensemble import combine, run_scores

    # wider folds than view2_like's four pairs, so that two seeds' mean parts from either
    data, people, lines = tmp_path / "wider", {}, ["2\t6"]
    for k in (1, 2):
        names = [f"P{k}{j}_Person" for j in range(6)]
        people.update(dict.fromkeys(names, 3))
        lines += [f"{n}\t1\t2" for n in names]
        lines += [f"{n}\t3\t{names[j ^ 1]}\t{1 + j % 2}" for j, n in enumerate(names)]
    write_people(data / "lfw2", people)
    (data / "pairs.txt").write_text("\n".join(lines) + "\n")
    root, storage = tmp_path / "runs", f"sqlite:///{tmp_path / 'seeds.db'}"
    spec = view2_spec(config(data, *IDENTITY), "two", [1, 2])
    summary = run_benchmark(spec, str(data), root, storage, seeds=2)
    assert summary["seeds"] == 2 and [f["fold"] for f in summary["folds"]] == [1, 2]
    for f in summary["folds"]:
        dirs = [root / "two" / f"fold={f['fold']}-seed{s}" for s in (0, 1)]
        both = combine([run_scores(d) for d in dirs])
        assert (f["acc"], f["auc"]) == pytest.approx((both["test/acc"], both["test/auc"]))
        own = [json.loads((d / "results.json").read_text()) for d in dirs]
        assert [(m["seed"], m["acc"]) for m in f["seeds"]] == [
            (s, pytest.approx(r["test/acc"])) for s, r in zip((0, 1), own, strict=True)
        ]
        assert f["train_seconds"] == pytest.approx(sum(r["train_seconds"] for r in own))
    folds = summary["folds"]
    assert any(f["auc"] != f["seeds"][0]["auc"] for f in folds)  # not seed 0's numbers
    assert summary["acc_mean"] == pytest.approx((folds[0]["acc"] + folds[1]["acc"]) / 2)
    assert summary["seed_acc_means"] == [
        pytest.approx((folds[0]["seeds"][i]["acc"] + folds[1]["seeds"][i]["acc"]) / 2)
        for i in (0, 1)
    ]
    assert "the ensemble of its 2 seeds" in (root / "two" / "results.md").read_text()
    # each fold's ensemble is kept: the next summary reads it instead of scoring again
    kept = root / "two" / "ensembles" / "fold=1.json"
    mtime = kept.stat().st_mtime_ns
    assert summarize(spec, storage, root / "two", seeds=2)["folds"] == folds
    assert kept.stat().st_mtime_ns == mtime
    # summarised as one seed, the same storage gives seed 0's folds alone
    first = summarize(spec, storage, tmp_path / "first")
    assert [f["acc"] for f in first["folds"]] == [f["seeds"][0]["acc"] for f in folds]
    assert all("seeds" not in f for f in first["folds"]) and first["seeds"] == 1
    # a fold is summarised once all its seeds are done; none has a third one yet
    assert summarize(spec, storage, tmp_path / "three", seeds=3)["folds"] == []
    # merged with a summary of another seed count: refused
    with pytest.raises(ValueError, match=r"of 2 seed\(s\) each, this benchmark's of 1"):
        earlier_folds([root / "two" / "results.json"], spec)


def test_the_command_line(view2_like, tmp_path, capsys, monkeypatch):
    args = ["benchmark", "lfw", "--data", str(view2_like), "--folds", "2", "--root", str(tmp_path)]
    for s in [*TINY, "data.val_fraction=0.4", "train.epochs=1"]:
        args += ["--set", s]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "lfw-view2-default" in captured.out and "over 1 fold(s)" in captured.out
    # each line a fold's training prints says which fold (workers share one log)
    epochs = [line for line in captured.err.splitlines() if "train/loss" in line]
    assert epochs and all(line.startswith("fold=2-seed0: epoch ") for line in epochs)
    # and how it ended, with how far the benchmark is
    done = [line for line in captured.err.splitlines() if "done: best epoch" in line]
    assert len(done) == 1 and done[0].startswith("fold=2-seed0: done: best epoch 1 of 1, ")
    assert "test/acc " in done[0] and done[0].endswith("(1 of 1 trials finished)")
    assert main([*args, "--folds", "0"]) == 2
    assert "folds are numbered 1..10" in capsys.readouterr().err
    assert main([*args, "--seeds", "0"]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err
    # fold 2 has one seed of two finished: said so, not "nan ± nan% over 0 fold(s)"
    assert main([*args, "--summary-only", "--seeds", "2"]) == 0
    assert "no fold has all its 2 seeds finished yet" in capsys.readouterr().out
    saved = json.loads((tmp_path / "lfw-view2-default" / "results.json").read_text())
    assert saved["seeds"] == 1 and len(saved["folds"]) == 1  # the summary before, kept
    # the same name with another recipe: refused, not fold 2's old number under new settings
    for other in (
        [*args, "--set", "train.epochs=2"],
        [*args, "--summary-only", "--set", "train.lr=0.5"],
    ):
        assert main(other) == 2
        err = capsys.readouterr().err
        assert "'lfw-view2-default'" in err and "other settings" in err and "--name" in err
    assert main([*args, "--merge", str(tmp_path / "x.json")]) == 2
    assert "--merge goes with --summary-only" in capsys.readouterr().err
    elsewhere = [*args, "--summary-only", "--root", str(tmp_path / "none")]
    assert main(elsewhere) == 2
    assert "none/lfw-view2-default.db: no such storage" in capsys.readouterr().err
    saved = tmp_path / "lfw-view2-default" / "results.json"
    assert main([*elsewhere, "--merge", str(saved)]) == 0  # the earlier folds alone
    assert "over 1 fold(s)" in capsys.readouterr().out
    assert main([*args, "--folds", "1-2", "--summary-only", "--merge", str(saved)]) == 0
    assert "over 1 fold(s)" in capsys.readouterr().out  # fold 2, once: the storage's
    # a summary reads no image: without --data (nor $SIAMESE_FACES_DATA) it still prints,
    # while training without them is the error that says how to give one
    monkeypatch.delenv("SIAMESE_FACES_DATA", raising=False)
    bare = [a for a in args if a != str(view2_like) and a != "--data"]
    assert main([*bare, "--summary-only", "--merge", str(saved)]) == 0
    assert "over 1 fold(s)" in capsys.readouterr().out
    assert main(bare) == 2
    assert "no dataset given: pass --data DIR" in capsys.readouterr().err


def test_a_set_training_seed_is_the_folds_seed_not_overwritten_by_0(view2_like, tmp_path):
    """``--set train.seed=1`` queues each fold with seed 1 (a second seed of the folds, to
    join the first's in an ensemble); before, the queue wrote 0 over it without a word."""
    spec = view2_spec(config(view2_like, "train.seed=1"), "second", [3, 4])
    url = f"sqlite:///{tmp_path / 'second.db'}"
    assert queue_points(spec, url, seeds=2) == 4
    study = optuna.load_study(study_name="second", storage=url)
    params = [t.user_attrs["params"] for t in study.get_trials()]
    assert sorted((p["data.fold"], p["train.seed"]) for p in params) == [
        (3, 1),
        (3, 2),
        (4, 1),
        (4, 2),
    ]
    assert run_name({"data.fold": 3, "train.seed": 1}) == "fold=3-seed1"
    assert queue_points(spec, url, seeds=2) == 0  # queued once
    assert first_seeds(view2_spec(config(view2_like), "first", [3]), 1) == [0]  # unset: 0


def test_a_resumed_benchmark_says_what_still_runs_though_it_queues_nothing(view2_like, tmp_path):
    """Run again after a stop, a benchmark queues nothing new: its first line used to say
    only "0 trial(s) queued", which reads as nothing left to do."""
    spec = view2_spec(config(view2_like), "again", [1, 2, 3])
    url = f"sqlite:///{tmp_path / 'again.db'}"
    first = queue_points(spec, url, seeds=1)
    assert queue_line(spec, url, first, 10) == f"sweep again: 3 trial(s) queued now; storage {url}"
    study = optuna.load_study(study_name="again", storage=url)
    study.tell(study.ask(), 0.9)  # fold 1 finished
    study.ask()  # fold 2 taken by a worker that was then stopped
    line = queue_line(spec, url, queue_points(spec, url, seeds=1), 10)
    assert line.startswith("sweep again: 0 trial(s) queued now, 1 waiting from before, 1 running")
    assert line.endswith(f"from its checkpoint after the waiting ones), 1 finished; storage {url}")


def test_each_fold_is_taught_by_the_teacher_of_its_own_fold(view2_like, tmp_path):
    from ..training.test_distill import IDENTITY

    root, storage = tmp_path / "runs", f"sqlite:///{tmp_path / 'bench.db'}"
    teachers = view2_spec(config(view2_like, *IDENTITY, "train.epochs=1"), "t", [1, 2])
    run_benchmark(teachers, str(view2_like), root, storage)
    taught = config(
        view2_like,
        *IDENTITY,
        "train.epochs=1",
        f"train.teacher={root / 't'}/fold={{data.fold}}-seed0",
        "train.distill=1",
    )
    summary = run_benchmark(view2_spec(taught, "s", [1, 2]), str(view2_like), root, storage)
    assert [f["fold"] for f in summary["folds"]] == [1, 2]
    for k in (1, 2):
        ran = json.loads((root / "s" / f"fold={k}-seed0" / "config.json").read_text())
        assert ran["train"]["teacher"] == f"{root / 't'}/fold={k}-seed0"
    # a fold whose teacher is not there says which run it looked for
    with pytest.raises(ValueError, match=r"fold=3-seed0"):
        run_benchmark(view2_spec(taught, "s3", [3]), str(view2_like), root, storage)


@needs_postgres
def test_two_workers_share_the_folds_on_postgresql(view2_like, tmp_path):
    with postgres_database("siamese_faces_bench") as storage:
        spec = view2_spec(config(view2_like), "pg", [1, 2, 3])
        run_benchmark(spec, str(view2_like), tmp_path / "runs", storage, workers=2)
        assert completed_folds(storage, "pg") == [1, 2, 3]  # each fold once, none twice


def test_view1_people_file_trains_more_people_and_never_a_test_person(lfw_like):
    from ..helpers import TEST_PEOPLE, TRAIN_PEOPLE

    extra = {"Zed_Z": 2}
    write_people(lfw_like / "lfw2", extra)
    people = {**TRAIN_PEOPLE, **extra}
    lines = [str(len(people))] + [f"{n}\t{c}" for n, c in sorted(people.items())]
    (lfw_like / "peopleDevTrain.txt").write_text("\n".join(lines) + "\n")
    base = ["data.protocol=unrestricted", "data.val_fraction=0.3"]
    data = prepare(config(lfw_like, *base, "data.train_people=people-file"))
    identities = {data.paths[int(r)].parent.name for r in data.identity_rows}
    validated = {n for p in data.val.pairs for n in p.people}
    assert "Zed_Z" in identities and not identities & (set(TEST_PEOPLE) | validated)
    # A people file that names a test person is refused, not silently trimmed.
    (lfw_like / "peopleDevTrain.txt").write_text("2\nZed_Z\t2\nGus_G\t2\n")
    with pytest.raises(ValueError, match="in the test pairs"):
        prepare(config(lfw_like, *base, "data.train_people=people-file"))
    with pytest.raises(ConfigError, match="data.train_people"):
        config(lfw_like, "data.train_people=people-file")  # restricted: not allowed
