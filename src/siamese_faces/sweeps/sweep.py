"""Hyper-parameter sweeps on Optuna: one machine or many, each trial an ordinary run folder.

A sweep file is an experiment file (TOML, see :mod:`siamese_faces.config`) with a
``[sweep]`` table::

    base = "study2019"
    [sweep]
    name = "study-table1"
    [sweep.grid]                       # every combination (GridSampler)
    "train.optimizer" = ["adam", "rmsprop", "sgd"]
    "train.batch_size+train.lr" = [[32, 1e-4], [128, 1e-3]]   # settings that move together
    [[sweep.reference]]                # the study's reported numbers for a point (optional)
    exp = "1.1"
    "train.optimizer" = "adam"
    ...

or ``[sweep.search]`` (TPE) with ``"train.lr" = {low = 1e-5, high = 1e-2, log = true}`` and
``trials = N``.

How the guarantees are kept, with Optuna's own machinery and no scheduler of ours:
- grid points (x seeds) go into Optuna's trial queue; a worker takes a queued trial by an
  atomic state change in the database, so two workers never take the same one (Optuna's
  GridSampler, which hands out points without such a lock, is not used for that reason);
- a killed worker stops its heartbeat; the next worker to start a trial marks it failed and
  Optuna's retry callback queues it again; the retry resumes the run folder's last checkpoint;
- a trial whose settings match a lower-numbered running or finished trial is pruned as a
  duplicate before it trains, so re-queueing from several machines at once is harmless;
- when two workers race for the last queued point, Optuna hands the loser a fresh trial; in a
  grid sweep that trial is pruned (marked ``surplus``) before anything trains;
- a worker takes only the trials its own run asks for (a benchmark's ``--folds 5,6``): Optuna
  hands out the study's first queued trial, so one of another part (folds a stopped run of all
  ten left queued) is pruned (``not_ours``) before it trains and queued again for a run that
  asks for it;
- running the command again queues only points with no finished trial, so nothing finished
  is trained again and crashed trials get another go;
- a study remembers the base settings it first ran with and refuses others under its name:
  its finished trials would otherwise stand, untrained again, for the new settings' results.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import multiprocessing as mp
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..config import Config, ConfigError, apply_overrides, changed_settings, load_file, read_toml
from ..training.api import check_config
from ..training.sources import check_sources_exist

HEARTBEAT_S = 10  # default; a killed worker's trial is declared dead after 2 missed beats


@dataclass
class SweepSpec:
    name: str
    base: Config
    grid: dict[str, list] = field(default_factory=dict)  # "a.b+c.d" -> values
    search: dict[str, dict] = field(default_factory=dict)  # "a.b" -> {low, high, log} | {choices}
    trials: int = 0
    reference: list[dict] = field(default_factory=list)
    file: Path | None = None

    def points(self) -> list[dict[str, object]]:
        """Every grid point as {setting: value}; settings joined by '+' move together."""
        keys = list(self.grid)
        out = []
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            point = {}
            for key, value in zip(keys, combo, strict=True):
                names = key.split("+")
                values = value if len(names) > 1 else [value]
                if len(values) != len(names):
                    raise ConfigError(
                        f"{self.file}: sweep.grid {key!r} value {value!r} needs "
                        f"{len(names)} entries, one per setting."
                    )
                point.update(dict(zip(names, values, strict=True)))
            out.append(point)
        return out

    def config_for(self, params: dict[str, object]) -> Config:
        """The base config with ``params`` applied (``seed`` -> train.seed) and filled in
        where a setting names them (``fill_in``), validated."""
        config = apply_overrides(self.base, [f"{k}={setting_text(v)}" for k, v in params.items()])
        config = fill_in(config, params)
        check_config(config)  # what the tower and the loss ask, as training would check it
        return config


def fill_in(config: Config, params: dict[str, object]) -> Config:
    """Each text setting that names one of the trial's settings in braces, with its value:
    so each View 2 fold can have its own teacher, the run of the same fold
    (``train.teacher = "runs/view2/view2-unrestricted/fold={data.fold}-seed0"``)."""
    filled = []
    for section in fields(config):
        values = getattr(config, section.name)
        for setting in fields(values):
            text = getattr(values, setting.name)
            if not isinstance(text, str) or "{" not in text:
                continue
            new = text
            for key, value in params.items():
                new = new.replace("{" + key + "}", setting_text(value))
            if new != text:
                filled.append(f"{section.name}.{setting.name}={new}")
    return apply_overrides(config, filled) if filled else config


def setting_text(v) -> str:
    """A setting's value as ``--set`` takes it: a list (a crop box) comma-joined."""
    return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file: every point must make a valid configuration."""
    path = Path(path)
    raw = read_toml(path, "sweep file")
    sweep = raw.pop("sweep", None)
    if not isinstance(sweep, dict):
        raise ConfigError(f"{path}: no [sweep] table; add [sweep] with name and a grid or search.")
    base = load_file(path) if raw else Config()
    allowed = {"name", "grid", "search", "trials", "reference"}
    if set(sweep) - allowed:
        raise ConfigError(
            f"{path}: unknown [sweep] keys {sorted(set(sweep) - allowed)}; use {sorted(allowed)}."
        )
    spec = SweepSpec(
        sweep.get("name") or path.stem,
        base,
        sweep.get("grid", {}),
        sweep.get("search", {}),
        int(sweep.get("trials", 0)),
        sweep.get("reference", []),
        path,
    )
    if bool(spec.grid) == bool(spec.search):
        raise ConfigError(f"{path}: give either [sweep.grid] or [sweep.search] (with trials).")
    if spec.search and spec.trials < 1:
        raise ConfigError(f"{path}: a search needs trials = N (how many to run).")
    for point in spec.points() if spec.grid else []:
        spec.config_for(point)  # a bad point fails now, before any worker starts
    _check_name(spec.name, path)
    for key, dist in spec.search.items():
        _check_range(key, dist, spec, path)
    return spec


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _check_name(name, path: Path) -> None:
    # The name is a folder under --root and a study in a shared storage: never a path.
    if not isinstance(name, str) or not NAME.match(name) or ".." in name:
        raise ConfigError(
            f"{path}: sweep name {name!r}: use letters, digits, '.', '_' and '-' only (it names "
            'a folder under --root), e.g. name = "study-table1".'
        )


def _check_range(key: str, dist, spec: SweepSpec, path: Path) -> None:
    """A search range: low <= high (both valid values of the setting), or choices."""
    if not isinstance(dist, dict) or not ({"low", "high"} <= set(dist) or "choices" in dist):
        raise ConfigError(f"{path}: sweep.search {key!r} needs low/high (and log) or choices.")
    values = list(dist["choices"]) if "choices" in dist else [dist["low"], dist["high"]]
    if "choices" not in dist and not dist["low"] <= dist["high"]:
        raise ConfigError(
            f"{path}: sweep.search {key!r}: low {dist['low']} is above high {dist['high']}."
        )
    for value in values:  # a setting that does not exist, or a value it refuses, fails now
        spec.config_for({key: value})


def storage_file(spec: SweepSpec, root: Path) -> Path:
    """The SQLite file a sweep uses under ``root`` when no storage URL is given."""
    return root / f"{spec.name}.db"


def default_storage(spec: SweepSpec, root: Path) -> str:
    return f"sqlite:///{storage_file(spec, root).resolve()}"


@contextlib.contextmanager
def heartbeats_quiet():
    """Optuna labels heartbeats "experimental"; its warning, printed by every worker where the
    storage is made and where it looks for stale trials, asks nothing of the user. The tests
    pin the behaviour this relies on."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _storage(url: str, heartbeat: int = HEARTBEAT_S):
    import optuna

    kwargs = {}
    if url.startswith("sqlite"):
        # Several worker processes write to one SQLite file: wait for the lock, don't fail.
        kwargs = {"connect_args": {"timeout": 60}}
    with heartbeats_quiet():
        storage = optuna.storages.RDBStorage(
            url,
            engine_kwargs=kwargs,
            heartbeat_interval=heartbeat,
            grace_period=2 * heartbeat,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=3
            ),
        )
    if url.startswith("sqlite"):
        _write_lock_first(storage.engine)
    return storage


def _write_lock_first(engine) -> None:
    """Every SQLite transaction of ``engine`` takes the write lock when it begins.

    Optuna claims a queued trial by reading that it waits and then marking it running, in one
    transaction whose row lock (SELECT ... FOR UPDATE) SQLite ignores: two workers could both
    read "waiting" and both train the point (Optuna issue #4002; seen in CI, and in
    tests/sweeps/test_sweep.py's four processes claiming one queue). BEGIN IMMEDIATE makes the
    read and the claim one step (SQLAlchemy's recipe for pysqlite's transactions). PostgreSQL
    locks the row.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # pysqlite: SQLAlchemy's BEGIN, not its own

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made while Optuna set up the schema: made again, locked


def open_study(spec: SweepSpec, storage_url: str, heartbeat: int = HEARTBEAT_S):
    import optuna

    # Grid points are all queued trials with fixed settings, so no sampler draws them.
    # (GridSampler assigns points to workers without a lock and can run one twice when
    # several machines share a study; the queue's pop is atomic, on SQLite through
    # _write_lock_first.) Searches use TPE.
    study = optuna.create_study(
        study_name=spec.name,
        storage=_storage(storage_url, heartbeat),
        sampler=optuna.samplers.TPESampler(seed=0),
        direction="maximize",
        load_if_exists=True,
    )
    check_base_settings(study, spec)
    return study


# Where the data lies and what runs it may differ from machine to machine (beside the
# config's own MACHINE_SETTINGS); what is trained may not.
NOT_COMPARED = ("data.dir", "train.device")


def check_base_settings(study, spec: SweepSpec) -> None:
    """Keep ``spec``'s base settings in ``study`` the first time it is opened, and refuse a
    later opening with other ones: queueing would find each point's trial finished, train
    nothing, and summarise the old settings' numbers as the new ones'. A second seed of a
    benchmark, or a recipe changed, is another study (``--name``)."""
    mine = spec.base.to_dict()
    saved = study.user_attrs.get("base_settings")
    if saved is None:  # a new study (or one from before this check): these settings are its
        study.set_user_attr("base_settings", mine)
        return
    differ = changed_settings(saved, mine, source=f"study {spec.name!r}", ignore=NOT_COMPARED)
    if differ:
        shown = ", ".join(differ[:4]) + (", ..." if len(differ) > 4 else "")
        raise ValueError(
            f"study {spec.name!r} in this storage ran with other settings ({shown}); its "
            "finished trials would stand for these. Give these settings a name of their own "
            "(a benchmark's --name, a sweep file's name), or the settings it ran with."
        )


def trial_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


def first_seeds(spec: SweepSpec, seeds: int) -> list[int]:
    """The ``seeds`` training seeds of each point: train.seed of the base config and on."""
    return list(range(spec.base.train.seed, spec.base.train.seed + max(1, seeds)))


def grid_trials(spec: SweepSpec, seeds: int) -> list[dict]:
    """The settings of every trial of a grid: each point with each of its seeds."""
    return [
        {**point, "train.seed": seed}
        for point in spec.points()
        for seed in first_seeds(spec, seeds)
    ]


def grid_keys(spec: SweepSpec, seeds: int) -> set[str] | None:
    """The keys of the trials this run asks for: a grid's points x seeds, or None for a search
    (whose trials are all its own). A study may hold others: a benchmark's folds run in parts
    under one name (``--folds 5,6`` after a run of all ten was stopped)."""
    return {trial_key(params) for params in grid_trials(spec, seeds)} if spec.grid else None


def is_ours(trial, ours: set[str] | None) -> bool:
    return ours is None or trial_key(trial.user_attrs.get("params", {})) in ours


def requeue_others(study, trial) -> None:
    """Queue again a trial that a worker popped though it is no point of its own run (see the
    objective): once it is pruned, so that no worker sees it twice, running and waiting."""
    if trial.user_attrs.get("not_ours"):
        study.enqueue_trial({}, user_attrs={"params": trial.user_attrs["params"]})


def queue_points(
    spec: SweepSpec, storage_url: str, seeds: int, heartbeat: int = HEARTBEAT_S
) -> int:
    """Queue every grid point x seed that has no finished, queued or running trial. The seeds
    start at the base config's train.seed, so that ``--set train.seed=1`` trains seed 1 (a
    second seed of a benchmark's folds beside the first) instead of being overwritten by 0."""
    from optuna.trial import TrialState

    study = open_study(spec, storage_url, heartbeat)
    live = {TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING}
    have = {
        trial_key(t.user_attrs.get("params", {}))
        for t in study.get_trials(deepcopy=False)
        if t.state in live
    }
    added = 0
    for params in grid_trials(spec, seeds):
        if trial_key(params) not in have:
            study.enqueue_trial({}, user_attrs={"params": params})
            added += 1
    return added


@dataclass
class WorkerArgs:
    spec: SweepSpec  # pickled into each worker process
    storage: str
    data: str
    root: str
    threads: int
    seeds: int
    max_trials: int | None
    cache_dir: str | None
    heartbeat: int = HEARTBEAT_S
    # Called (picklable, no arguments) in the worker after each trial it finishes: e.g. a
    # benchmark's summary, kept current so that a run cut short still leaves its records.
    after_trial: Callable[[], object] | None = None


def check_ours_to_run(trial, params: dict, ours: set[str] | None) -> None:
    """Prune ``trial`` (before anything trains) when this run did not ask for it, or when an
    earlier trial of the same settings finished or is running."""
    import optuna
    from optuna.trial import TrialState

    key = trial_key(params)
    if ours is not None and key not in ours:
        # Optuna pops the first queued trial of the study, whichever run queued it: one of the
        # folds a stopped run of all ten left waiting is not what --folds 5,6 asked for.
        # Given back to the queue (requeue_others) for a run that asks for it.
        trial.set_user_attr("not_ours", True)
        raise optuna.TrialPruned(f"{run_name(params)} is not one of this run's trials")
    for other in trial.study.get_trials(deepcopy=False):
        if (
            other.number < trial.number
            and other.state in (TrialState.COMPLETE, TrialState.RUNNING)
            and trial_key(other.user_attrs.get("params", {})) == key
        ):
            raise optuna.TrialPruned(f"duplicate of trial {other.number}")


def _objective_factory(spec: SweepSpec, args: WorkerArgs):
    import optuna

    from ..runtime import DistContext, pick_device
    from ..training.api import finished, train

    progress = progress_counter(spec, args.seeds)
    ours = grid_keys(spec, args.seeds)

    def objective(trial: optuna.Trial) -> float:
        params = trial.user_attrs.get("params")
        if params is None and spec.grid:
            # Another worker took the last queued point between our look at the queue and
            # Optuna's pop, so Optuna made a fresh trial: it is no point of the grid.
            trial.set_user_attr("surplus", True)
            raise optuna.TrialPruned("no queued grid point left (another worker took it)")
        if params is None:  # a search trial: TPE proposes, we record it the same way
            params = {
                k: (
                    trial.suggest_categorical(k, d["choices"])
                    if "choices" in d
                    else trial.suggest_float(k, d["low"], d["high"], log=d.get("log", False))
                )
                for k, d in spec.search.items()
            }
            seeds = first_seeds(spec, args.seeds)
            params["train.seed"] = seeds[trial.number % len(seeds)]
            trial.set_user_attr("params", params)
        check_ours_to_run(trial, params, ours)
        cfg = spec.config_for(params)
        cfg = apply_overrides(cfg, [f"data.dir={args.data}"])
        if not cfg.train.threads:  # the worker's share of the cores; a set value wins
            cfg = apply_overrides(cfg, [f"train.threads={args.threads}"])
        run_dir = Path(args.root) / spec.name / run_name(params)
        trial.set_user_attr("run_dir", str(run_dir))
        resume = (run_dir / "last.pt").is_file()  # a retried trial continues where it died
        # One process a trial, on the device the configuration asks for (CUDA when present).
        ctx = DistContext(device=pick_device(cfg.train.device))
        with contextlib.redirect_stderr(Labelled(sys.stderr, f"{run_dir.name}: ")):
            results = train(
                cfg, run_dir, resume, name=run_dir.name, cache_dir=args.cache_dir, ctx=ctx
            ).results
            # A sweep runs for hours: each trial says how it ended and how far the sweep is.
            print(f"{finished(results, run_dir)} {progress(trial.study)}", file=sys.stderr)
        for k, v in results.items():
            if isinstance(v, (int, float, str, bool)):
                trial.set_user_attr(k, v)
        return float(results["val/acc"])  # chosen on validation; test is only recorded

    return objective


def progress_counter(spec: SweepSpec, seeds: int) -> Callable[[object], str]:
    """How far the sweep is, said as a trial ends: "(N of M trials finished)", N counting
    the one ending. A grid's count is of its own points x seeds: the study may hold others
    (a benchmark's folds run in parts under one name)."""
    from optuna.trial import TrialState

    ours = grid_keys(spec, seeds)
    total = spec.trials if ours is None else len(ours)

    def said(study) -> str:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        done = [t for t in done if is_ours(t, ours)]
        return f"({len(done) + 1} of {total} trials finished)"

    return said


class Labelled(io.TextIOBase):
    """A text stream that starts each line with ``label``: which trial an epoch line is of,
    in a log that several workers write at once."""

    def __init__(self, stream, label: str) -> None:
        self.stream, self.label, self.line_start = stream, label, True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            out.append(self.label + piece if self.line_start else piece)
            self.line_start = piece.endswith(("\n", "\r"))
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def run_name(params: dict) -> str:
    parts = []
    for k, v in sorted(params.items()):
        if k != "train.seed":
            parts.append(f"{k.split('.')[-1]}={setting_text(v)}")
    return ("__".join(parts) or "base") + f"-seed{params.get('train.seed', 0)}"


def end_with_parent() -> None:
    """End this spawned process (SIGTERM) as soon as the process that started it ends, killed
    or not. A benchmark or sweep stopped by ``kill`` (a job scheduler's, ``timeout``'s) would
    otherwise leave its workers training on, unseen, holding their trials' heartbeats, while
    the command run again to resume starts new ones beside them."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent's end of the pipe closes: it has exited
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def spawned_worker(args: WorkerArgs) -> None:
    """A worker process of :func:`run_sweep` that ends with the command that started it; a
    killed worker's trial is retried, resuming its run folder (:func:`worker`)."""
    end_with_parent()
    worker(args)


def worker(args: WorkerArgs) -> None:
    """One process: take queued trials (or TPE ones) until none are queued or running.

    A trial still RUNNING may belong to a worker that died: waiting for it, and failing it
    once its heartbeat is stale (which queues a retry), is what makes sure no trial is lost.
    """
    import optuna
    import torch
    from optuna.trial import TrialState

    torch.set_num_threads(args.threads)
    os.environ.setdefault("SIAMESE_FACES_PROGRESS", "0")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = args.spec
    study = open_study(spec, args.storage, args.heartbeat)
    objective = _objective_factory(spec, args)

    ours = grid_keys(spec, args.seeds)

    def count(*states):  # of this run's own trials
        return sum(is_ours(t, ours) for t in study.get_trials(deepcopy=False, states=states))

    def nothing_to_take() -> bool:
        if spec.grid:
            return count(TrialState.WAITING) == 0
        # Enough finished or under way; or give up on a search whose trials only crash.
        return (
            count(TrialState.COMPLETE, TrialState.RUNNING) >= spec.trials
            or count(TrialState.FAIL) >= spec.trials
        )

    def stop_when_done(study, trial) -> None:
        if nothing_to_take():
            study.stop()

    def after_each(study, trial) -> None:
        if args.after_trial is not None and trial.state == TrialState.COMPLETE:
            args.after_trial()

    taken = 0
    while True:
        if not nothing_to_take():
            before = count(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
            left = None if args.max_trials is None else args.max_trials - taken
            if left is not None and left <= 0:
                return
            study.optimize(
                objective,
                n_trials=left,
                callbacks=[requeue_others, after_each, stop_when_done],
                catch=(Exception,),
                gc_after_trial=True,
            )
            taken += count(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED) - before
            continue
        if count(TrialState.RUNNING) == 0:
            return
        wait_for_others(study, args.heartbeat)


def wait_for_others(study, heartbeat: int) -> None:
    """Fail the trials whose worker died (their heartbeat is stale), which queues each again,
    then wait a beat for the running ones. (Optuna quiets its own calls of this inside
    ``optimize``; here we quiet ours.)"""
    import optuna

    with heartbeats_quiet():
        optuna.storages.fail_stale_trials(study)
    time.sleep(heartbeat)


def queue_line(
    spec: SweepSpec, storage_url: str, queued: int, heartbeat: int, seeds: int = 1
) -> str:
    """What the command will do, said before it starts: a resumed sweep queues nothing new,
    yet its waiting and interrupted trials still run (the interrupted ones after the waiting,
    from their checkpoints, once Optuna finds their heartbeats stopped). Trials of the study
    that this run does not ask for (other folds) are counted apart: they are left alone."""
    from optuna.trial import TrialState

    trials = open_study(spec, storage_url, heartbeat).get_trials(deepcopy=False)
    ours = grid_keys(spec, seeds)
    states = [t.state for t in trials if is_ours(t, ours)]
    earlier = states.count(TrialState.WAITING) - queued
    running, done = states.count(TrialState.RUNNING), states.count(TrialState.COMPLETE)
    line = f"sweep {spec.name}: {queued} trial(s) queued now"
    if earlier > 0:  # (another machine may already have taken some of those queued)
        line += f", {earlier} waiting from before"
    if running:
        line += (
            f", {running} running elsewhere or stopped mid-way (a stopped one runs again from "
            "its checkpoint after the waiting ones)"
        )
    if done:
        line += f", {done} finished"
    live = (TrialState.WAITING, TrialState.RUNNING)
    others = sum(t.state in live and not is_ours(t, ours) for t in trials)
    if others:
        line += f"; {others} other trial(s) of the study waiting or stopped, not run now"
    return f"{line}; storage {storage_url}"


def run_sweep(
    spec_file: str | Path | SweepSpec,
    data: str,
    storage: str | None,
    workers: int,
    seeds: int,
    root: str = "runs/sweeps",
    cache_dir: str | None = None,
    max_trials: int | None = None,
    heartbeat: int = HEARTBEAT_S,
    after_trial: Callable[[], object] | None = None,
) -> dict:
    """Queue the sweep (a file, or a spec built in code) and run ``workers`` processes on
    this machine, each calling ``after_trial`` after every trial it finishes; returns a
    summary."""
    from ..data.rundata import prepare

    spec = spec_file if isinstance(spec_file, SweepSpec) else load_sweep(spec_file)
    configs = [spec.config_for(point) for point in (spec.points() if spec.grid else [{}])]
    # The data of the first trial, read before anything is queued: a bad folder or pairs file
    # stops here, and the image cache is decoded once, not by every worker at once.
    prepare(apply_overrides(configs[0], [f"data.dir={data}"]), cache_dir=cache_dir)
    for config in configs:  # every trial's teacher is there
        check_sources_exist(config)
    root_path = Path(root)
    root_path.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(spec, root_path)
    queued = queue_points(spec, storage, seeds, heartbeat) if spec.grid else 0
    print(queue_line(spec, storage, queued, heartbeat, seeds), file=sys.stderr)
    threads = max(1, (os.cpu_count() or 1) // workers)
    wargs = WorkerArgs(
        spec,
        storage,
        data,
        str(root_path),
        threads,
        seeds,
        max_trials,
        cache_dir,
        heartbeat,
        after_trial,
    )
    start = time.perf_counter()
    if workers == 1:
        worker(wargs)
    else:
        ctx = mp.get_context("spawn")  # a fresh interpreter each: no torch state shared
        procs = [ctx.Process(target=spawned_worker, args=(wargs,)) for _ in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    return {
        "name": spec.name,
        "storage": storage,
        "queued": queued,
        "seconds": round(time.perf_counter() - start, 1),
    }
