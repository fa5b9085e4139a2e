import json
import re

import pytest

from siamese_faces.cli import main
from siamese_faces.reporting.report import Section, to_html, to_markdown
from siamese_faces.reporting.sections import fitted_after_training

from ..evaluation.test_cli_eval import run  # noqa: F401 (fixture)
from ..training.test_distill import IDENTITY
from ..training.test_training import TINY, tiny

SECTIONS = [
    "Summary",
    "Dataset",
    "Experimental setup",
    "Training and convergence",
    "Results",
    "Examples of right and wrong, and what makes pairs hard",
    "Compared with the 2019 study",
    "Every setting, and the network",
]


def test_report_has_every_section(run, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out), "--ways", "2", "--trials", "20"]) == 0
    printed = capsys.readouterr().out
    assert "index.html" in printed
    md, page = (out / "report.md").read_text(), (out / "index.html").read_text()
    titles = re.findall(r"^## (.+)$", md, re.M)
    assert titles == SECTIONS  # the result first, the long tables of settings last
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page.replace("&#x27;", "'")
    summary = md.split("## Summary")[1].split("## ")[0]
    # The tiny run's numbers, from the evaluation it saved: the summary restates them.
    result = json.loads((run / "eval-pairsDevTest.json").read_text())["at_model_threshold"]
    acc = f"{100 * result['acc']:.1f}%"
    assert f"On the {result['pairs']} test pairs of pairsDevTest.txt" in summary
    assert "none of them seen in training" in summary and f"correctly on {acc}" in summary
    assert "The 2019 study's best on these pairs: 68.6%" in summary
    assert summary.strip() in printed  # and the command prints it
    assert "test (pairsDevTest.txt)" in md  # the results table names the pairs it scored
    assert "compares with them only loosely" not in md
    for needed in (
        "AUC",
        "equal error rate",
        "TAR at FAR 1e-3",
        "2-way one-shot accuracy",
        "parameters",
        "model.filters",
        "brightness",
        "left-right asymmetry",
        "training images that resemble",
        "study 5.1",
    ):
        assert needed in md, needed
    # Self-contained: every figure is embedded, nothing is fetched.
    assert page.count("data:image/png;base64,") >= 6
    assert not re.search(r'src="(?!data:)', page)
    for image in re.findall(r"\]\(([^)]+\.png)\)", md):
        assert (out / image).is_file()


def test_renderers_escape_and_link():
    s = Section("A <b>").p("x < y").table(["k"], [["<v>"]])
    page = to_html("T", [s])
    assert "<b>" not in page.split("<nav>")[1] and "&lt;v&gt;" in page
    md = to_markdown("T", [s], base=__import__("pathlib").Path("."))
    assert "| &lt;v&gt; |" in md and "## A &lt;b&gt;" in md and "x &lt; y" in md  # no raw HTML


def test_main_job_runs_end_to_end(lfw_like, tmp_path, capsys):
    args = [
        "run",
        "--data",
        str(lfw_like),
        "--out",
        str(tmp_path / "main"),
        "--ways",
        "2",
        "--trials",
        "10",
    ]
    # A tenth of 8 training pairs (the default) would leave none to validate on.
    for s in TINY + ["train.epochs=2", "data.val_fraction=0.3"]:
        args += ["--set", s]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Report:" in out and (tmp_path / "main" / "report" / "index.html").is_file()
    # A second run reuses the trained model instead of training again.
    assert main(args) == 0
    assert "already trained" in capsys.readouterr().err


def architecture_rows(**model):
    """The report's architecture table of a small resnet net built with ``model``."""
    from types import SimpleNamespace

    from siamese_faces.config import Config, DataConfig
    from siamese_faces.models import create_model
    from siamese_faces.reporting.analysis import architecture

    size = model.pop("input_size", 16)
    net = create_model(
        "resnet", input_size=size, filters=(4, 4, 8, 8), kernels=(3, 3, 3, 3), fc=6, **model
    )
    fake = SimpleNamespace(net=net, config=Config(data=DataConfig(size=size)), device="cpu")
    return architecture(fake), net


@pytest.mark.parametrize("wccn", [0.0, 0.1])
def test_architecture_lists_a_whitening_as_fitted_not_trained(wccn):
    table, net = architecture_rows(wccn=wccn)
    rows = {r[0]: r for r in table}
    if wccn:
        assert rows["whiten"][1:] == ["WithinClassWhitening", "6", "0 (42 fitted values)"]
    else:
        assert "whiten" not in rows
    assert rows["total"][3] == f"{sum(p.numel() for p in net.parameters()):,}"


def test_architecture_lists_the_descriptor_as_fitted_with_the_joined_size():
    table, net = architecture_rows(descriptor="hog-lbp", descriptor_dim=5, input_size=32)
    rows = {r[0]: r for r in table}
    d = net.descriptor
    # its mean and projection, its whitening's mean and matrix, its weight: by hand
    values = d.mean.numel() + d.project.numel() + 5 + 25 + 1
    assert rows["descriptor"][1:] == ["Descriptor", "11", f"0 ({values:,} fitted values)"]


def test_architecture_lists_each_member_view():
    views = ((0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, 0.5))
    table, _ = architecture_rows(members=2, views=views)
    names = [r[0] for r in table]
    rows = {r[0]: r for r in table}
    assert rows["members.1"][1:] == ["view 0,0,1,0.5", "1x16x16", "0"]
    assert "members.0" not in rows  # the whole input: nothing to list
    assert names.index("members.1") == names.index("members.1.stem.0") - 1


def test_a_report_is_never_stale(run, lfw_like, tmp_path, capsys):  # noqa: F811
    import json
    import shutil

    # A 2-pair file of the same name scored last, and a one-shot of other trials...
    other = tmp_path / "other"
    shutil.copytree(lfw_like / "lfw2", other / "lfw2")
    (other / "pairsDevTest.txt").write_text("1\nGus_G\t1\t2\nGus_G\t1\tHal_H\t1\n")
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    assert main(["oneshot", str(run), "--ways", "2", "--trials", "10"]) == 0
    saved = json.loads((run / "eval-pairsDevTest.json").read_text())
    assert saved["at_model_threshold"]["pairs"] == 2
    # ...are not what the report shows: it scores the run's own 4 pairs and 20 trials.
    out = tmp_path / "report"
    assert main(["report", str(run), "--out", str(out), "--ways", "2", "--trials", "20"]) == 0
    capsys.readouterr()
    md = (out / "report.md").read_text()
    assert "2-way one-shot accuracy (20 trials)" in md
    saved = json.loads((run / "eval-pairsDevTest.json").read_text())
    assert saved["at_model_threshold"]["pairs"] == 4
    assert saved["depends_on"]["weights_sha256"] and saved["depends_on"]["pairs_sha256"]


FITTED = {
    "wccn_images": 5067,
    "wccn_people": 850,
    "descriptor_images": 6145,
    "descriptor_pca_images": 6145,
    "descriptor_weight": [0.15, 0.35],
    "descriptor_val_auc": 0.97214,
    "descriptor_val_auc_tower": 0.95439,
    "score_norm_cohort": 1928,
    "fit_seconds": {"embed": 4.5, "descriptor_pca": 27.2, "cohort": 0.3},
}


def test_the_report_says_what_was_fitted_after_training():
    cfg = tiny("x", *IDENTITY, "model.descriptor_illumination=none,tan-triggs")
    said = fitted_after_training(FITTED, cfg)
    for needed in (
        "in 32 s",
        "whitening on 5,067 faces of 850 people",
        "of the face as it is, share 0.15; after Tan & Triggs' normalisation, share 0.35",
        "each family a PCA of 6,145 training faces to 256 whitened directions",
        "0.9544 for the tower alone, 0.9721 joined",
        "a cohort of 1,928 training people",
    ):
        assert needed in said, needed
    one = {k: v for k, v in FITTED.items() if not k.startswith(("wccn", "score_norm"))}
    one["descriptor_weight"] = 0.4  # a run of one family, as older runs saved it
    said = fitted_after_training(one, tiny("x"))
    assert "(of the face as it is, share 0.4), a PCA of" in said and "whitening on" not in said
    restricted = fitted_after_training({**one, "score_norm_cohort": 90}, tiny("x"))
    assert "a cohort of 90 training faces" in restricted  # one a face: no names to group by
    assert fitted_after_training({"fit_seconds": {}}, tiny("x")) is None


def test_the_report_says_which_epochs_went_unvalidated():
    from siamese_faces.config import Config, apply_overrides
    from siamese_faces.reporting.sections import validated_from

    assert validated_from(Config().train) == ""  # every epoch validated: nothing to say
    half = apply_overrides(Config(), ["train.epochs=36", "train.validate_after=0.5"]).train
    said = validated_from(half)
    assert "Epochs 1 to 18 trained without validation" in said and "from epoch 19 on" in said
