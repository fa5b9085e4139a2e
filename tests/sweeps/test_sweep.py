"""Sweeps on a real Optuna storage: SQLite always, PostgreSQL when CI provides one."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from siamese_faces.config import ConfigError
from siamese_faces.sweeps.results import table
from siamese_faces.sweeps.sweep import load_sweep, run_sweep, setting_text

from ..helpers import needs_postgres, postgres_database
from ..training.test_training import TINY

ROOT = Path(__file__).resolve().parents[2]


def sweep_file(tmp_path: Path, grid: str, name: str = "mini", extra: str = "") -> Path:
    settings: dict[str, dict[str, str]] = {}
    for item in TINY + ["train.epochs=2"]:
        key, value = item.split("=", 1)
        section, k = key.split(".")
        settings.setdefault(section, {})[k] = value
    lines = []
    for section, values in settings.items():
        lines.append(f"[{section}]")
        for k, v in values.items():
            v = f"[{v}]" if "," in v else v if v[0].isdigit() or v[0] in "-[" else f'"{v}"'
            lines.append(f"{k} = {v}")
    lines += [extra, "[sweep]", f'name = "{name}"', "[sweep.grid]", grid]
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def trials(storage: str, name: str):
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def keys_done(storage: str, name: str) -> list[str]:
    return sorted(
        json.dumps(t.user_attrs["params"], sort_keys=True)
        for t in trials(storage, name)
        if t.state == TrialState.COMPLETE
    )


@pytest.mark.parametrize(
    "path", sorted((ROOT / "experiments" / "study").glob("*.toml")), ids=lambda p: p.stem
)
def test_every_shipped_experiment_file_validates(path):
    spec = load_sweep(path)
    points = spec.points()
    assert points and len(spec.reference) == len(points)
    for ref in spec.reference:  # every reported number belongs to a point of the grid
        settings = {k: v for k, v in ref.items() if "." in k}
        assert any(all(p.get(k) == v for k, v in settings.items()) for p in points), ref


@pytest.mark.parametrize(
    "path", sorted((ROOT / "experiments" / "accuracy").glob("*.toml")), ids=lambda p: p.stem
)
def test_every_accuracy_sweep_holds_its_recipes_own_point(path):
    # A lever grid is read against the recipe as it is: that point must be one of its trials.
    spec = load_sweep(path)
    base = spec.config_for({})
    # as text, the way a trial's settings are applied: a crop box is a tuple in the config
    own = {
        k: setting_text(getattr(getattr(base, k.split(".")[0]), k.split(".")[1])) for k in spec.grid
    }
    assert own in [{k: setting_text(v) for k, v in p.items()} for p in spec.points()], own


def test_table1_is_the_studys_fifteen_runs():
    spec = load_sweep(ROOT / "experiments" / "study" / "table1_optimizer_batch_lr.toml")
    assert len(spec.points()) == 15
    assert {(p["train.batch_size"], p["train.lr"]) for p in spec.points()} == {
        (32, 1e-4),
        (128, 1e-4),
        (256, 1e-4),
        (32, 5e-4),
        (128, 1e-3),
    }


def test_bad_sweep_files_fail_before_running(tmp_path):
    with pytest.raises(ConfigError, match="train.lr"):
        load_sweep(sweep_file(tmp_path, '"train.lr" = [1e-3, -1]'))
    with pytest.raises(ConfigError, match="needs 2 entries"):
        load_sweep(sweep_file(tmp_path, '"train.lr+train.batch_size" = [[1e-3]]'))
    bare = tmp_path / "bare.toml"
    bare.write_text('base = "study2019"\n')
    with pytest.raises(ConfigError, match=r"no \[sweep\] table"):
        load_sweep(bare)


def run_two_workers(tmp_path, lfw_like, storage):
    # The default heartbeat, not 1 s: on a loaded machine (CI beside two trainings) a 1-s beat
    # went stale, and Optuna retried a trial its live worker was still training.
    f = sweep_file(tmp_path, '"train.lr" = [0.01, 0.02]\n"train.optimizer" = ["adam", "sgd"]')
    run_sweep(str(f), str(lfw_like), storage, workers=2, seeds=1, root=str(tmp_path / "runs"))
    done = keys_done(storage, "mini")
    assert len(done) == 4 and len(set(done)) == 4  # every point once, none twice
    head, rows, flat = table(
        load_sweep(f),
        [
            dict(t.user_attrs, trial=t.number)
            for t in trials(storage, "mini")
            if t.state == TrialState.COMPLETE
        ],
    )
    assert len(rows) == 4 and "test acc" in head
    for t in flat:
        assert (Path(t["run_dir"]) / "results.json").is_file()  # each an ordinary run folder
    # Running again trains nothing that is finished.
    run_sweep(str(f), str(lfw_like), storage, workers=2, seeds=1, root=str(tmp_path / "runs"))
    assert len(grid_trials(storage, "mini")) == 4


def grid_trials(storage: str, name: str):
    """Trials that hold a grid point (not a surplus one a pop race made; see below)."""
    return [t for t in trials(storage, name) if not t.user_attrs.get("surplus")]


def test_a_trial_made_after_the_queue_ran_dry_trains_nothing(tmp_path, lfw_like):
    # Two workers see one queued point; one pops it, Optuna gives the other a fresh trial.
    # That trial is no grid point: it must be pruned before training, not run as the base.
    from siamese_faces.sweeps.sweep import WorkerArgs, _objective_factory, open_study

    spec = load_sweep(sweep_file(tmp_path, '"train.lr" = [0.01]'))
    storage = f"sqlite:///{tmp_path / 'sweep.db'}"
    study = open_study(spec, storage)
    root = tmp_path / "runs"
    args = WorkerArgs(spec, storage, str(lfw_like), str(root), 1, 1, None, None)
    study.optimize(_objective_factory(spec, args), n_trials=1)  # nothing was queued
    (t,) = trials(storage, "mini")
    assert t.state == TrialState.PRUNED and t.user_attrs["surplus"] is True
    assert not root.exists()  # no run folder, nothing trained


def test_a_trial_keeps_its_own_thread_count_and_an_unset_one_gets_the_workers_share(
    tmp_path, lfw_like
):
    # A worker's share of the cores fills in an unset train.threads (0); one the user set
    # (the fix the "cores are busy" note suggests) was overwritten before, and a lone
    # worker beside another process then trained 2 threads on 1 free core (README: an epoch
    # of 33.3 s against 18.5 s with the set thread).
    from siamese_faces.sweeps.sweep import WorkerArgs, _objective_factory, open_study, queue_points

    spec = load_sweep(sweep_file(tmp_path, '"train.threads" = [0, 1]'))
    storage = f"sqlite:///{tmp_path / 'sweep.db'}"
    study = open_study(spec, storage)
    queue_points(spec, storage, 1)
    args = WorkerArgs(spec, storage, str(lfw_like), str(tmp_path / "runs"), 2, 1, None, None)
    study.optimize(_objective_factory(spec, args), n_trials=2)
    used = {
        run.name: json.loads((run / "config.json").read_text())["train"]["threads"]
        for run in (tmp_path / "runs" / "mini").iterdir()
    }
    assert used == {"threads=0-seed0": 2, "threads=1-seed0": 1}


def test_two_workers_on_sqlite(tmp_path, lfw_like):
    run_two_workers(tmp_path, lfw_like, f"sqlite:///{tmp_path / 'sweep.db'}")


@needs_postgres
def test_two_workers_on_postgresql(tmp_path, lfw_like):
    with postgres_database("siamese_faces_test") as storage:
        run_two_workers(tmp_path, lfw_like, storage)


def test_a_crashing_trial_fails_and_the_others_go_on(tmp_path, lfw_like):
    # kernels 15 on a 16-pixel input cannot build: that trial crashes at run time.
    f = sweep_file(tmp_path, '"model.kernels" = [[3, 3], [15, 15]]\n"train.lr" = [0.01, 0.02]')
    storage = f"sqlite:///{tmp_path / 'sweep.db'}"
    run_sweep(str(f), str(lfw_like), storage, workers=1, seeds=1, root=str(tmp_path / "runs"))
    states = sorted(t.state.name for t in trials(storage, "mini"))
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "FAIL"]


def early_in_trial(run: Path, epochs: int) -> bool:
    """Checkpointed, and in the first half of its epochs. On a loaded machine the state read
    can be stale by the time the signal lands: a trial near its end could finish in between,
    leaving the kill to land between trials (seen once in CI beside a training)."""
    metrics = run / "metrics.csv"
    if not ((run / "last.pt").exists() and metrics.exists()):
        return False
    return len(metrics.read_text().splitlines()) - 1 <= epochs // 2  # less its header


def test_killed_worker_loses_no_trial_and_runs_none_twice(tmp_path, lfw_like):
    f = sweep_file(tmp_path, '"train.lr" = [0.01, 0.02, 0.03]', extra="")
    epochs = 20  # long trials: the kill lands inside one
    text = (
        f.read_text()
        # every epoch, no early stop: a trial stopped early by patience can end between the
        # read of its state and the signal, and the kill then lands between trials (the
        # likely cause of one failure in CI beside a training)
        .replace("epochs = 2", f"epochs = {epochs}\npatience = {epochs}")
        .replace("batch_size = 2", "batch_size = 1")
    )
    f.write_text(text)
    storage = f"sqlite:///{tmp_path / 'sweep.db'}"
    cmd = [
        sys.executable,
        "-m",
        "siamese_faces",
        "sweep",
        str(f),
        "--data",
        str(lfw_like),
        "--storage",
        storage,
        "--root",
        str(tmp_path / "runs"),
        "--heartbeat",
        "1",
    ]
    env = {**os.environ, "SIAMESE_FACES_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, sent = time.time() + 120, False
    while time.time() < deadline and not sent:
        time.sleep(0.05)
        try:
            ts = trials(storage, "mini")
        except Exception:  # the study may not exist yet
            continue
        for t in ts:
            run = t.user_attrs.get("run_dir")
            if t.state == TrialState.RUNNING and run and early_in_trial(Path(run), epochs):
                proc.send_signal(signal.SIGKILL)  # mid-trial: after an epoch, before the end
                sent = True
                break
    proc.wait()
    assert sent, "the sweep finished before it could be killed"
    # Which trial died is read after the fact: the one the dead worker left RUNNING.
    running = [t.number for t in trials(storage, "mini") if t.state == TrialState.RUNNING]
    assert len(running) == 1, running
    killed = running[0]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    ts = trials(storage, "mini")
    assert ts[killed].state == TrialState.FAIL  # the dead worker's trial, failed by heartbeat
    done = keys_done(storage, "mini")
    assert len(done) == 3 and len(set(done)) == 3  # nothing lost, nothing done twice


def spawned_children(pid: int) -> list[int]:
    """The worker processes ``pid`` spawned (Linux's /proc: each process's parent)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:  # ended while we looked
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Not ended: a process whose parent died may stay a zombie where nothing reaps it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_workers_end_when_the_command_that_started_them_is_killed(tmp_path, lfw_like):
    f = sweep_file(tmp_path, '"train.lr" = [0.01, 0.02, 0.03]')
    epochs = 500  # trials far longer than the test: an orphaned worker would train on
    f.write_text(f.read_text().replace("epochs = 2", f"epochs = {epochs}\npatience = {epochs}"))
    storage = f"sqlite:///{tmp_path / 'sweep.db'}"
    cmd = [sys.executable, "-m", "siamese_faces", "sweep", str(f), "--data", str(lfw_like)]
    cmd += ["--storage", storage, "--root", str(tmp_path / "runs"), "--workers", "2"]
    env = {**os.environ, "SIAMESE_FACES_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not workers:
            time.sleep(0.2)
            with contextlib.suppress(Exception):  # the study may not exist yet
                ts = trials(storage, "mini")
                if sum(t.state == TrialState.RUNNING for t in ts) == 2:
                    workers = spawned_children(proc.pid)
        assert len(workers) == 2, "both workers should be training"
        proc.send_signal(signal.SIGKILL)  # no chance to stop its workers itself
        proc.wait()
        deadline = time.time() + 30
        while time.time() < deadline and any(running(w) for w in workers):
            time.sleep(0.2)
        assert not any(running(w) for w in workers), "a worker outlived its command"
    finally:
        for w in workers:  # a failing run leaves nothing training behind it
            with contextlib.suppress(OSError):
                os.kill(w, signal.SIGKILL)
        proc.kill()


def test_seconds_and_epochs_print_whole():
    from siamese_faces.sweeps.results import _fmt

    assert _fmt([2192.4], whole=True) == "2192"  # not 2.19e+03
    assert _fmt([100.0, 120.0], whole=True) == "110 ± 14"
    assert _fmt([0.65, 0.67], pct=True) == "66.0 ± 1.4%"


def test_the_heartbeat_reaches_optunas_storage(tmp_path):
    from siamese_faces.sweeps.sweep import open_study

    spec = load_sweep(sweep_file(tmp_path, '"train.lr" = [0.01]'))
    study = open_study(spec, f"sqlite:///{tmp_path / 'hb.db'}", heartbeat=3)
    assert study._storage.get_heartbeat_interval() == 3


def test_a_study_refuses_other_settings_under_its_name(tmp_path):
    """Queued again under the same name with another recipe, every point would find its
    trial finished, train nothing, and summarise the old recipe's numbers as the new one's."""
    import dataclasses

    from siamese_faces.config import apply_overrides
    from siamese_faces.sweeps.sweep import open_study

    spec = load_sweep(sweep_file(tmp_path, '"train.lr" = [0.01]'))
    url = f"sqlite:///{tmp_path / 'same.db'}"
    open_study(spec, url)

    def reopened(*settings: str):
        return open_study(dataclasses.replace(spec, base=apply_overrides(spec.base, settings)), url)

    for other in (["train.epochs=7"], ["train.seed=1"], ["train.lr=0.5"]):
        with pytest.raises(ValueError, match=rf"{other[0].split('=')[0]}.*--name"):
            reopened(*other)
    # where the data lies, and what runs it, may differ from machine to machine
    machines = reopened("data.dir=/elsewhere/lfw-a", "train.threads=1", "train.device=cpu")
    assert machines.user_attrs["base_settings"] == json.loads(spec.base.to_json())  # kept
    assert open_study(spec, url).study_name == spec.name  # the same settings: opened


def test_opening_a_study_or_waiting_on_it_prints_no_experimental_warning(tmp_path):
    import warnings

    from siamese_faces.sweeps.sweep import open_study, wait_for_others

    spec = load_sweep(sweep_file(tmp_path, '"train.lr" = [0.01]'))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = open_study(spec, f"sqlite:///{tmp_path / 'quiet.db'}", heartbeat=3)
    assert not [w for w in caught if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]
    # ...and the heartbeat that warning was about is still set.
    assert study._storage.get_heartbeat_interval() == 3
    # Nor does a worker that waits for the others' trials (it looks for stale ones each beat).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wait_for_others(study, 0)
    assert not [w for w in caught if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]


def test_labelled_stream_starts_every_line_with_the_label():
    import io

    from siamese_faces.sweeps.sweep import Labelled

    out = io.StringIO()
    stream = Labelled(out, "fold=3: ")
    assert stream.write("epoch 1\nepo") == len("epoch 1\nepo")
    stream.write("ch 2\n")
    stream.write("\n")
    print("done", file=stream)
    assert out.getvalue() == "fold=3: epoch 1\nfold=3: epoch 2\nfold=3: \nfold=3: done\n"


def _claim_all(url: str, barrier, out) -> None:
    """A worker process: claim queued trials (Optuna's own pop) until none is left."""
    from siamese_faces.sweeps.sweep import _storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="queue", storage=_storage(url))
    barrier.wait()  # all at once: the race needs them side by side
    claimed = []
    while (trial_id := study._pop_waiting_trial_id()) is not None:
        claimed.append(trial_id)
    out.put(claimed)


def test_workers_on_sqlite_never_claim_one_queued_trial_twice(tmp_path):
    """SQLite ignores the row lock Optuna's claim relies on; without a transaction that takes
    the write lock first, four processes claim some of the queued trials twice (this test
    fails with ``_write_lock_first`` left out)."""
    import multiprocessing as mp

    from siamese_faces.sweeps.sweep import _storage

    url = f"sqlite:///{tmp_path / 'queue.db'}"
    study = optuna.create_study(study_name="queue", storage=_storage(url))
    for i in range(40):
        study.enqueue_trial({"x": i})
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    workers = [ctx.Process(target=_claim_all, args=(url, barrier, out)) for _ in range(4)]
    for w in workers:
        w.start()
    claimed = [t for _ in workers for t in out.get(timeout=120)]
    for w in workers:
        w.join(timeout=60)
    assert sorted(claimed) == sorted({t._trial_id for t in study.get_trials()})  # each once


def test_accuracy_by_setting_plots_a_list_setting_one_tick_a_value():
    # A crop box is a list: the figure once crashed hashing it (accuracy/default_crop.toml).
    from siamese_faces.sweeps.results import accuracy_by_setting

    boxes = [[0.25, 0.22, 0.75, 0.78], [0.2, 0.16, 0.8, 0.84]]
    trials = [
        {"params": {"data.crop": box, "train.lr": lr, "train.seed": 0}, "test/acc": 0.8}
        for box in boxes
        for lr in (1e-3, 2e-4)
    ]
    crop_ax, lr_ax = accuracy_by_setting(trials).axes
    assert [t.get_text() for t in crop_ax.get_xticklabels()] == sorted(
        ["0.25,0.22,0.75,0.78", "0.2,0.16,0.8,0.84"]
    )
    assert [t.get_text() for t in lr_ax.get_xticklabels()] == ["0.0002", "0.001"]  # numeric order
