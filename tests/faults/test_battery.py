"""Every command against every class of bad input: each case ends in the right result or one
clear line (``siamese-faces: error: ...``) with a documented exit code, never a traceback and
never a silent wrong number."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamese_faces.cli import main

from .conftest import FAST, TEXT_KINDS, VALID_PAIRS, make_text, png_header_only, write_kind

ERROR_CODES = {2, 3, 4}


def outcome(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors exit 2 with its message
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def expect_error(capsys, argv, *needles: str) -> str:
    code, _, err = outcome(capsys, argv)
    assert "Traceback" not in err, err
    assert code in ERROR_CODES, (code, err)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert "error:" in last, err
    if last.startswith("siamese-faces: error:"):  # ours: one error line, last and short
        assert err.count("error:") == 1 and len(last) < 800, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def expect_ok(capsys, argv) -> str:
    code, out, err = outcome(capsys, argv)
    assert code == 0 and "Traceback" not in err, err
    return out


def expect(capsys, argv, ok: bool) -> None:
    (expect_ok if ok else expect_error)(capsys, argv)


def sets(*settings: str) -> list[str]:
    return [a for s in settings for a in ("--set", s)]


# ---------------------------------------------------------------------------------------------
# Pairs files, through every command that reads one.
PAIRS_COMMANDS = {
    "data-stats-train": lambda w, f: [
        "data",
        "stats",
        "--data",
        w["data"],
        "--grid",
        "",
        "--pairs-train",
        f,
    ],
    "data-stats-test": lambda w, f: [
        "data",
        "stats",
        "--data",
        w["data"],
        "--grid",
        "",
        "--pairs-test",
        f,
    ],
    "data-split": lambda w, f: ["data", "split", "--data", w["data"], "--pairs-train", f],
    "train-train": lambda w, f: [
        "train",
        "--data",
        w["data"],
        "--pairs-train",
        f,
        "--out",
        w["bad"] / "t1",
        *sets(*FAST),
    ],
    "train-test": lambda w, f: [
        "train",
        "--data",
        w["data"],
        "--pairs-test",
        f,
        "--out",
        w["bad"] / "t2",
        *sets(*FAST),
    ],
    "evaluate": lambda w, f: ["evaluate", w["run"], "--pairs-test", f],
    "oneshot": lambda w, f: [
        "oneshot",
        w["run"],
        "--pairs-test",
        f,
        "--ways",
        "2",
        "--trials",
        "5",
    ],
    "run": lambda w, f: [
        "run",
        "--data",
        w["data"],
        "--pairs-train",
        f,
        "--out",
        w["bad"] / "r1",
        *sets(*FAST),
    ],
    "benchmark": lambda w, f: [
        "benchmark",
        "lfw",
        "--data",
        w["data"],
        "--pairs-test",
        f,
        "--root",
        w["bad"] / "b1",
        *sets(*FAST),
    ],
}
PAIRS_KINDS = [k for k in TEXT_KINDS]


@pytest.mark.parametrize("kind", PAIRS_KINDS)
@pytest.mark.parametrize("command", sorted(PAIRS_COMMANDS))
def test_bad_pairs_files(world, capsys, command, kind):
    folder = world["bad"] / f"pairs-{command}"
    folder.mkdir(exist_ok=True)
    path = make_text(folder, kind)
    expect_error(capsys, PAIRS_COMMANDS[command](world, path))


@pytest.mark.parametrize("command", ["data-stats-train", "data-split", "evaluate"])
def test_a_pairs_file_with_a_bom_and_cr_line_ends_is_read(world, capsys, command):
    path = world["bad"] / f"bom-{command}.txt"
    text = VALID_PAIRS if command != "evaluate" else "1\nGus_G\t1\t2\nGus_G\t1\tHal_H\t1\n"
    path.write_bytes(("\ufeff" + text.replace("\n", "\r")).encode())
    expect_ok(capsys, PAIRS_COMMANDS[command](world, path))


# ---------------------------------------------------------------------------------------------
# The data folder.
def data_kind(world, kind: str) -> Path:
    base = world["bad"] / "data-kinds"
    base.mkdir(exist_ok=True)
    path = base / kind
    if path.exists() or path.is_symlink():  # made by an earlier case (a loop never "exists")
        return path
    if kind == "a_file":
        path.write_text("not a folder")
    elif kind == "empty_folder":
        path.mkdir()
    elif kind == "no_images":
        (path / "Alice_A").mkdir(parents=True)
        (path / "Alice_A" / "notes.txt").write_text("hello")
    elif kind == "garbage_image":
        (path / "Alice_A").mkdir(parents=True)
        (path / "Alice_A" / "Alice_A_0001.jpg").write_bytes(b"not a jpeg at all")
        (path / "Bob_B").mkdir()
        (path / "Bob_B" / "Bob_B_0001.jpg").write_bytes(b"\xff\xd8\xff")
    elif kind == "two_trees":
        for tree in ("one", "two"):
            (path / tree / "Alice_A").mkdir(parents=True)
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(path / tree / "Alice_A" / "a.png")
    elif kind == "symlink_loop":
        path.symlink_to(path)  # a link to itself: stat() fails with ELOOP
    elif kind == "flat_unnamed":
        path.mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(path / "photo.png")
    return path  # "missing": never created


DATA_KINDS = [
    "missing",
    "a_file",
    "empty_folder",
    "no_images",
    "garbage_image",
    "two_trees",
    "flat_unnamed",
    "symlink_loop",
]
DATA_COMMANDS = {
    "data-stats": lambda w, d: ["data", "stats", "--data", d, "--grid", ""],
    "data-split": lambda w, d: ["data", "split", "--data", d],
    "data-cache": lambda w, d: ["data", "cache", "--data", d, "--size", "16"],
    "train": lambda w, d: ["train", "--data", d, "--out", w["bad"] / "dt", *sets(*FAST)],
    "evaluate": lambda w, d: ["evaluate", w["run"], "--data", d],
    "oneshot": lambda w, d: ["oneshot", w["run"], "--data", d, "--ways", "2", "--trials", "5"],
    "run": lambda w, d: ["run", "--data", d, "--out", w["bad"] / "dr", *sets(*FAST)],
    "benchmark": lambda w, d: [
        "benchmark",
        "lfw",
        "--data",
        d,
        "--root",
        w["bad"] / "db",
        *sets(*FAST),
    ],
}


# Statistics of a tree with no pairs files and unreadable images are still statistics.
DATA_OK = {("data-stats", "garbage_image")}


@pytest.mark.parametrize("kind", DATA_KINDS)
@pytest.mark.parametrize("command", sorted(DATA_COMMANDS))
def test_bad_data_folders(world, capsys, command, kind):
    expect(
        capsys, DATA_COMMANDS[command](world, data_kind(world, kind)), (command, kind) in DATA_OK
    )


def test_sweep_with_a_bad_data_folder(world, capsys):
    sweep = world["bad"] / "ok-sweep.toml"
    sweep.write_text(
        '[train]\nepochs = 1\n[sweep]\nname = "s"\n[sweep.grid]\n"train.lr" = [0.01]\n'
    )
    for kind in DATA_KINDS:
        expect_error(
            capsys,
            [
                "sweep",
                sweep,
                "--data",
                data_kind(world, kind),
                "--root",
                world["bad"] / f"sw-{kind}",
            ],
        )


# ---------------------------------------------------------------------------------------------
# Experiment files (--config) and overrides (--set), through every command that trains.
CONFIG_KINDS = {
    "missing": None,
    "folder": "dir",
    "garbage": bytes(range(256)) * 4,
    "non_utf8": b"[train]\nlr = \xff\n",
    "not_toml": b"[train\nlr = 1",
    "negative_lr": b"[train]\nlr = -1\n",
    "inf_lr": b"[train]\nlr = inf\n",
    "nan_margin": b"[model]\nmargin = nan\n",
    "unknown_key": b"[train]\nlearning_rate = 0.1\n",
    "unknown_section": b"[training]\nlr = 0.1\n",
    "wrong_type": b'[train]\nepochs = "many"\n',
    "not_a_table": b"train = 3\n",
    "base_loop": b'base = "base_loop.toml"\n',
    "unknown_preset": b'base = "nope"\n',
    "huge_fc": b"[model]\nfc = 100000000000\n",
    "negative_seed": b"[train]\nseed = -1\n",
}
TRAINING_COMMANDS = {
    "train": lambda w, extra: ["train", "--data", w["data"], "--out", w["bad"] / "ct", *extra],
    "run": lambda w, extra: ["run", "--data", w["data"], "--out", w["bad"] / "cr", *extra],
    "benchmark": lambda w, extra: [
        "benchmark",
        "lfw",
        "--data",
        w["data"],
        "--root",
        w["bad"] / "cb",
        *extra,
    ],
}


@pytest.mark.parametrize("kind", sorted(CONFIG_KINDS))
@pytest.mark.parametrize("command", sorted(TRAINING_COMMANDS))
def test_bad_experiment_files(world, capsys, command, kind):
    folder = world["bad"] / "configs"
    folder.mkdir(exist_ok=True)
    path = write_kind(folder / f"{kind}.toml", CONFIG_KINDS[kind])
    expect_error(capsys, TRAINING_COMMANDS[command](world, ["--config", path, *sets(*FAST)]))


BAD_SETTINGS = [
    "train.lr=inf",
    "train.lr=nan",
    "train.lr=-1",
    "train.lr=fast",
    "train.seed=-1",
    "model.fc=100000000000",
    "model.members=100000",
    "train.batch_size=0",
    "train.epochs=0",
    "train.nope=1",
    "lr=1",
    "train.bf16=maybe",
    "data.fold=-1",
    "data.train_people=people-file",
    "data.crop=0.5,0.5,0.2,0.9",
    "model.views=0,0,1",
    "model.name=nope",
    "model.loss=nope",
    "model.loss=contrastive",
    "data.protocol=restricted",
    "data.size=4",
    "model.wccn=-1",
]


@pytest.mark.parametrize("setting", BAD_SETTINGS)
@pytest.mark.parametrize("command", sorted(TRAINING_COMMANDS))
def test_bad_settings_stop_before_any_data_is_read(world, capsys, command, setting):
    err = expect_error(capsys, TRAINING_COMMANDS[command](world, sets(*FAST, setting)))
    assert "train/loss" not in err  # no epoch trained first


# ---------------------------------------------------------------------------------------------
# A run folder, through every command that reads one.
def run_kind(world, kind: str) -> Path:
    base = world["bad"] / "run-kinds"
    base.mkdir(exist_ok=True)
    path = base / kind
    if path.exists() or kind == "missing":
        return path
    if kind == "a_file":
        path.write_text("not a run")
        return path
    if kind == "empty_folder":
        path.mkdir()
        return path
    shutil.copytree(world["run"], path)
    weights = path / "best.safetensors"
    if kind == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[:100])
    elif kind == "garbage_weights":
        weights.write_bytes(bytes(range(256)) * 8)
    elif kind in ("no_config", "huge_config", "mismatched_config", "config_not_json"):
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(weights))
        cfg = json.loads(
            json.loads((path / "config.json").read_text()) and (path / "config.json").read_text()
        )
        meta = {}
        if kind == "huge_config":
            cfg["model"]["members"] = 100000
            meta = {"config": json.dumps(cfg)}
        elif kind == "mismatched_config":
            cfg["model"]["fc"] = 32
            meta = {"config": json.dumps(cfg)}
        elif kind == "config_not_json":
            meta = {"config": "{not json"}
        save_file(tensors, str(weights), metadata=meta)
    elif kind == "garbage_split":
        (path / "split.json").write_text("[1, 2")
    elif kind == "no_split":
        (path / "split.json").unlink()
    elif kind == "garbage_results":
        (path / "results.json").write_text("{oops")
    elif kind == "weights_folder":
        weights.unlink()
        weights.mkdir()
    return path


RUN_KINDS = [
    "missing",
    "a_file",
    "empty_folder",
    "truncated_weights",
    "garbage_weights",
    "no_config",
    "huge_config",
    "mismatched_config",
    "config_not_json",
    "garbage_split",
    "no_split",
    "garbage_results",
    "weights_folder",
]
RUN_COMMANDS = {
    "evaluate": lambda w, r: ["evaluate", r],
    "verify": lambda w, r: ["verify", "--align", "none", r, w["face"], w["face"]],
    "oneshot": lambda w, r: ["oneshot", r, "--ways", "2", "--trials", "5"],
    "report": lambda w, r: [
        "report",
        r,
        "--out",
        w["bad"] / f"rep-{r.name}",
        "--ways",
        "2",
        "--trials",
        "5",
    ],
}
# What a command does not read cannot hurt it: verify needs no split.
RUN_OK = {("verify", "garbage_split"), ("verify", "no_split")}


@pytest.mark.parametrize("kind", RUN_KINDS)
@pytest.mark.parametrize("command", sorted(RUN_COMMANDS))
def test_bad_run_folders(world, capsys, command, kind):
    expect(capsys, RUN_COMMANDS[command](world, run_kind(world, kind)), (command, kind) in RUN_OK)


# ---------------------------------------------------------------------------------------------
# Photos for verify, and its CSV of pairs.
def image_kind(world, kind: str) -> Path:
    base = world["bad"] / "images"
    base.mkdir(exist_ok=True)
    gray = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (40, 1))
    path = base / f"{kind}.png"
    if kind == "missing":
        return base / "missing.png"
    if kind == "folder":
        path.mkdir(exist_ok=True)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "truncated_jpeg":
        path = base / "truncated.jpg"
        Image.fromarray(gray).save(path, quality=90)
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "text":
        path.write_text("hello, I am not a picture")
    elif kind == "bomb":
        png_header_only(path, 30_000, 30_000)
    elif kind == "cmyk":
        path = base / "cmyk.jpg"
        Image.fromarray(gray).convert("CMYK").save(path)
    elif kind == "sixteen_bit":
        Image.fromarray(gray.astype(np.uint16) * 257).save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([gray] * 4)).save(path)
    elif kind == "tiny":
        Image.fromarray(gray[:2, :2]).save(path)
    elif kind == "exif_rotated":
        path = base / "exif.jpg"
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(gray).save(path, exif=exif)
    return path


IMAGE_ERRORS = ["missing", "folder", "empty", "garbage", "truncated_jpeg", "text", "bomb"]
IMAGE_OK = ["cmyk", "sixteen_bit", "rgba", "tiny", "exif_rotated"]


@pytest.mark.parametrize("kind", IMAGE_ERRORS + IMAGE_OK)
@pytest.mark.parametrize("side", [1, 2])
def test_verify_any_photo(world, capsys, kind, side):
    photo = image_kind(world, kind)
    pair = [photo, world["face"]] if side == 1 else [world["face"], photo]
    argv = ["verify", "--align", "none", world["run"], *pair, "--json"]
    if kind in IMAGE_OK:
        result = json.loads(expect_ok(capsys, argv))
        assert np.isfinite(result["score"])
    else:
        expect_error(capsys, argv, photo.name)


CSV_KINDS = {
    "missing": None,
    "folder": "dir",
    "garbage": bytes(range(256)) * 4,
    "one_field": b"image1,image2\nface.png\n",
    "missing_image": b"face.png,nope.png\n",
    "non_utf8": b"face.png,\xff\xfe.png\n",
}


@pytest.mark.parametrize("kind", sorted(CSV_KINDS))
def test_verify_csv_of_bad_kinds(world, capsys, kind):
    folder = world["bad"] / "csv"
    folder.mkdir(exist_ok=True)
    shutil.copy(world["face"], folder / "face.png")
    path = write_kind(folder / f"{kind}.csv", CSV_KINDS[kind])
    expect_error(capsys, ["verify", "--align", "none", world["run"], "--csv", path])


def test_verify_csv_with_a_bom_header_and_no_rows(world, capsys):
    folder = world["bad"] / "csv-ok"
    folder.mkdir(exist_ok=True)
    shutil.copy(world["face"], folder / "face.png")
    (folder / "bom.csv").write_bytes("\ufeffimage1,image2\nface.png,face.png\n".encode())
    out = expect_ok(
        capsys, ["verify", "--align", "none", world["run"], "--csv", folder / "bom.csv"]
    )
    assert out.count("face.png") == 2 and "\ufeff" not in out
    (folder / "empty.csv").write_text("")
    expect_ok(capsys, ["verify", "--align", "none", world["run"], "--csv", folder / "empty.csv"])


def test_verify_out_without_csv_is_refused(world, capsys):
    expect_error(
        capsys,
        [
            "verify",
            "--align",
            "none",
            world["run"],
            world["face"],
            world["face"],
            "--out",
            world["bad"] / "x.csv",
        ],
        "--out",
    )


# ---------------------------------------------------------------------------------------------
# Sweep files.
SWEEP_KINDS = {
    "missing": None,
    "folder": "dir",
    "empty": b"",
    "garbage": bytes(range(256)) * 4,
    "non_utf8": b'[sweep]\nname = "\xff"\n',
    "no_sweep_table": b"[train]\nlr = 0.1\n",
    "bad_point": b'[sweep]\nname = "s"\n[sweep.grid]\n"train.lr" = [-1]\n',
    "low_above_high": b'[sweep]\nname = "s"\ntrials = 2\n[sweep.search]\n'
    b'"train.lr" = {low = 0.1, high = 0.001}\n',
    "escaping_name": b'[sweep]\nname = "../../outside"\n[sweep.grid]\n"train.lr" = [0.01]\n',
    "grid_and_search": b'[sweep]\nname = "s"\ntrials = 1\n[sweep.grid]\n"train.lr" = [0.1]\n'
    b'[sweep.search]\n"train.lr" = {low = 0.001, high = 0.1}\n',
    "unknown_key": b'[sweep]\nname = "s"\nworkers = 3\n[sweep.grid]\n"train.lr" = [0.1]\n',
    "search_unknown_setting": b'[sweep]\nname = "s"\ntrials = 1\n[sweep.search]\n'
    b'"train.nope" = {low = 0.001, high = 0.1}\n',
}


@pytest.mark.parametrize("tables_only", [False, True])
@pytest.mark.parametrize("kind", sorted(SWEEP_KINDS))
def test_bad_sweep_files(world, capsys, kind, tables_only):
    folder = world["bad"] / "sweeps"
    folder.mkdir(exist_ok=True)
    path = write_kind(folder / f"{kind}.toml", SWEEP_KINDS[kind])
    root = world["bad"] / "sweep-root" / kind
    argv = ["sweep", path, "--data", world["data"], "--root", root]
    expect_error(capsys, [*argv, "--tables-only"] if tables_only else argv)
    assert not (world["bad"] / "outside").exists()


# ---------------------------------------------------------------------------------------------
# Numbers out of range, and storages that cannot be reached.
NUMBER_CASES = [
    ["oneshot", "{run}", "--trials", "0"],
    ["oneshot", "{run}", "--trials", "-5"],
    ["oneshot", "{run}", "--ways", "1"],
    ["oneshot", "{run}", "--ways", "10000"],
    ["oneshot", "{run}", "--shots", "0"],
    ["oneshot", "{run}", "--shots", "100", "--ways", "2"],
    ["report", "{run}", "--out", "{bad}/rep-n", "--ways", "0"],
    ["report", "{run}", "--out", "{bad}/rep-n2", "--trials", "0"],
    ["benchmark", "lfw", "--data", "{data}", "--folds", "0"],
    ["benchmark", "lfw", "--data", "{data}", "--folds", "11"],
    ["benchmark", "lfw", "--data", "{data}", "--folds", "x"],
    ["benchmark", "lfw", "--data", "{data}", "--workers", "0"],
    ["sweep", "{sweep}", "--data", "{data}", "--workers", "0"],
    ["sweep", "{sweep}", "--data", "{data}", "--seeds", "0"],
    ["data", "split", "--data", "{data}", "--val-fraction", "0"],
    ["data", "split", "--data", "{data}", "--val-fraction", "1.5"],
    ["data", "cache", "--data", "{data}", "--size", "0"],
    ["data", "cache", "--data", "{data}", "--size", "5000"],
    ["data", "cache", "--data", "{data}", "--crop", "0.5", "0.5", "0.2", "0.9"],
    ["sweep", "{sweep}", "--data", "{data}", "--storage", "postgresql://nobody@127.0.0.1:1/none"],
    ["benchmark", "lfw", "--data", "{data}", "--storage", "postgresql://nobody@127.0.0.1:1/none"],
    ["sweep", "{sweep}", "--data", "{data}", "--storage", "nosuchdb://x"],
    ["sweep", "{sweep}", "--data", "{data}", "--heartbeat", "0"],
]


@pytest.mark.parametrize("case", NUMBER_CASES, ids=lambda c: "-".join(c[:1] + c[2:][-2:]))
def test_numbers_out_of_range_and_unreachable_storages(world, capsys, case):
    sweep = world["bad"] / "ok-sweep.toml"
    sweep.write_text(
        '[train]\nepochs = 1\n[sweep]\nname = "s"\n[sweep.grid]\n"train.lr" = [0.01]\n'
    )
    fill = {"run": world["run"], "bad": world["bad"], "data": world["data"], "sweep": sweep}
    argv = [a.format(**{k: str(v) for k, v in fill.items()}) for a in case]
    expect_error(capsys, [*argv, *(sets(*FAST) if case[0] == "benchmark" else [])])


def test_a_path_inside_a_weights_file_is_never_echoed(world, capsys, tmp_path):
    # A run whose weights say its training pairs are a file of secrets.
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:the-secret-line\n")
    weights = run / "best.safetensors"
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"]["pairs_train"] = str(secret)
    save_file(load_file(str(weights)), str(weights), metadata={"config": json.dumps(cfg)})
    err = expect_error(capsys, ["evaluate", run])
    assert "the-secret-line" not in err and "root:x" not in err


# ---------------------------------------------------------------------------------------------
# Unreadable inputs (tests run as root, who reads anything: the refusal is simulated).
def refuse(monkeypatch, target: Path) -> None:
    real_read_bytes, real_open = Path.read_bytes, Image.open

    def read_bytes(self):
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    def image_open(fp, *args, **kwargs):
        if Path(fp) == target:
            raise PermissionError(13, "Permission denied", str(fp))
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(Image, "open", image_open)


def test_an_unreadable_pairs_file_is_named(world, capsys, monkeypatch):
    refuse(monkeypatch, world["data"] / "pairsDevTrain.txt")
    expect_error(
        capsys, ["data", "split", "--data", world["data"]], "pairsDevTrain.txt", "permission"
    )


def test_an_unreadable_photo_is_named(world, capsys, monkeypatch):
    photo = image_kind(world, "rgba")
    refuse(monkeypatch, photo)
    expect_error(
        capsys,
        ["verify", "--align", "none", world["run"], photo, world["face"]],
        photo.name,
        "permission",
    )
