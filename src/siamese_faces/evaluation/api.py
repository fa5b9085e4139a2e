"""Using a trained run, as functions: open its data, evaluate, one-shot, verify files.

The command line (``siamese-faces evaluate``, ``verify``, ``oneshot``), the report and the
tests all call these; nothing here parses arguments or prints.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import DataConfig
from ..data.generate import test_pairs_for
from ..data.omniglot import parse_runs
from ..data.rundata import RunData, prepare, prepare_test
from ..data.source import saved_name, saved_name_for, source_of
from ..data.splits import load_split
from ..io import atomic_write_text, csv_text
from .metrics import choose_threshold, ten_fold, verification_report
from .oneshot import Trial, run_trials, sample_trials
from .predict import pair_outputs
from .runs import LoadedRun


@dataclass
class Evaluation:
    """Every verification metric on a run's test pairs, and each pair's score."""

    result: dict  # JSON-able: accuracies at both thresholds, AUC, EER, TAR@FAR, 10-fold
    rows: list[dict]  # one a pair: name1, image1, name2, image2, same, fold, score

    @property
    def name(self) -> str:
        """The scored pairs file's stem: ``eval-<name>.json``, ``scores-<name>.csv``."""
        return saved_name(self.result["pairs_file"])


def validation_data(
    run: LoadedRun,
    data: DataConfig | None = None,
    *,
    skip_bad_images: bool = False,
    cache_dir: str | Path | None = None,
) -> RunData:
    """The run's own data split as it was trained: its validation pairs (where thresholds are
    chosen) and the test pairs that ``data`` (default: the run's ``data.*``) names; images as
    they are (the run's training images need no alignment)."""
    where = Path(run.config.data.dir)
    if not where.is_dir():  # else the data's own error would blame --data, not the run
        raise ValueError(
            f"{run.path}: its training data {where} (its validation pairs come from there) is "
            f"not found from {os.getcwd()}; run this from the folder the run was trained from"
            + (", as its path is relative." if not where.is_absolute() else ".")
        )
    split = load_split(run.path / "split.json", source_of(run.config.data, True).require_train())
    config = dataclasses.replace(run.config, data=data or run.config.data)
    return prepare(config, skip_bad_images, cache_dir, True, split=split)


def open_run_data(
    run: LoadedRun,
    data_dir: str | None = None,
    pairs_test: str | None = None,
    *,
    skip_bad_images: bool = False,
    cache_dir: str | Path | None = None,
    allow_overlap: bool = False,
    say=None,
) -> tuple[RunData, RunData]:
    """The run's validation data, and the data to score: the run's own, or ``data_dir`` /
    ``pairs_test`` instead. The validation pairs (where the threshold is chosen) always come
    from the run's own data and its saved split. A ``data_dir`` with no test pairs file gets
    one made of all its people, into the run folder (told to ``say``)."""
    d = d0 = run.config.data
    if pairs_test:
        d = dataclasses.replace(d, pairs_test=str(pairs_test))
    if data_dir:
        d = dataclasses.replace(d, dir=str(data_dir))
        if not pairs_test:
            made = run.path / f"pairs-{Path(os.path.abspath(data_dir)).name}"  # no stat yet
            d = test_pairs_for(dataclasses.replace(d, pairs_test=""), made, say)
    config = dataclasses.replace(run.config, data=d)
    # The run's own test pairs stay when they are what is scored, and a View 2 fold's file
    # holds its training pairs too; other test pairs are read apart, without a training file.
    own = d0 if d0.fold or d == d0 else dataclasses.replace(d0, pairs_test="")
    val_data = validation_data(run, own, skip_bad_images=skip_bad_images, cache_dir=cache_dir)
    if config.data == own and run.align is None:
        return val_data, val_data
    data = prepare_test(config, skip_bad_images, cache_dir, run.align)  # no training file
    if not allow_overlap and Path(d.dir).resolve() == Path(d0.dir).resolve():
        shared = val_data.trained_people() & data.source.test.people
        if shared:
            raise ValueError(
                f"{data.source.test.path}: {len(shared)} of its people trained this run "
                f"({sorted(shared)[0]}, ...); score pairs of unseen people, or pass "
                "--allow-overlap if you mean it."
            )
    return val_data, data


def pair_scores(run: LoadedRun, data: RunData, pairs) -> tuple[torch.Tensor, object]:
    """The head outputs of ``pairs`` (for the pair loss) and their scores (for the verdict)."""
    out, scores = pair_outputs(
        run.inference_net,
        data.images,
        pairs,
        run.device,
        run.bf16,
        run.config.train.channels_last,
        embed=run.embed if run.embedder is not None else None,
    )
    return out, scores.numpy()


def evaluate(run: LoadedRun, val_data: RunData, data: RunData) -> Evaluation:
    """Every verification metric on ``data.test``; the threshold comes from validation only."""
    if data.test is None:
        raise ValueError(
            f"{run.path}: no test pairs to evaluate (the run has no test file, e.g. "
            "data.test_fraction=0); score it with `evaluate RUN --pairs-test FILE`, or "
            "`oneshot RUN --runs DIR` for one-shot runs."
        )
    _, val_scores = pair_scores(run, val_data, val_data.val)
    rule = run.config.model.threshold_rule
    val_threshold = choose_threshold(val_scores, val_data.val.y.numpy(), rule)
    out, scores = pair_scores(run, data, data.test)
    return evaluation_of(run, data, val_threshold, out, scores)


def evaluation_of(
    run: LoadedRun, data: RunData, val_threshold: float, out: torch.Tensor, scores
) -> Evaluation:
    """The :class:`Evaluation` of ``run`` on ``data.test`` from its pairs' head outputs
    ``out`` and ``scores`` (in pair order) and the threshold its rule chose on validation:
    :func:`evaluate`'s, or training's own, which scored the same pairs with the same weights
    (``training.trainer.fit`` saves it, so that nothing scores them twice)."""
    rule = run.config.model.threshold_rule
    y = data.test.y.numpy()
    result = {
        "run": str(run.path),
        "pairs_file": str(data.source.test.path),
        "loss": float(run.pair_loss(out, data.test.y).detach()),
        "at_model_threshold": verification_report(scores, y, run.threshold),
        "at_val_threshold": verification_report(scores, y, val_threshold),
        "dropped_pairs": data.test.dropped,
        "depends_on": depends_on(run, data),
    }
    if data.source.test.folds > 1:
        result["ten_fold"] = ten_fold(scores, y, [p.fold for p in data.test.pairs], rule)
    tree = data.source.dataset.tree
    rows = [
        {
            "name1": p.name1,
            "image1": _relative(p.image1, tree),
            "name2": p.name2,
            "image2": _relative(p.image2, tree),
            "same": int(p.same),
            "fold": p.fold,
            "score": float(s),
        }
        for p, s in zip(data.test.pairs, scores, strict=True)
    ]
    return Evaluation(result, rows)


def _relative(path: Path, tree: Path) -> str:
    try:
        return str(path.relative_to(tree))
    except ValueError:
        return str(path)


def save_evaluation(run: LoadedRun, ev: Evaluation) -> tuple[Path, Path]:
    """``scores-<name>.csv`` and ``eval-<name>.json`` in the run folder."""
    scores, result = run.path / f"scores-{ev.name}.csv", run.path / f"eval-{ev.name}.json"
    atomic_write_text(scores, csv_text(ev.rows))
    atomic_write_text(result, json.dumps(ev.result, indent=2))
    return scores, result


# Raised whenever embedding a face changes its numbers, so that results saved before are
# computed again. 2: BatchNorm folded into the convolutions (models.siamese.for_inference).
SCORING = 2


def depends_on(run: LoadedRun, data: RunData) -> dict:
    """What a saved evaluation or one-shot result was computed from: the weights and the
    contents of the scored pairs file (a name alone would let a report show stale numbers),
    and the way faces are embedded."""
    return {
        "scoring": SCORING,
        "weights_sha256": run.weights_sha256,
        "pairs_sha256": data.source.test.sha256,
        "data": _folder(data.source.dataset.root),  # the same pairs file over other images
        **_aligned(run),
    }


def _folder(path) -> str:
    return os.path.realpath(path)


def _aligned(run: LoadedRun) -> dict:
    # Images detected and aligned give other scores than the same images taken as they are.
    return {"aligned": True} if run.align is not None else {}


def is_current(saved: dict, run: LoadedRun) -> bool:
    want = {
        "scoring": SCORING,
        "weights_sha256": run.weights_sha256,
        "pairs_sha256": run.test_pairs_sha256,
        "data": _folder(run.config.data.dir),
        **_aligned(run),
    }
    return saved.get("depends_on") == want


def saved_evaluation(run: LoadedRun, name: str = "") -> Evaluation | None:
    """The evaluation saved in the run folder for its own test pairs (or pairs file ``name``),
    or None when there is none, or it was computed from other weights or other pairs."""
    ev = read_evaluation(run.path, name or saved_name_for(run.config.data))
    if ev is None or (not name and not is_current(ev.result, run)):
        return None
    return ev


def read_evaluation(run_dir: Path, name: str) -> Evaluation | None:
    """``eval-<name>.json`` and ``scores-<name>.csv`` of a run folder (no weights needed), or
    None when either is missing or written in an older format."""
    scores, result = Path(run_dir) / f"scores-{name}.csv", Path(run_dir) / f"eval-{name}.json"
    if not (scores.is_file() and result.is_file()):
        return None
    with open(scores) as fh:
        rows = list(csv.DictReader(fh))
    if rows and "image1" not in rows[0]:
        return None  # written before pairs were image files: score again
    return Evaluation(json.loads(result.read_text()), rows)


def oneshot(
    run: LoadedRun, data: RunData, ways: int = 20, shots: int = 1, trials: int = 1000, seed: int = 0
) -> dict:
    """Koch's N-way one-shot identification among the test pairs' (unseen) people."""
    if data.source.test is None:
        raise ValueError(
            "one-shot trials use the test pairs file's people: pass --pairs-test FILE."
        )
    people = data.people_rows(data.source.test.people)
    rows = torch.tensor(sorted({r for rs in people.values() for r in rs}))
    sub = run.embed(data.images, rows)  # each image embedded once, reused by every trial
    emb = torch.zeros(len(data.images), sub.shape[1])
    emb[rows] = sub
    drawn = sample_trials(people, ways, shots, trials, seed)
    return {
        "run": str(run.path),
        **run_trials(drawn, emb, run.scores),
        "shots": shots,
        "seed": seed,
        "people": len(people),
        "depends_on": depends_on(run, data),
    }


def oneshot_runs(run: LoadedRun, folder: str | Path) -> dict:
    """Lake's official one-shot runs (Omniglot's ``all_runs``): for each test item, which of
    its run's training images shows the same character; accuracy over every trial."""
    lake = parse_runs(folder)
    files = sorted({p for r in lake for p in (*r.gallery, *r.probes)})
    row = {p: i for i, p in enumerate(files)}
    emb = run.embed_files(files)
    trials, per_run = [], {}
    for r in lake:
        gallery = tuple((row[p],) for p in r.gallery)
        mine = [Trial(row[p], gallery, a) for p, a in zip(r.probes, r.answers, strict=True)]
        per_run[r.name] = run_trials(mine, emb, run.scores)["acc"]
        trials += mine
    return {
        "run": str(run.path),
        "runs_folder": str(folder),
        **run_trials(trials, emb, run.scores),
        "shots": 1,
        "runs": len(lake),
        "per_run_acc": per_run,
    }


def saved_oneshot(run: LoadedRun, ways: int, trials: int, seed: int = 0) -> dict | None:
    """The run's saved one-shot result for its own test people, if it is the one asked for:
    these ways, trials and seed, these weights and these pairs; else None."""
    path = oneshot_file(run, ways)
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # damaged: computed again
    asked = (saved.get("trials"), saved.get("seed"), saved.get("ways"))
    return saved if asked == (trials, seed, ways) and is_current(saved, run) else None


def oneshot_file(run: LoadedRun, ways: int, shots: int = 1) -> Path:
    return run.path / f"oneshot-{ways}way-{shots}shot.json"


def verify_files(run: LoadedRun, image1: str | Path, image2: str | Path) -> dict:
    """Same person or not, for two image files of any size, mode or format."""
    h = run.embed_files([image1, image2])
    score = float(run.scores(h[:1], h[1:])[0])
    return {
        "image1": str(image1),
        "image2": str(image2),
        "same": score > run.threshold,
        "score": score,
        "threshold": run.threshold,
        "threshold_origin": run.threshold_origin,
        "aligned": run.align is not None,
    }


def verify_csv(run: LoadedRun, path: Path) -> list[dict]:
    """Score every row ``image1,image2`` of a CSV (header optional); paths relative to it."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # a BOM is not a path
            rows = [r for r in csv.reader(fh) if r]
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text; save the CSV as UTF-8.") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: not a CSV of image1,image2 rows ({exc}).") from None
    if rows and rows[0][:2] == ["image1", "image2"]:
        rows = rows[1:]
    for i, r in enumerate(rows):
        if len(r) < 2:
            raise ValueError(f"{path}:{i + 1}: a row needs two image paths, image1,image2.")
    if not rows:
        return []  # nothing to score is no error: an empty CSV of scores
    files = sorted({(path.parent / r[k]).resolve() for r in rows for k in (0, 1)})
    index = {f: i for i, f in enumerate(files)}
    emb = run.embed_files(files)
    a = torch.tensor([index[(path.parent / r[0]).resolve()] for r in rows])
    b = torch.tensor([index[(path.parent / r[1]).resolve()] for r in rows])
    scores = run.scores(emb[a], emb[b]).tolist() if rows else []
    return [
        {"image1": r[0], "image2": r[1], "score": s, "same": int(s > run.threshold)}
        for r, s in zip(rows, scores, strict=True)
    ]
