"""``grade package nbgrader``: an nbgrader source notebook of the notebook questions.

Cells carry nbgrader's metadata (schema 3): a read-only setup cell, per question a Markdown prompt,
an autograded-answer cell whose solution sits between ``### BEGIN SOLUTION``/``### END SOLUTION``
(nested in the function, so the released stub still defines it), and one autograder-test cell per
test case with its points; hidden cases sit between ``### BEGIN HIDDEN TESTS``/``### END HIDDEN
TESTS``. The questions, their solutions, tests and points come from ``notebook_parts``.

The notebook is written where nbgrader looks for it, ``COURSE/source/cnn_questions/``, so
``--output`` can be the course folder itself; then ``nbgrader generate_assignment cnn_questions``.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.config import GradingConfig
from autograder.package.notebook_parts import Question, questions_notebook

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
