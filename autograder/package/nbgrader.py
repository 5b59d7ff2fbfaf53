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
from autograder.package.notebook_parts import Question, build_questions, setup_code

ASSIGNMENT_NAME = "cnn_questions"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _metadata(grade_id: str, solution: bool = False, grade: bool = False, locked: bool = False,
              points: float | None = None) -> dict:
    cell = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        cell["points"] = points
    return {"nbgrader": cell}


def build_source_notebook(config: GradingConfig) -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell(
            "# CNN assignment: notebook questions\n\nEach question asks for one function of the "
            "handout; its docstring is the specification. Run the setup cell first."),
        nbformat.v4.new_code_cell(setup_code(), metadata=_metadata("setup", locked=True)),
    ]
    for question in build_questions(config):
        cells += _question_cells(question)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = KERNELSPEC
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


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
