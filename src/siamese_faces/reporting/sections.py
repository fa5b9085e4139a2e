"""The report's sections, each built from saved results (and figures drawn from them)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..data.stats import example_grid
from . import figures
from .analysis import ScoredPairs, architecture, example_indices, image_properties, resemblance
from .document import Section

# The 2019 study's reported results (REFERENCE.md): its final run and its best.
STUDY = [
    ("5.1 (its final choice: Adam, lr 1e-3, batch 128)", 0.684, 0.6454, 179.71),
    ("8.2 (its best: dropout 0.25)", 0.686, 0.6288, 149.89),
    ("3.3 (SGD, lr 1e-4, batch 256)", 0.683, 0.6496, 238.04),
]


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def scored_devtest(run, result: dict) -> bool:
    """Whether ``result`` scored LFW's own DevTest pairs, which the study's numbers are on; a
    test file the run made for a tree without one (in its folder) shares the name only."""
    path = Path(result["pairs_file"]).resolve()
    return path.name == "pairsDevTest.txt" and not path.is_relative_to(run.path.resolve())


def summary(run, result: dict, one: dict, st: dict) -> str:
    """The report's opening: what the run decides on the test pairs, in a few sentences, so
    that a reader need not pass the settings to find it (and the last thing the main job
    prints). ``st``: ``data.stats.dataset_stats`` of the run's data (its test people, and how
    many of them are training people too)."""
    m, res = result["at_model_threshold"], run.results
    pairs_file = Path(result["pairs_file"]).name
    overlap = st["overlap_people"]
    seen = "none of them" if overlap == 0 else f"{overlap:,} of them"
    text = (
        f"On the {m['pairs']:,} test pairs of {pairs_file} ({st['test']['people']:,} people, "
        f"{seen} seen in training), this run tells the same person from two people correctly "
        f"on {_ci(m)}) at the threshold it chose on validation pairs; AUC {m['auc']:.3f}, "
        f"equal error rate {pct(m['eer'])}. Given one photo each of {one['ways']} test "
        f"people and a new photo of one of them, it names the right one in {pct(one['acc'])} "
        f"of {one['trials']:,} trials (chance {pct(one['chance'])})."
    )
    if scored_devtest(run, result):
        best = max(acc for _, acc, _, _ in STUDY)
        text += f" The 2019 study's best on these pairs: {pct(best)}."
    trained = (
        f" Trained {res.get('epochs_run')} epochs in {res.get('train_seconds', 0):.0f} s on "
        f"{res.get('device')}, the weights of epoch {res.get('best_epoch')} kept."
    )
    return text + trained


def dataset(st: dict, source, out: Path) -> Section:
    """``st``: ``data.stats.dataset_stats(source)``."""
    sec = Section("Dataset").p(
        f"{st['people']:,} people and {st['images']:,} images in {st['data']} "
        f"({st['layout']} layout); {st['people_with_2plus_images']:,} people have two or more "
        f"images. Train and test people in common: {st['overlap_people']}."
    )
    keys = ("people", "images", "pairs", "pairs_same", "pairs_different")
    sec.table(
        ["split", "people", "images", "pairs", "same", "different"],
        [[k, *(st[k][c] for c in keys)] for k in ("train", "test") if st.get(k)],
    )
    hist = st["images_per_person_histogram"]
    sec.table(["images per person", *hist], [["people", *hist.values()]])
    sec.img(example_grid(source, out / "examples.png"), "Example images with their names")
    return sec


def setup(run) -> Section:
    res = run.results
    formed = run.config.data.val_identity_pairs
    file_pairs = res["val_pairs"] - formed if "val_pairs" in res else "?"
    return Section("Experimental setup").p(
        f"Run {run.path}. Validation: {file_pairs} pairs of the training file split by rule "
        f"'{run.config.data.split}' (no person on both sides for 'people')"
        + (f", and {formed} more formed from the validation people's names" if formed else "")
        + "; the reported test pairs never choose a threshold, an epoch or a setting. Every "
        "setting and the network's layers are listed at the end."
    )


def settings(run) -> Section:
    """Every setting of the run and its layers: the appendix, long and rarely read first."""
    cfg = run.config.to_dict()
    sec = Section("Every setting, and the network").table(
        ["setting", "value"],
        [
            [f"{s}.{k}", v if not isinstance(v, (list, tuple)) else ",".join(map(str, v))]
            for s in cfg
            for k, v in cfg[s].items()
        ],
    )
    sec.table(["layer", "type", "output shape (C x H x W)", "parameters"], architecture(run))
    return sec


# How the report names each family of histograms (model.descriptor_illumination).
FACES_AS = {"none": "of the face as it is", "tan-triggs": "after Tan & Triggs' normalisation"}


def fitted_after_training(res: dict, cfg) -> str | None:
    """What was fitted on the training faces after training, read from the run's results
    (what the reported scores are made of); None where nothing was."""
    said = []
    if "wccn_images" in res:
        said.append(
            f"the tower's within-person whitening on {res['wccn_images']:,} faces of "
            f"{res['wccn_people']:,} people"
        )
    if "descriptor_images" in res:
        shares = res["descriptor_weight"]
        shares = shares if isinstance(shares, list) else [shares]
        families = cfg.model.descriptor_illumination
        named = "; ".join(
            f"{FACES_AS[f]}, share {a:g}" for f, a in zip(families, shares, strict=True)
        )
        each = "each family " if len(shares) > 1 else ""
        said.append(
            f"HOG and LBP histograms ({named}), {each}a PCA of "
            f"{res.get('descriptor_pca_images', res['descriptor_images']):,} training faces to "
            f"{cfg.model.descriptor_dim} whitened directions, joined to the tower's embedding "
            f"with the share{'s' if each else ''} of highest validation AUC "
            f"({res['descriptor_val_auc_tower']:.4f} for the tower alone, "
            f"{res['descriptor_val_auc']:.4f} joined)"
        )
    if "score_norm_cohort" in res:
        whom = "people" if cfg.data.protocol == "unrestricted" else "faces"
        said.append(f"S-norm against a cohort of {res['score_norm_cohort']:,} training {whom}")
    if not said:
        return None
    seconds = sum(res.get("fit_seconds", {}).values())
    return (
        f"Fitted after training, with the best epoch's weights, in {seconds:.0f} s: "
        + "; ".join(said)
        + ". No validation or test face was fitted on."
    )


def validated_from(train) -> str:
    """What the report says of epochs left unvalidated (``train.validate_after``)."""
    first = train.first_validated
    if first == 1:
        return ""
    return (
        f" Epochs 1 to {first - 1} trained without validation (train.validate_after = "
        f"{train.validate_after:g}): the best is chosen from epoch {first} on, and their "
        "validation curves start there."
    )


def training(run, out: Path) -> Section:
    res = run.results
    with open(run.path / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    sec = Section("Training and convergence").p(
        f"{res.get('epochs_run')} epochs in {res.get('train_seconds', 0):.0f} s on "
        f"{res.get('device')} ({res.get('threads')} threads, bf16 {res.get('bf16')}); best "
        f"validation {run.config.train.monitor} at epoch {res.get('best_epoch')}, whose "
        "weights are kept." + validated_from(run.config.train)
    )
    fitted = fitted_after_training(res, run.config)
    if fitted:
        sec.p(fitted)
    caption = "Loss and accuracy per epoch"
    objective = run.config.train.objective
    if objective != "pairs":
        accuracy = (
            "how often a view found its partner"
            if objective == "instance"
            else "its identity accuracy"
        )
        caption += (
            f" (train: the {objective} objective and {accuracy}; validation: the head's "
            "pair loss and verification accuracy)"
        )
    return sec.img(figures.save(figures.curves(rows)[0].figure, out / "curves.png"), caption)


def _ci(r: dict) -> str:
    return f"{pct(r['acc'])} (95% CI {pct(r['acc_ci95'][0])}-{pct(r['acc_ci95'][1])}"


def results(run, result: dict, scores: list[dict], one: dict, out: Path) -> Section:
    res, m, v = run.results, result["at_model_threshold"], result["at_val_threshold"]
    pair_loss = run.config.train.objective == "pairs"
    loss_label = (
        "loss"
        if pair_loss
        else (
            f"pair loss of the head (this run trained {run.config.train.objective} instead; "
            "compare accuracy and AUC)"
        )
    )
    sec = Section("Results").table(
        ["metric", "validation", f"test ({Path(result['pairs_file']).name})"],
        [
            [loss_label, f"{res.get('val/loss', float('nan')):.4f}", f"{result['loss']:.4f}"],
            [
                "accuracy at the model threshold",
                pct(res.get("val/acc", float("nan"))),
                _ci(m) + ")",
            ],
            ["accuracy at the validation-chosen threshold", "", pct(v["acc"])],
            ["AUC", "", f"{m['auc']:.4f}"],
            ["equal error rate", "", pct(m["eer"])],
            ["TAR at FAR 1e-2", "", pct(m["tar_at_far_1e-2"])],
            ["TAR at FAR 1e-3", "", pct(m["tar_at_far_1e-3"])],
            [
                f"{one['ways']}-way one-shot accuracy ({one['trials']} trials)",
                "",
                f"{_ci(one)}; chance {pct(one['chance'])})",
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
    s, y = [float(r["score"]) for r in scores], [int(r["same"]) for r in scores]
    roc = figures.roc(s, y, label=f"AUC {m['auc']:.3f}").figure
    sec.img(figures.save(roc, out / "roc.png"), "ROC curve on the test pairs")
    hist = figures.score_histogram(s, y, run.threshold).figure
    return sec.img(
        figures.save(hist, out / "scores.png"), "Scores of same and different test pairs"
    )


EXAMPLES = {
    "false accept": (
        "false-accepts",
        "Most confident false accepts (different people called the same)",
    ),
    "false reject": (
        "false-rejects",
        "Most confident false rejects (the same person called different)",
    ),
    "correct": ("correct", "Most confident correct decisions"),
}


def _examples(pairs: ScoredPairs, threshold: float, out: Path, sec: Section) -> None:
    for kind, idx in example_indices(pairs, threshold).items():
        if not idx:
            continue
        shown = []
        for i in idx:
            a, b = pairs.images(i)
            n1, n2 = (pairs.rows[i][f"name{k}"].replace("_", " ") for k in (1, 2))
            who = n1 if n1 == n2 else f"{n1} / {n2}"
            shown.append(
                {"image1": a, "image2": b, "caption": f"{who}\n{kind}, score {pairs.s[i]:.3f}"}
            )
        name, title = EXAMPLES[kind]
        sec.img(figures.save(figures.pair_examples(shown, title), out / f"{name}.png"), title)


def errors(run, scores: list[dict], data, out: Path) -> Section:
    """Examples of right and wrong, and error rate against measurable image properties."""
    sec = Section("Examples of right and wrong, and what makes pairs hard")
    pairs, threshold = ScoredPairs(scores, data), run.threshold
    wrong, y = pairs.wrong(threshold), pairs.y
    _examples(pairs, threshold, out, sec)
    props = image_properties(pairs)
    props["training images that resemble the first face"] = resemblance(run, pairs, threshold)
    rows = []
    for label, values in props.items():
        ax, bins = figures.error_rate_by(values, wrong, label)
        path = figures.save(ax.figure, out / f"errors-by-{label.split()[0]}.png")
        sec.img(path, f"Error rate by {label}, in five equal-count bins")
        r = bins["error_rate"]
        rows.append([label, pct(r[0]), pct(r[-1]), pct(float(np.nanmax(r)) - float(np.nanmin(r)))])
    head = [
        "property",
        "error rate, lowest fifth",
        "error rate, highest fifth",
        "spread across fifths",
    ]
    sec.table(head, rows)
    rate, per_bin = float(wrong.mean()), len(wrong) / 5
    noise = 2 * np.sqrt(rate * (1 - rate) / per_bin)
    return sec.p(
        f"{int(wrong.sum())} of {len(wrong)} pairs are wrong: {int((wrong & ~y).sum())} false "
        f"accepts and {int((wrong & y).sum())} false rejects. With about {per_bin:.0f} pairs "
        f"a bin, a bin's error rate is uncertain by about ±{pct(noise)} (two standard "
        "errors), so only a spread well beyond that marks a property the model is sensitive "
        "to. Left-right asymmetry grows with head turn, so it stands in for pose; the last "
        "row counts the training images that the model itself would call the same person as "
        "the pair's first face (a face that resembles many is easy to confuse)."
    )


def study(runs: list, evals: list[dict]) -> Section:
    sec = Section("Compared with the 2019 study").p(
        "The study trained the same kind of network (TensorFlow, one K80) and reported single "
        "runs; its validation split shared people with training. Its numbers are copied from "
        "its report."
    )
    other = [r.path.name for r, ev in zip(runs, evals, strict=True) if not scored_devtest(r, ev)]
    if other:
        sec.p(
            "The study's test accuracies are on LFW-a's 1,000 DevTest pairs; a run scored on "
            f"other pairs ({', '.join(other)}) compares with them only loosely."
        )
    table = [[f"study {n}", pct(acc), pct(val), f"{secs:.0f} (K80)"] for n, acc, val, secs in STUDY]
    for r, ev in zip(runs, evals, strict=True):
        table.append(
            [
                f"this run: {r.path.name}",
                pct(ev["at_model_threshold"]["acc"]),
                pct(r.results.get("val/acc", float("nan"))),
                f"{r.results.get('train_seconds', 0):.0f} (this CPU)",
            ]
        )
    return sec.table(["run", "test accuracy", "validation accuracy", "training time s"], table)
