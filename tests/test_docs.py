"""The README and docs/ name only what exists: commands, their options, settings, presets, files.

Docs drift quietly: a flag renamed in the code still reads well in a paragraph. These checks
read every command line in the README, docs/*.md and the experiment scripts, and fail on a
``siamese-faces`` sub-command or option the parser does not have, a ``--set`` key the
configuration schema does not have, a ``--preset`` with no preset file, or a path into the
repository (benchmarks/, experiments/, docs/, recipes/, tests/, src/) that is not there.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from siamese_faces.cli import build_parser
from siamese_faces.config import Config, preset_path

from .helpers import command_parsers

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SCRIPTS = sorted((ROOT / "experiments").glob("*.sh"))
FOLDERS = ("benchmarks", "experiments", "docs", "recipes", "tests", "src")


def code_in(text: str, markdown: bool = True) -> str:
    """What a reader would type: fenced blocks and inline code of Markdown (prose such as
    "siamese-faces says ..." is not a command), or the whole of a script; lines continued
    with a backslash are joined."""
    if markdown:
        fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
        rest = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)
        text = "\n".join(fenced + re.findall(r"`([^`]+)`", rest))
    return re.sub(r"\\\n\s*", " ", text)


def code_of(path: Path) -> str:
    return code_in(path.read_text(), markdown=path.suffix == ".md")


def setting_names() -> set[str]:
    hints = typing.get_type_hints(Config)
    return {
        f"{section.name}.{field.name}"
        for section in dataclasses.fields(Config)
        for field in dataclasses.fields(hints[section.name])
    }


def sub_commands() -> dict[str, set[str]]:
    """Each sub-command of ``siamese-faces`` and every option it (or a nested one) takes."""
    parsers = dict(command_parsers(build_parser()))
    own = {w: {o for a in p._actions for o in a.option_strings} for w, p in parsers.items()}
    found: dict[str, set[str]] = {}
    for words, options in own.items():
        if words:  # --debug, --version: global, so every command's
            found.setdefault(words.split()[0], set(own[""])).update(options)
    return found


def commands(code: str) -> list[tuple[str, list[str]]]:
    """(sub-command, options) of each ``siamese-faces`` call, up to the end of its line or a
    shell operator (the next command's options are not its)."""
    found = []
    for m in re.finditer(r"(?<![\w-])siamese-faces\s+([a-z][a-z-]*)([^\n;|&`)]*)", code):
        found.append((m.group(1), re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2))))
    return found


@pytest.mark.parametrize("path", DOCS + SCRIPTS, ids=lambda p: p.name)
def test_every_command_option_and_setting_exists(path):
    code = code_of(path)
    subs, names = sub_commands(), setting_names()
    wrong = []
    for sub, flags in commands(code):
        if sub not in subs:
            wrong.append(f"siamese-faces {sub}: no such command")
            continue
        wrong += [f"siamese-faces {sub} {f}: no such option" for f in flags if f not in subs[sub]]
    for key in re.findall(r"--set[ =]+['\"]?([a-z_]+\.[a-z_]+)=", code):
        if key not in names:
            wrong.append(f"--set {key}: no such setting")
    for name in re.findall(r"--preset[ =]+([a-z0-9_]+)", code):
        if not preset_path(name).exists():
            wrong.append(f"--preset {name}: no such preset")
    assert not wrong, f"{path.name}: " + "; ".join(sorted(set(wrong)))


@pytest.mark.parametrize("path", DOCS + SCRIPTS, ids=lambda p: p.name)
def test_every_repository_path_named_exists(path):
    # a path from the root, or (in docs/) from the file's own folder, as Markdown links are
    pattern = rf"(?<![\w./-])((?:{'|'.join(FOLDERS)})/[\w./-]*\w)"
    missing = {
        p
        for p in re.findall(pattern, path.read_text())
        if "*" not in p and not (ROOT / p).exists() and not (path.parent / p).exists()
    }
    assert not missing, f"{path.name} names files that are not there: {sorted(missing)}"


def test_the_checks_catch_what_they_look_for():
    # the same reading applied to lines that are wrong in each way the checks know
    subs, names = sub_commands(), setting_names()
    code = code_in(
        "`siamese-faces train --data D --frobnicate` and\n"
        "```\nsiamese-faces trian --data D \\\n  --set train.lrate=1\n```\n"
    )
    calls = commands(code)
    assert ("train", ["--data", "--frobnicate"]) in calls and "--frobnicate" not in subs["train"]
    assert any(sub == "trian" for sub, _ in calls) and "trian" not in subs
    assert "train.lrate" not in names and "train.lr" in names
    assert re.findall(r"--set[ =]+['\"]?([a-z_]+\.[a-z_]+)=", code) == ["train.lrate"]
    assert commands("siamese-faces says hello") == [("says", [])]  # why prose is left out
    assert commands(code_in("siamese-faces says hello")) == []
