"""``grade package nbgrader``: an nbgrader source notebook of the notebook questions.

Cells carry nbgrader's metadata (schema 3): a read-only setup cell, per question a Markdown prompt,
an autograded-answer cell whose solution sits between ``### BEGIN SOLUTION``/``### END SOLUTION``
(nested in the function, so the released stub still defines it), and one autograder-test cell per
test case with its points; hidden cases sit between ``### BEGIN HIDDEN TESTS``/``### END HIDDEN
TESTS``. The questions, their solutions, tests and points come from ``notebook_parts``.

The notebook is written where nbgrader looks for it, ``COURSE/source/cnn_questions/``, so
``--output`` can be the course folder itself; then ``nbgrader generate_assignment cnn_questions``.
``prove_source_notebook`` runs that in a scratch course, hands in the released notebook filled
with the reference's answers and grades it with ``nbgrader autograde``.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.config import GradingConfig
from autograder.package.notebook_parts import Question, fill_answers, question_points, questions_notebook
from autograder.package.selftest import (Proof, reference_answers, require_full_marks, require_tool,
                                         run_tool)

COURSE_CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "self-test"
"""
STUDENT = "reference"

ASSIGNMENT_NAME = "cnn_questions"


def _metadata(grade_id: str, solution: bool = False, grade: bool = False, locked: bool = False,
              points: float | None = None) -> dict:
    cell = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        cell["points"] = points
    return {"nbgrader": cell}


def build_source_notebook(config: GradingConfig) -> nbformat.NotebookNode:
    return questions_notebook(config, _question_cells,
                              setup_metadata=_metadata("setup", locked=True))


def _question_cells(question: Question) -> list:
    cells = [
        nbformat.v4.new_markdown_cell(question.prompt),
        nbformat.v4.new_code_cell(question.solution_cell("### BEGIN SOLUTION", "### END SOLUTION"),
                                  metadata=_metadata(question.name, solution=True)),
    ]
    for number, (case, points) in enumerate(zip(question.tests, question.case_points), start=1):
        code = case.code.rstrip("\n")
        if case.hidden:
            code = f"### BEGIN HIDDEN TESTS\n{code}\n### END HIDDEN TESTS"
        cells.append(nbformat.v4.new_code_cell(code, metadata=_metadata(
            f"{question.name}_test_{number}", grade=True, locked=True, points=points)))
    return cells


def write_source_notebook(config: GradingConfig, course_dir: Path) -> Path:
    """Write ``course_dir/source/cnn_questions/cnn_questions.ipynb``; returns its path."""
    folder = course_dir / "source" / ASSIGNMENT_NAME
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ASSIGNMENT_NAME}.ipynb"
    nbformat.write(build_source_notebook(config), str(path))
    return path


def prove_source_notebook(source: Path, config: GradingConfig) -> Proof:
    """In a scratch course: ``generate_assignment`` from ``source``, the released notebook filled
    with the reference's answers handed in, ``autograde``d; full marks or ``SelfTestFailed``."""
    require_tool("nbgrader", "nbgrader")
    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="nbgrader-self-test-") as tmp:
        course = Path(tmp)
        started = time.monotonic()
        (course / "source" / ASSIGNMENT_NAME).mkdir(parents=True)
        shutil.copyfile(source, course / "source" / ASSIGNMENT_NAME / f"{ASSIGNMENT_NAME}.ipynb")
        (course / "nbgrader_config.py").write_text(COURSE_CONFIG.format(root=str(course)))
        run_tool("nbgrader", "generate_assignment", ASSIGNMENT_NAME, cwd=course)
        notebook = nbformat.read(course / "release" / ASSIGNMENT_NAME / f"{ASSIGNMENT_NAME}.ipynb",
                                 as_version=4)
        fill_answers(notebook.cells, reference_answers())
        handed_in = course / "submitted" / STUDENT / ASSIGNMENT_NAME
        handed_in.mkdir(parents=True)
        nbformat.write(notebook, handed_in / f"{ASSIGNMENT_NAME}.ipynb")
        run_tool("nbgrader", "autograde", ASSIGNMENT_NAME, "--create", cwd=course)
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            graded = gradebook.find_submission_notebook(ASSIGNMENT_NAME, ASSIGNMENT_NAME, STUDENT)
            tests = {grade.name: (float(grade.score), float(grade.max_score)) for grade in graded.grades}
            reported = float(graded.score)
    return require_full_marks(f"{source} (nbgrader generate_assignment, autograde)", tests,
                              sum(question_points(config).values()), time.monotonic() - started,
                              reported_score=reported)
