"""``siamese-faces report``: one run (or several compared) as HTML and Markdown.

Everything is read from the run folders (metrics.csv, results.json, scores and one-shot
files); evaluation and one-shot results that are missing are computed once and saved, never
by re-training. The report is a list of sections, each a list of blocks, rendered twice:
Markdown (figures as PNG files beside it) and one self-contained HTML file (figures
embedded), which opens offline in any browser.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write_text
from ..models.siamese import WHOLE
from . import figures

# The 2019 study's reported results (REFERENCE.md): its final run and its best.
STUDY = [
    ("5.1 (its final choice: Adam, lr 1e-3, batch 128)", 0.684, 0.6454, 179.71),
    ("8.2 (its best: dropout 0.25)", 0.686, 0.6288, 149.89),
    ("3.3 (SGD, lr 1e-4, batch 256)", 0.683, 0.6496, 238.04),
]


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # ("p", text) ("table", head, rows) ("img", f, cap)

    def p(self, text: str) -> Section:
        self.blocks.append(("p", text))
        return self

    def table(self, head: list[str], rows: list[list]) -> Section:
        self.blocks.append(("table", head, rows))
        return self

    def img(self, path: Path, caption: str) -> Section:
        self.blocks.append(("img", Path(path), caption))
        return self


def to_markdown(title: str, sections: list[Section], base: Path) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if b[0] == "p":
                out += [b[1], ""]
            elif b[0] == "table":
                out += ["| " + " | ".join(b[1]) + " |", "|" + "---|" * len(b[1])]
                out += ["| " + " | ".join(str(c) for c in row) + " |" for row in b[2]] + [""]
            else:
                out += [f"![{b[2]}]({b[1].relative_to(base)})", f"*{b[2]}*", ""]
    return "\n".join(out)


def to_html(title: str, sections: list[Section]) -> str:
    e = html.escape
    body = [f"<h1>{e(title)}</h1>", "<nav><ol>"]
    body += [f'<li><a href="#s{i}">{e(s.title)}</a></li>' for i, s in enumerate(sections)]
    body.append("</ol></nav>")
    for i, s in enumerate(sections):
        body.append(f'<section id="s{i}"><h2>{e(s.title)}</h2>')
        for b in s.blocks:
            if b[0] == "p":
                body.append(f"<p>{e(b[1])}</p>")
            elif b[0] == "table":
                head = "".join(f"<th>{e(h)}</th>" for h in b[1])
                rows = "".join(
                    "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in b[2]
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            else:
                data = base64.b64encode(b[1].read_bytes()).decode()
                body.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{e(b[2])}">'
                    f"<figcaption>{e(b[2])}</figcaption></figure>"
                )
        body.append("</section>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
        "color:#222;line-height:1.45}table{border-collapse:collapse;margin:1em 0;"
        "font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "th{background:#f3f3f3}img{max-width:100%}figcaption{font-size:0.85em;color:#555}"
        "nav{background:#fafafa;border:1px solid #eee;padding:0.3em 1em}h2{margin-top:2em;"
        "border-bottom:1px solid #ddd}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def architecture(run) -> list[list]:
    """Layer, output shape and parameters of one tower, from a forward pass with hooks."""
    rows, hooks = [], []
    net = run.net
    for name, m in net.tower.named_modules():
        if not list(m.children()):
            hooks.append(
                m.register_forward_hook(
                    lambda mod, i, o, n=name: rows.append(
                        [
                            n,
                            type(mod).__name__,
                            "x".join(map(str, tuple(o.shape)[1:])),
                            f"{sum(p.numel() for p in mod.parameters()):,}",
                        ]
                    )
                )
            )
    views = getattr(net.tower, "views", [])  # model.views: the part each member looks at
    for k, (member, box) in enumerate(zip(getattr(net.tower, "members", []), views, strict=True)):
        if tuple(box) != WHOLE:
            what = "view " + ",".join(f"{v:g}" for v in box)
            hooks.append(
                member.register_forward_pre_hook(
                    lambda mod, i, k=k, what=what: rows.append(
                        [f"members.{k}", what, "x".join(map(str, tuple(i[0].shape)[1:])), "0"]
                    )
                )
            )
    size = run.config.data.size
    with torch.no_grad():
        net.tower.eval()(torch.zeros(1, 1, size, size, device=run.device))
    for h in hooks:
        h.remove()
    fitted = [b for n, b in net.whiten.named_buffers() if n != "fitted"]
    if fitted:  # model.wccn: fitted after training, not trained, so no parameters
        values = sum(b.numel() for b in fitted)
        dim = str(net.tower.embedding_dim)
        rows.append(["whiten", type(net.whiten).__name__, dim, f"0 ({values:,} fitted values)"])
    head = sum(p.numel() for p in net.head.parameters())
    rows.append(["head", type(net.head).__name__, "1", f"{head:,}"])
    total = sum(p.numel() for p in net.parameters())
    rows.append(["total", "", "", f"{total:,}"])
    return rows


def ensure_evaluation(run, args) -> tuple[dict, list[dict], dict, object]:
    """The run's saved evaluation, scores and 20-way one-shot result; computed if missing.

    Also returns the run's prepared data when computing needed it (else None), for reuse.
    """
    from ..evaluation.cli import evaluate_run, open_run_data
    from ..evaluation.oneshot import run_trials, sample_trials

    name = Path(run.config.data.pairs_test or "pairsDevTest.txt").stem
    eval_file, scores_file = run.path / f"eval-{name}.json", run.path / f"scores-{name}.csv"
    one_file = run.path / f"oneshot-{args.ways}way-1shot.json"
    data = None
    if not (eval_file.is_file() and scores_file.is_file()):
        val_data, data = open_run_data(args, run)
        result, rows = evaluate_run(run, val_data, data)
        from ..io import csv_text

        atomic_write_text(scores_file, csv_text(rows))
        atomic_write_text(eval_file, json.dumps(result, indent=2))
    if not one_file.is_file():
        if data is None:
            _, data = open_run_data(args, run)
        people = data.people_rows(data.source.test.people)
        rows_t = torch.tensor(sorted({r for rs in people.values() for r in rs}))
        emb = torch.zeros(len(data.images), run.net.tower.embedding_dim)
        emb[rows_t] = run.embed(data.images, rows_t)
        trials = sample_trials(people, args.ways, 1, args.trials, 0)
        one = {
            "run": str(run.path),
            **run_trials(trials, emb, run.scores),
            "shots": 1,
            "seed": 0,
            "people": len(people),
        }
        atomic_write_text(one_file, json.dumps(one, indent=2))
    with open(scores_file) as fh:
        scores = list(csv.DictReader(fh))
    return json.loads(eval_file.read_text()), scores, json.loads(one_file.read_text()), data


@torch.no_grad()
def resemblance(run, scores: list[dict], threshold: float, data) -> list[int]:
    """For each pair, how many training images the model calls the same as its first face."""
    train_people = data.people_rows(data.source.train.people).values()
    train_rows = torch.tensor(sorted({r for rs in train_people for r in rs}))
    h_train = run.embed(data.images, train_rows)
    row_of = {p: i for i, p in enumerate(data.paths)}
    ds = data.source.dataset
    probes = torch.tensor([row_of[ds.image_of(r["name1"], int(r["index1"]))] for r in scores])
    h_probe = run.embed(data.images, probes)
    counts = []
    for i in range(0, len(h_probe), 64):
        counts += (run.pairwise_scores(h_probe[i : i + 64], h_train) > threshold).sum(1).tolist()
    return counts


def error_analysis(
    run, scores: list[dict], threshold: float, out: Path, sec: Section, data
) -> None:
    """Examples of right and wrong, and error rate against measurable image properties."""
    # The run's preprocessed images are in memory already: no file is decoded again.
    row_of = {p: i for i, p in enumerate(data.paths)}
    ds = data.source.dataset
    s = np.array([float(r["score"]) for r in scores])
    y = np.array([int(r["same"]) for r in scores]).astype(bool)
    wrong = (s > threshold) != y

    def images(r):
        return tuple(
            data.images[row_of[ds.image_of(r[f"name{k}"], int(r[f"index{k}"]))]].numpy()
            for k in (1, 2)
        )

    def examples(idx, kind):
        out_ = []
        for i in idx:
            a, b = images(scores[i])
            n1, n2 = scores[i]["name1"].replace("_", " "), scores[i]["name2"].replace("_", " ")
            who = n1 if n1 == n2 else f"{n1} / {n2}"
            out_.append({"image1": a, "image2": b, "caption": f"{who}\n{kind}, score {s[i]:.3f}"})
        return out_

    fa = [i for i in np.argsort(-s) if wrong[i] and not y[i]][:8]
    fr = [i for i in np.argsort(s) if wrong[i] and y[i]][:8]
    ok = [i for i in np.argsort(-np.abs(s - threshold)) if not wrong[i]][:8]
    for name, idx, title in (
        ("false-accepts", fa, "Most confident false accepts (different people called the same)"),
        ("false-rejects", fr, "Most confident false rejects (the same person called different)"),
        ("correct", ok, "Most confident correct decisions"),
    ):
        if idx:
            kind = {
                "false-accepts": "false accept",
                "false-rejects": "false reject",
                "correct": "correct",
            }[name]
            path = figures.save(
                figures.pair_examples(examples(idx, kind), title), out / f"{name}.png"
            )
            sec.img(path, title)

    # Measured properties of each pair, averaged over its two images.
    props = {
        "brightness (mean pixel)": [],
        "contrast (pixel std)": [],
        "left-right asymmetry (pose proxy)": [],
    }
    for r in scores:
        a, b = images(r)
        pair = np.stack([a, b]).astype(np.float32)
        props["brightness (mean pixel)"].append(pair.mean())
        props["contrast (pixel std)"].append(pair.reshape(2, -1).std(1).mean())
        props["left-right asymmetry (pose proxy)"].append(np.abs(pair - pair[:, :, ::-1]).mean())
    props["training images that resemble the first face"] = resemblance(
        run, scores, threshold, data
    )
    rows = []
    for label, values in props.items():
        ax, bins = figures.error_rate_by(values, wrong, label)
        path = figures.save(ax.figure, out / f"errors-by-{label.split()[0]}.png")
        sec.img(path, f"Error rate by {label}, in five equal-count bins")
        r = bins["error_rate"]
        rows.append([label, pct(r[0]), pct(r[-1]), pct(float(np.nanmax(r)) - float(np.nanmin(r)))])
    sec.table(
        [
            "property",
            "error rate, lowest fifth",
            "error rate, highest fifth",
            "spread across fifths",
        ],
        rows,
    )
    rate, per_bin = float(wrong.mean()), len(wrong) / 5
    noise = 2 * np.sqrt(rate * (1 - rate) / per_bin)
    sec.p(
        f"{int(wrong.sum())} of {len(wrong)} pairs are wrong: {int((wrong & ~y).sum())} false "
        f"accepts and {int((wrong & y).sum())} false rejects. With about {per_bin:.0f} pairs "
        f"a bin, a bin's error rate is uncertain by about ±{pct(noise)} (two standard "
        "errors), so only a spread well beyond that marks a property the model is sensitive "
        "to. Left-right asymmetry grows with head turn, so it stands in for pose; the last "
        "row counts the training images that the model itself would call the same person as "
        "the pair's first face (a face that resembles many is easy to confuse)."
    )


def build(run_dirs: list[Path], out: Path, args) -> Path:
    from ..data.stats import dataset_stats, example_grid
    from ..evaluation.cli import open_run_data
    from ..evaluation.runs import load_run

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    runs = [load_run(r) for r in run_dirs]
    run = runs[0]
    evals = [ensure_evaluation(r, args) for r in runs]
    result, scores, one, data = evals[0]
    if data is None:
        _, data = open_run_data(args, run)
    res = run.results
    sections = []

    source = data.source  # the run's own images and pairs files, opened once above
    st = dataset_stats(source)
    sec = Section("Dataset").p(
        f"{st['people']:,} people and {st['images']:,} images in {st['data']} "
        f"({st['layout']} layout); {st['people_with_2plus_images']:,} people have two or more "
        f"images. Train and test people in common: {st['overlap_people']}."
    )
    sec.table(
        ["split", "people", "images", "pairs", "same", "different"],
        [
            [
                k,
                st[k]["people"],
                st[k]["images"],
                st[k]["pairs"],
                st[k]["pairs_same"],
                st[k]["pairs_different"],
            ]
            for k in ("train", "test")
            if st.get(k)
        ],
    )
    sec.table(
        ["images per person", *st["images_per_person_histogram"]],
        [["people", *st["images_per_person_histogram"].values()]],
    )
    sec.img(example_grid(source, out / "examples.png"), "Example images with their names")
    sections.append(sec)

    cfg = run.config.to_dict()
    formed = run.config.data.val_identity_pairs
    file_pairs = res["val_pairs"] - formed if "val_pairs" in res else "?"
    sec = Section("Experimental setup").p(
        f"Run {run.path}. Validation: {file_pairs} pairs of the training file split by rule "
        f"'{run.config.data.split}' (no person on both sides for 'people')"
        + (f", and {formed} more formed from the validation people's names" if formed else "")
        + "; the reported test pairs never choose a threshold, an epoch or a setting."
    )
    sec.table(
        ["setting", "value"],
        [
            [f"{s}.{k}", v if not isinstance(v, (list, tuple)) else ",".join(map(str, v))]
            for s in cfg
            for k, v in cfg[s].items()
        ],
    )
    sec.table(["layer", "type", "output shape (C x H x W)", "parameters"], architecture(run))
    sections.append(sec)

    rows = list(csv.DictReader(open(run.path / "metrics.csv")))
    sec = Section("Training and convergence").p(
        f"{res.get('epochs_run')} epochs in {res.get('train_seconds', 0):.0f} s on "
        f"{res.get('device')} ({res.get('threads')} threads, bf16 {res.get('bf16')}); best "
        f"validation {run.config.train.monitor} at epoch {res.get('best_epoch')}, whose "
        "weights are kept."
    )
    ax = figures.curves(rows)
    caption = "Loss and accuracy per epoch"
    if run.config.train.objective != "pairs":
        caption += (
            f" (train: the {run.config.train.objective} objective and its identity "
            "accuracy; validation: the head's pair loss and verification accuracy)"
        )
    sec.img(figures.save(ax[0].figure, out / "curves.png"), caption)
    sections.append(sec)

    m, v = result["at_model_threshold"], result["at_val_threshold"]
    loss_label = (
        "loss"
        if run.config.train.objective == "pairs"
        else ("pair loss of the head (this run trained CosFace instead; compare accuracy and AUC)")
    )
    sec = Section("Results").table(
        ["metric", "validation", "test (DevTest)"],
        [
            [loss_label, f"{res.get('val/loss', float('nan')):.4f}", f"{result['loss']:.4f}"],
            [
                "accuracy at the model threshold",
                pct(res.get("val/acc", float("nan"))),
                f"{pct(m['acc'])} (95% CI {pct(m['acc_ci95'][0])}-{pct(m['acc_ci95'][1])})",
            ],
            ["accuracy at the validation-chosen threshold", "", pct(v["acc"])],
            ["AUC", "", f"{m['auc']:.4f}"],
            ["equal error rate", "", pct(m["eer"])],
            ["TAR at FAR 1e-2", "", pct(m["tar_at_far_1e-2"])],
            ["TAR at FAR 1e-3", "", pct(m["tar_at_far_1e-3"])],
            [
                f"{one['ways']}-way one-shot accuracy ({one['trials']} trials)",
                "",
                f"{pct(one['acc'])} (95% CI {pct(one['acc_ci95'][0])}-{pct(one['acc_ci95'][1])}; "
                f"chance {pct(one['chance'])})",
            ],
        ],
    )
    c = m["confusion"]
    sec.table(
        ["", "predicted same", "predicted different"],
        [
            ["same person", c["true_accept"], c["false_reject"]],
            ["different people", c["false_accept"], c["true_reject"]],
        ],
    )
    s = [float(r["score"]) for r in scores]
    y = [int(r["same"]) for r in scores]
    sec.img(
        figures.save(figures.roc(s, y, label=f"AUC {m['auc']:.3f}").figure, out / "roc.png"),
        "ROC curve on the test pairs",
    )
    sec.img(
        figures.save(figures.score_histogram(s, y, run.threshold).figure, out / "scores.png"),
        "Scores of same and different test pairs",
    )
    sections.append(sec)

    sec = Section("Examples of right and wrong, and what makes pairs hard")
    error_analysis(run, scores, run.threshold, out, sec, data)
    sections.append(sec)

    sec = Section("Compared with the 2019 study").p(
        "The study trained the same kind of network (TensorFlow, one K80) and reported single "
        "runs; its validation split shared people with training. Its numbers are copied from "
        "its report."
    )
    table = [
        [f"study {name}", pct(acc), pct(val), f"{secs:.0f} (K80)"] for name, acc, val, secs in STUDY
    ]
    for r, (ev, _, _, _) in zip(runs, evals, strict=True):
        table.append(
            [
                f"this run: {r.path.name}",
                pct(ev["at_model_threshold"]["acc"]),
                pct(r.results.get("val/acc", float("nan"))),
                f"{r.results.get('train_seconds', 0):.0f} (this CPU)",
            ]
        )
    sec.table(["run", "test accuracy", "validation accuracy", "training time s"], table)
    sections.append(sec)

    title = f"siamese-faces report: {run.path.name}"
    atomic_write_text(out / "report.md", to_markdown(title, sections, out))
    atomic_write_text(out / "index.html", to_html(title, sections))
    print(f"report built in {time.perf_counter() - start:.1f} s", flush=True)
    return out / "index.html"
