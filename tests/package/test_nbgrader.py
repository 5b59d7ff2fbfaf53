"""nbgrader round trip: ``grade package nbgrader``, then the real ``nbgrader generate_assignment``
and ``nbgrader autograde`` in a temporary course folder, scores read with nbgrader's Gradebook API.

One student per answer set of test_otter.py (the reference, the padding bug, unfinished
functions) hands in the released notebook filled in; one ``autograde`` run grades them all.
``grade package nbgrader`` runs the same round trip on the reference's answers as its self-test;
the last tests check that.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbgrader.api import Gradebook

from autograder.config import load_config
from autograder.package import nbgrader as nbgrader_package
from autograder.package import notebook_parts
from autograder.package.nbgrader import ASSIGNMENT_NAME, prove_source_notebook, write_source_notebook
from autograder.package.selftest import SelfTestFailed
from cli import main

from .test_otter import ANSWER_SETS, STUB, answers_folder, load_answers, question_points, run_tool

pytestmark = pytest.mark.slow

NOTEBOOK = f"{ASSIGNMENT_NAME}.ipynb"
CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "cnn"
"""


@functools.cache
def course(base: Path) -> Path:
    """A course folder with the assignment generated (``release/``) from the packaged source."""
    root = base / "nbgrader-course"
    write_source_notebook(load_config(), root)
    (root / "nbgrader_config.py").write_text(CONFIG.format(root=str(root)))
    run_tool("nbgrader", "generate_assignment", ASSIGNMENT_NAME, cwd=root)
    return root


@functools.cache
def nbgrader_scores(base: Path) -> dict:
    """answer set -> question -> (score, max_score), from one ``nbgrader autograde`` of them all."""
    root = course(base)
    released = nbformat.read(root / "release" / ASSIGNMENT_NAME / NOTEBOOK, as_version=4)
    for answer_set in ANSWER_SETS:
        notebook = nbformat.from_dict(released)  # a copy: each student fills in their own
        notebook_parts.fill_answers(notebook.cells, load_answers(answers_folder(base, answer_set)))
        folder = root / "submitted" / answer_set.replace("_", "-") / ASSIGNMENT_NAME
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, folder / NOTEBOOK)
    run_tool("nbgrader", "autograde", ASSIGNMENT_NAME, "--create", cwd=root)
    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for answer_set in ANSWER_SETS:
            submission = gradebook.find_submission_notebook(  # (notebook, assignment, student)
                ASSIGNMENT_NAME, ASSIGNMENT_NAME, answer_set.replace("_", "-"))
            per_question: dict = {}
            for grade in submission.grades:
                name = grade.name.rsplit("_test_", 1)[0]
                score, max_score = per_question.get(name, (0.0, 0.0))
                per_question[name] = (score + grade.score, max_score + grade.max_score)
            scores[answer_set] = per_question
    return scores


def test_release_has_no_solutions_or_hidden_tests(tmp_path_factory):
    released = (course(tmp_path_factory.getbasetemp()) / "release" / ASSIGNMENT_NAME / NOTEBOOK).read_text()
    assert "BEGIN SOLUTION" not in released and "HIDDEN TESTS" not in released
    assert "np.tensordot" not in released  # a line of the reference's conv_forward_naive
    assert "raise NotImplementedError()" in released


def test_reference_answers_get_full_marks(tmp_path_factory):
    scores = nbgrader_scores(tmp_path_factory.getbasetemp())["reference"]
    points = question_points()
    assert set(scores) == set(points)
    for name, (score, max_score) in scores.items():
        assert max_score == pytest.approx(points[name]) and score == pytest.approx(max_score), name


def test_padding_bug_loses_part_of_conv_output_size_only(tmp_path_factory):
    scores = dict(nbgrader_scores(tmp_path_factory.getbasetemp())["padding_bug"])  # a copy: it is cached
    score, max_score = scores.pop("conv_output_size")
    assert 0 < score < max_score
    assert all(s == pytest.approx(m) for s, m in scores.values()), scores


def test_unfinished_functions_get_nothing(tmp_path_factory):
    scores = nbgrader_scores(tmp_path_factory.getbasetemp())["unfinished"]
    for name, (score, max_score) in scores.items():
        expected = 0.0 if ANSWER_SETS["unfinished"].get(name) == STUB else max_score
        assert score == pytest.approx(expected), name


def test_export_command_proves_its_notebook_with_the_reference(tmp_path):
    result = CliRunner().invoke(main, ["package", "nbgrader", "--output", str(tmp_path / "course")])
    assert result.exit_code == 0, result.output
    total = sum(question_points().values())
    assert re.search(rf"^self-test passed: the reference got {total:g}/{total:g} through .*cnn_questions.ipynb "
                     r"\(nbgrader generate_assignment, autograde\) in \d+ s$", result.stdout, re.MULTILINE), \
        result.stdout


def test_self_test_refuses_answers_short_of_full_marks(tmp_path_factory, monkeypatch):
    """The verdict comes from nbgrader's per-cell grades: a padding bug in the answers is caught."""
    base = tmp_path_factory.getbasetemp()
    buggy = load_answers(answers_folder(base, "padding_bug"))
    monkeypatch.setattr(nbgrader_package, "reference_answers", lambda: buggy)
    source = write_source_notebook(load_config(), base / "nbgrader-self-test")
    with pytest.raises(SelfTestFailed, match=r"below full marks: conv_output_size_test_\d+ \(0/[\d.]+\)"):
        prove_source_notebook(source, load_config())
