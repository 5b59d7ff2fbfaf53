"""otter-grader round trip: ``grade package otter``, the real ``otter assign``, then ``otter run``.

``otter run`` is otter's local (non-container) grading: it executes a filled-in student notebook
and runs the autograder zip's tests against it, as Gradescope would. ``grade package otter`` runs
the same round trip on the reference's answers as its self-test; the last tests check that. Students' answers are built
from files shaped like the reference (``write_answers``): the reference itself, or the reference
with edits, and go into the notebooks with ``notebook_parts.fill_answers``.

The answer sets and the cached tool runs here are shared with test_nbgrader.py and
test_agreement.py, so that each tool runs once per answer set in a session.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from autograder.config import load_config
from autograder.package import otter as otter_package
from autograder.package import notebook_parts
from autograder.package.otter import NOTEBOOK_NAME, prove_master_notebook, write_master_notebook
from autograder.package.selftest import SelfTestFailed
from cli import main

pytestmark = pytest.mark.slow

STUB = "stub"  # an edit that leaves the function as handed out (it raises NotImplementedError)
# Each answer set: function (or private helper) -> STUB, or (old, new) text replaced in its source.
ANSWER_SETS = {
    "reference": {},
    # A real bug: padding counted once instead of on both sides. conv_output_size fails only
    # its padded cases; pool_output_size shares the helper but has no padding.
    "padding_bug": {"_output_size_1d": ("padded = size + 2 * padding", "padded = size + padding")},
    # Functions left unfinished: they fail every check, in every route.
    "unfinished": {"relu_forward": STUB, "relu_backward": STUB, "conv_forward_naive": STUB},
}
OTTER_ROUNDING = 1e-5  # results.json holds scores rounded to 5 decimals
MODULES = tuple(dict.fromkeys(module for _, module, _ in notebook_parts.QUESTIONS))


def write_answers(dest: Path, edits: dict) -> Path:
    """Write the reference's shapes.py and layers.py with ``edits`` applied into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)  # exist_ok: a failed earlier try may have left it
    applied = set()
    for module in MODULES:
        ref = importlib.import_module(f"reference.{module}")
        stub = importlib.import_module(f"assignments.{module}")
        source = inspect.getsource(ref)
        for name, edit in edits.items():
            if not hasattr(ref, name) or getattr(ref, name).__module__ != ref.__name__:
                continue
            original = inspect.getsource(getattr(ref, name))
            changed = inspect.getsource(getattr(stub, name)) if edit == STUB else original.replace(*edit)
            assert changed != original and source.count(original) == 1, f"edit of {name} not applied"
            source = source.replace(original, changed)
            applied.add(name)
        (dest / f"{module}.py").write_text(source)
    assert applied == set(edits), f"unknown functions in {sorted(set(edits) - applied)}"
    return dest


def load_answers(folder: Path) -> dict:
    """question -> the answer cell a student who wrote the files in ``folder`` would fill in."""
    answers = {}
    for module in MODULES:
        spec = importlib.util.spec_from_file_location(f"answers_{folder.name}_{module}", folder / f"{module}.py")
        impl = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(impl)
        stub = importlib.import_module(f"assignments.{module}")
        for _, question_module, name in notebook_parts.QUESTIONS:
            if question_module == module:
                answers[name] = notebook_parts.answer_code(impl, stub, name)
    return answers


# The caches below are keyed by the session's base temporary folder (TempPathFactory itself is
# not hashable), under which each run has a folder of its own.

@functools.cache
def answers_folder(base: Path, answer_set: str) -> Path:
    return write_answers(base / "answers" / answer_set, ANSWER_SETS[answer_set])


@functools.cache
def question_points() -> dict:
    return {q.name: q.points for q in notebook_parts.build_questions(load_config())}


def run_tool(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{args[:2]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@functools.cache
def otter_assigned(base: Path) -> Path:
    """``otter assign`` on the packaged master notebook; returns its output folder."""
    root = base / "otter"
    master = write_master_notebook(load_config(), root / "master")
    run_tool("otter", "assign", str(master), str(root / "dist"), cwd=root)
    return root / "dist"


@functools.cache
def otter_scores(base: Path, answer_set: str) -> dict:
    """question -> (score, max_score) from ``otter run`` on the student notebook filled in."""
    dist = otter_assigned(base)
    [autograder_zip] = (dist / "autograder").glob("*.zip")
    work = base / "otter-run" / answer_set
    work.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.read(dist / "student" / NOTEBOOK_NAME, as_version=4)
    notebook_parts.fill_answers(notebook.cells, load_answers(answers_folder(base, answer_set)))
    nbformat.write(notebook, work / NOTEBOOK_NAME)
    run_tool("otter", "run", "-a", str(autograder_zip), "-o", str(work), str(work / NOTEBOOK_NAME), cwd=work)
    results = json.loads((work / "results.json").read_text())
    return {t["name"]: (t["score"], t["max_score"]) for t in results["tests"] if "max_score" in t}


def test_assign_builds_student_notebook_without_solutions_and_an_autograder_zip(tmp_path_factory):
    dist = otter_assigned(tmp_path_factory.getbasetemp())
    student = (dist / "student" / NOTEBOOK_NAME).read_text()
    assert "BEGIN SOLUTION" not in student and "# HIDDEN" not in student
    assert "np.tensordot" not in student  # a line of the reference's conv_forward_naive
    assert "def conv_forward_naive(" in student  # the stub's signature stays
    assert len(list((dist / "autograder").glob("*.zip"))) == 1


def test_reference_answers_get_full_marks(tmp_path_factory):
    scores = otter_scores(tmp_path_factory.getbasetemp(), "reference")
    points = question_points()
    assert set(scores) == set(points)
    for name, (score, max_score) in scores.items():
        assert max_score == pytest.approx(points[name], abs=OTTER_ROUNDING), name
        assert score == pytest.approx(max_score, abs=OTTER_ROUNDING), name


def test_padding_bug_loses_part_of_conv_output_size_only(tmp_path_factory):
    scores = dict(otter_scores(tmp_path_factory.getbasetemp(), "padding_bug"))  # a copy: it is cached
    score, max_score = scores.pop("conv_output_size")
    assert 0 < score < max_score
    assert all(s == pytest.approx(m, abs=OTTER_ROUNDING) for s, m in scores.values()), scores


def test_export_command_proves_its_notebook_with_the_reference(tmp_path):
    result = CliRunner().invoke(main, ["package", "otter", "--output", str(tmp_path / "otter")])
    assert result.exit_code == 0, result.output
    total = sum(question_points().values())
    assert re.search(rf"^self-test passed: the reference got {total:g}/{total:g} through .*cnn_questions.ipynb "
                     r"\(otter assign, otter run\) in \d+ s$", result.stdout, re.MULTILINE), result.stdout


def test_self_test_refuses_answers_short_of_full_marks(tmp_path_factory, monkeypatch):
    """The verdict comes from otter's per-question scores: a padding bug in the answers is caught."""
    base = tmp_path_factory.getbasetemp()
    buggy = load_answers(answers_folder(base, "padding_bug"))
    monkeypatch.setattr(otter_package, "reference_answers", lambda: buggy)
    master = write_master_notebook(load_config(), base / "otter-self-test")
    with pytest.raises(SelfTestFailed, match=r"below full marks: conv_output_size \([\d.]+/[\d.]+\)$"):
        prove_master_notebook(master, load_config())
