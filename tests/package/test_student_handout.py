"""The student handout: nothing secret inside, and its ``check`` works from the unpacked zip.

Secret means: reference/ (by file name, and by the text of every reference function body), the
hidden tests (by file name, and by the text of every hidden test function), grading.toml and
config.py (points, CIFAR-10 accuracy tiers) and the timing thresholds. The check is run from the
unpacked handout as a student runs it (``python -m autograder.check`` in its folder, with no
path to this repository), on the untouched stubs and on the reference copied in.
"""
from __future__ import annotations

import ast
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder.config import load_config
from autograder.examples import build_submission
from autograder.package.student import TOP, build_student_handout

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SUITES = REPO / "autograder" / "suites"
HIDDEN_TEST_FILES = sorted(p for p in SUITES.glob("*/test_*.py") if p.name != "test_visible.py")
SECRET_FILES = ("grading.toml", "config.py", "thresholds.toml", "thresholds.py", "run.py")


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("handout") / "handout.zip"
    build_student_handout(path, load_config())
    return path


@pytest.fixture(scope="module")
def contents(handout) -> dict:
    """name -> text; a notebook's text is its cells' sources (its JSON escapes line breaks), a
    stored array file's text the names of its arrays (it may hold nothing else: no pickles)."""
    with zipfile.ZipFile(handout) as archive:
        raw = {name: archive.read(name) for name in archive.namelist()}
    texts = {}
    for name, data in raw.items():
        if name.endswith(".npz"):
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                texts[name] = "\n".join(f"{key} {arrays[key].dtype}" for key in arrays.files)
        elif name.endswith(".ipynb"):
            texts[name] = "\n".join("".join(cell["source"]) for cell in json.loads(data)["cells"])
        else:
            texts[name] = data.decode("utf-8")
    return texts


def _normalized(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _function_bodies(path: Path, prefix: str = "") -> dict:
    """name -> normalized body text (docstring left out) of the file's functions."""
    tree = ast.parse(path.read_text())
    lines = path.read_text().splitlines()
    bodies = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith(prefix):
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            if body:
                bodies[node.name] = _normalized("\n".join(lines[body[0].lineno - 1:node.end_lineno]))
    return bodies


def _run_check(handout_root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "autograder.check", *args], cwd=handout_root,
                          env=env, capture_output=True, text=True, timeout=600)


def test_only_handout_files_inside(contents):
    names = [name.removeprefix(f"{TOP}/") for name in contents]
    assert all(name.startswith(("assignments/", "autograder/", "README.md")) for name in names), names
    assert not [n for n in names if n.startswith("reference/") or "/reference/" in n]
    assert not [n for n in names if Path(n).name in SECRET_FILES], names
    hidden = {f"autograder/suites/{p.parent.name}/{p.name}" for p in HIDDEN_TEST_FILES}
    assert hidden and not hidden & set(names)
    parts = load_config().parts.values()
    assert {"README.md", "assignments/cnn_assignment.ipynb", "autograder/check.py", "autograder/check.toml",
            *(f"assignments/{f}" for p in parts for f in p.files if f.endswith(".py")),
            *(f"autograder/suites/{p.name}/test_visible.py" for p in parts)} <= set(names)
    assert "python -m autograder.check" in contents[f"{TOP}/README.md"]


def test_no_reference_code_or_hidden_test_or_threshold_inside(contents):
    shipped = {name: _normalized(text) for name, text in contents.items()}
    secrets = {}
    for path in sorted((REPO / "reference").glob("*.py")):
        secrets.update({f"reference/{path.name}:{n}": b for n, b in _function_bodies(path).items()})
    for path in HIDDEN_TEST_FILES:
        secrets.update({f"{path.parent.name}/{path.name}:{n}": b
                        for n, b in _function_bodies(path, prefix="test_").items()})
    assert len(secrets) > 50
    leaks = [(secret, name) for secret, body in secrets.items()
             for name, text in shipped.items() if body in text]
    assert not leaks
    assert not [name for name, text in contents.items() if "accuracy_tiers" in text]
    assert "points" not in contents[f"{TOP}/autograder/check.toml"]


def test_check_from_the_handout_fails_the_stubs_cleanly_and_passes_the_reference(handout, tmp_path):
    with zipfile.ZipFile(handout) as archive:
        archive.extractall(tmp_path)
    root = tmp_path / TOP

    stubs = _run_check(root)
    assert stubs.returncode == 1, stubs.stdout[-3000:] + stubs.stderr[-3000:]
    assert "Traceback" not in stubs.stdout + stubs.stderr
    assert "NotImplementedError" in stubs.stdout and "Total: 0.00" in stubs.stdout
    # The handout's own check ran (its default folder); rich may break the path across lines.
    assert str(root / "assignments") in "".join(stubs.stdout.split())

    for file in build_submission("reference", tmp_path / "reference").iterdir():
        shutil.copy(file, root / "assignments" / file.name)
    passed = _run_check(root)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "FAIL" not in passed.stdout and "PASS" in passed.stdout
    for part in load_config().parts:  # every part has visible tests the handout checks
        assert f"\n{part}: " in passed.stdout


def test_grade_check_in_the_repository_runs_only_visible_tests(tmp_path):
    visible = ast.parse((SUITES / "shapes" / "test_visible.py").read_text())
    count = sum(isinstance(n, ast.FunctionDef) and n.name.startswith("test_") for n in visible.body)
    reference = build_submission("reference", tmp_path / "reference")
    done = subprocess.run([sys.executable, "-m", "cli", "check", str(reference), "--part", "shapes"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # The report's rows are numbered 1.1, 1.2, ...: exactly one per visible test.
    assert f"│ 1.{count} │" in done.stdout and f"│ 1.{count + 1} │" not in done.stdout
