"""The HTML/Markdown report of one run (or several compared): ``build_report(runs, out)``.

Everything is read from the run folders (metrics.csv, results.json, scores and one-shot
files); evaluation and one-shot results that are missing are computed once and saved, never
by re-training. The sections (:mod:`.sections`) are rendered twice by the templates of
:mod:`.document`: Markdown (figures as PNG files beside it) and one self-contained HTML file
(figures embedded), which opens offline in any browser.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..data.rundata import RunData
from ..data.stats import dataset_stats
from ..evaluation.api import (
    evaluate,
    oneshot,
    oneshot_file,
    open_run_data,
    save_evaluation,
    saved_evaluation,
    saved_oneshot,
)
from ..evaluation.runs import LoadedRun, load_run
from ..io import atomic_write_text
from . import sections
from .document import Section, to_html, to_markdown

__all__ = ["Section", "build_report", "ensure_evaluation", "to_html", "to_markdown"]


def ensure_evaluation(
    run: LoadedRun, ways: int = 20, trials: int = 1000, **data_options
) -> tuple[dict, list[dict], dict, RunData | None]:
    """The run's saved evaluation, scores and ``ways``-way one-shot result; computed and saved
    if missing. Also returns the run's prepared data when computing needed it (else None).
    ``data_options``: ``skip_bad_images``, ``cache_dir`` (see ``open_run_data``)."""
    ev, data = saved_evaluation(run), None
    if ev is None:
        val_data, data = open_run_data(run, **data_options)
        ev = evaluate(run, val_data, data)
        save_evaluation(run, ev)
    one = saved_oneshot(run, ways, trials)
    if one is None:
        if data is None:
            _, data = open_run_data(run, **data_options)
        one = oneshot(run, data, ways, 1, trials, 0)
        atomic_write_text(oneshot_file(run, ways), json.dumps(one, indent=2))
    return ev.result, ev.rows, one, data


def build_report(
    run_dirs: list[Path],
    out: Path,
    *,
    ways: int = 20,
    trials: int = 1000,
    skip_bad_images: bool = False,
    cache_dir: str | Path | None = None,
) -> Path:
    """The report of ``run_dirs`` (the first detailed, all compared) in ``out``; returns the
    HTML file (``report.md`` lies beside it)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    options = {"skip_bad_images": skip_bad_images, "cache_dir": cache_dir}
    runs = [load_run(r) for r in run_dirs]
    run = runs[0]
    evals = [ensure_evaluation(r, ways, trials, **options) for r in runs]
    result, scores, one, data = evals[0]
    if data is None:
        _, data = open_run_data(run, **options)
    st = dataset_stats(data.source)  # the run's own images and pairs files
    summary = sections.summary(run, result, one, st)
    parts: list[Section] = [
        Section("Summary").p(summary),
        sections.dataset(st, data.source, out),
        sections.setup(run),
        sections.training(run, out),
        sections.results(run, result, scores, one, out),
        sections.errors(run, scores, data, out),
        sections.study(runs, [e[0] for e in evals]),
        sections.settings(run),
    ]
    title = f"siamese-faces report: {run.path.name}"
    atomic_write_text(out / "report.md", to_markdown(title, parts, out))
    atomic_write_text(out / "index.html", to_html(title, parts))
    print(f"report built in {time.perf_counter() - start:.1f} s\n\n{summary}", flush=True)
    return out / "index.html"
