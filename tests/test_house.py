"""The house: floors whose imports only go down, argument parsing only in cli/, short functions.

The layering itself is import-linter's layers contract in pyproject.toml; these tests run it,
and show on a copy of the package that an upward import breaks it (so the check can fail).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "siamese_faces"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

needs_import_linter = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (the [test] extra has it)"
)


def lint_imports(cwd: Path, config: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"},
    )


@needs_import_linter
def test_the_floors_contract_is_kept():
    proc = lint_imports(ROOT, ROOT / "pyproject.toml", ROOT / "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout


@needs_import_linter
def test_an_upward_import_breaks_the_contract(tmp_path):
    # A copy of the package under another name (imports inside it are relative), in which
    # evaluation, a lower floor, imports from training above it.
    probe = tmp_path / "src" / "floors_probe"
    shutil.copytree(PACKAGE, probe, ignore=shutil.ignore_patterns("__pycache__"))
    metrics = probe / "evaluation" / "metrics.py"
    metrics.write_text(metrics.read_text() + "\nfrom ..training import api  # noqa: E402,F401\n")
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = settings["contracts"][0]
    layers = ", ".join(f'"{layer}"' for layer in contract["layers"])
    config = tmp_path / "pyproject.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "floors_probe"\n\n'
        f'[[tool.importlinter.contracts]]\nname = "probe"\ntype = "layers"\n'
        f'layers = [{layers}]\ncontainers = ["floors_probe"]\n'
    )
    proc = lint_imports(tmp_path, config, tmp_path / "src")
    assert proc.returncode != 0, proc.stdout
    assert "floors_probe.evaluation.metrics -> floors_probe.training.api" in proc.stdout


def test_argparse_lives_in_cli_only():
    users = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "argparse" in p.read_text() and p.relative_to(PACKAGE).parts[0] != "cli"
    )
    assert users == [], f"argument parsing outside cli/: {users}"


def imported_modules(path: Path) -> list[str]:
    """Absolute names of what ``path`` (a module of the package) imports."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    here = parts[:-1] if parts[-1] != "__init__" else parts
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else ()
            out.append(".".join([*base, *([node.module] if node.module else [])]))
    return out


def test_no_library_module_imports_the_cli():
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in ("cli", "__main__.py")
        for name in imported_modules(path)
        if name == "siamese_faces.cli" or name.startswith("siamese_faces.cli.")
    ]
    assert offenders == []
    # ...and the check sees the package's own relative imports (it would see a cli one).
    assert "siamese_faces.cli" in imported_modules(PACKAGE / "__main__.py")
    assert "siamese_faces.training.trainer" in imported_modules(PACKAGE / "training" / "api.py")


MAX_LINES = 60


def test_no_function_is_longer_than_a_screen():
    lengths = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                span = node.end_lineno - node.lineno + 1
                lengths.append((span, f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"))
    too_long = [f"{where} ({n} lines)" for n, where in sorted(lengths) if n > MAX_LINES]
    assert lengths and too_long == [], too_long


FAST = """
import sys, time
start = time.perf_counter()
from siamese_faces.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("torch" in sys.modules, time.perf_counter() - start)
"""


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["serve", "--help"], ["data", "pairs", "--data", "/no/such/folder", "--out", "x"]],
    ids=["help", "serve-help", "error-before-any-model"],
)
def test_help_and_early_errors_do_not_import_pytorch(argv):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", FAST.format(argv=argv)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[-2] == "False", f"{argv} imported torch"
