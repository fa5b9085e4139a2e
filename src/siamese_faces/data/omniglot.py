"""Lake's official Omniglot one-shot runs (``all_runs/runNN/``), read exactly.

Each run folder holds ``training/`` (one image of each of 20 characters, ``classNN.png``),
``test/`` (20 images ``itemNN.png`` of the same characters, drawn by someone else) and
``class_labels.txt``, one line per test item: ``runNN/test/itemNN.png runNN/training/classMM.png``
(paths relative to the folder above the run). A trial: which of the run's training images
shows the test item's character. Errors name the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .lfw import PairsFormatError, excerpt, read_lines

LABELS = "class_labels.txt"
RUN_NAME = re.compile(r"^run\d+$")


class RunsFormatError(PairsFormatError):
    """A one-shot runs folder or its ``class_labels.txt`` is not what Lake's format says."""


@dataclass(frozen=True)
class LakeRun:
    name: str  # "run01"
    gallery: tuple[Path, ...]  # the training images, in file-name order
    probes: tuple[Path, ...]  # the test items, in the order of class_labels.txt
    answers: tuple[int, ...]  # for each probe, the index into gallery of its character


def _image(base: Path, field: str, run: Path, part: str, where: str) -> Path:
    path = Path(field)
    if path.is_absolute() or ".." in path.parts or path.parts[:2] != (run.name, part):
        raise RunsFormatError(
            f"{where}: {excerpt(field, 40)} is not a file under {run.name}/{part}/; each line is "
            f"'{run.name}/test/itemNN.png {run.name}/training/classNN.png'."
        )
    if not (base / path).is_file():
        raise RunsFormatError(f"{where}: {field} does not exist under {base}.")
    return base / path


def parse_run(run: Path) -> LakeRun:
    """One run folder; its ``class_labels.txt`` read exactly."""
    labels = run / LABELS
    _, lines = read_lines(labels, "one-shot labels file")
    gallery = tuple(sorted(p for p in (run / "training").glob("*.png")))
    if not gallery:
        raise RunsFormatError(f"{run}: no training/*.png images; is this one of Lake's runs?")
    probes, answers = [], []
    for k, text in enumerate(lines, start=1):
        where = f"{labels}:{k}"
        fields = text.split()
        if len(fields) != 2:
            raise RunsFormatError(
                f"{where}: a line is two paths, a test item and its training image; found "
                f"{len(fields)} field(s)."
            )
        probe = _image(run.parent, fields[0], run, "test", where)
        answer = _image(run.parent, fields[1], run, "training", where)
        if probe in probes:
            raise RunsFormatError(f"{where}: {fields[0]} is labelled twice.")
        probes.append(probe)
        answers.append(gallery.index(answer))
    if not probes:
        raise RunsFormatError(f"{labels}: no lines; each test item needs its training image.")
    return LakeRun(run.name, gallery, tuple(probes), tuple(answers))


def parse_runs(folder: str | Path) -> list[LakeRun]:
    """Every ``runNN`` folder under ``folder`` (Lake's ``all_runs``), or ``folder`` itself if it
    is one run."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RunsFormatError(f"{folder}: no such folder; pass Lake's all_runs folder.")
    if (folder / LABELS).is_file():
        return [parse_run(folder)]
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and RUN_NAME.match(p.name))
    if not runs:
        raise RunsFormatError(
            f"{folder}: no runNN folders with a {LABELS}; pass Lake's all_runs folder "
            "(e.g. ../shared/omniglot/all_runs)."
        )
    return [parse_run(r) for r in runs]
