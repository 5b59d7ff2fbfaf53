"""``grade package otter``: an otter-assign master notebook of the notebook questions.

Otter 7's master-notebook format: an ``ASSIGNMENT CONFIG`` raw cell (with ``generate: true``, so
``otter assign`` also builds the autograder zip), then per question raw ``BEGIN/END QUESTION``,
``SOLUTION`` and ``TESTS`` cells around the answer cell and one test cell per case. Tests are in
otter's OK format: each case is plain statements that print nothing, so an unexecuted master
notebook already holds their expected (empty) output. The questions, their solutions, tests and
points come from ``notebook_parts``.

Next step for the instructor: ``otter assign MASTER DIST`` writes ``DIST/student/`` (the notebook
to hand out) and ``DIST/autograder/`` (the zip for Gradescope or ``otter run``/``otter grade``).
``prove_master_notebook`` takes that step itself, offline, and grades the reference's answers
with the zip it built (``otter run``: otter's own grading, as on Gradescope).
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import nbformat
import yaml

from autograder.config import GradingConfig
from autograder.package.notebook_parts import Question, fill_answers, question_points, questions_notebook
from autograder.package.selftest import (Proof, SelfTestFailed, reference_answers, require_full_marks,
                                         require_tool, run_tool)

NOTEBOOK_NAME = "cnn_questions.ipynb"
ASSIGNMENT_NAME = "cnn_questions"
ASSIGNMENT_CONFIG = {
    "name": ASSIGNMENT_NAME,
    "generate": True,
    # Students submit the .ipynb; the export cell would also build PDFs (LaTeX) on their side.
    "export_cell": False,
    "check_all_cell": False,
    # otter assign runs every test against the solutions: a free check of this package.
    "run_tests": True,
    "tests": {"files": False, "ok_format": True},
}


def build_master_notebook(config: GradingConfig) -> nbformat.NotebookNode:
    header = nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\n"
                                      + yaml.safe_dump(ASSIGNMENT_CONFIG, sort_keys=False))
    return questions_notebook(config, _question_cells, before=(header,))


def _question_cells(question: Question) -> list:
    raw, code = nbformat.v4.new_raw_cell, nbformat.v4.new_code_cell
    config = yaml.safe_dump({"name": question.name, "points": question.case_points}, sort_keys=False)
    cells = [raw("# BEGIN QUESTION\n" + config),
             nbformat.v4.new_markdown_cell(question.prompt),
             raw("# BEGIN SOLUTION"),
             code(question.solution_cell("# BEGIN SOLUTION", "# END SOLUTION")),
             raw("# END SOLUTION"),
             raw("# BEGIN TESTS")]
    cells += [code(("# HIDDEN\n" if case.hidden else "") + case.code) for case in question.tests]
    return cells + [raw("# END TESTS"), raw("# END QUESTION")]


def write_master_notebook(config: GradingConfig, output_dir: Path) -> Path:
    """Write ``output_dir/cnn_questions.ipynb``; returns its path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / NOTEBOOK_NAME
    nbformat.write(build_master_notebook(config), str(path))
    return path


def prove_master_notebook(master: Path, config: GradingConfig) -> Proof:
    """``otter assign`` the master notebook, fill the student notebook with the reference's answers,
    grade it with ``otter run`` and the autograder zip; full marks or ``SelfTestFailed``."""
    require_tool("otter", "otter-grader")
    with tempfile.TemporaryDirectory(prefix="otter-self-test-") as tmp:
        work = Path(tmp)
        started = time.monotonic()
        run_tool("otter", "assign", str(master.resolve()), "dist", cwd=work)
        zips = list((work / "dist" / "autograder").glob("*.zip"))
        if len(zips) != 1:
            raise SelfTestFailed(f"self-test: otter assign built {len(zips)} autograder zips, not one")
        notebook = nbformat.read(work / "dist" / "student" / NOTEBOOK_NAME, as_version=4)
        fill_answers(notebook.cells, reference_answers())
        nbformat.write(notebook, work / NOTEBOOK_NAME)
        run_tool("otter", "run", "-a", str(zips[0]), "-o", str(work), NOTEBOOK_NAME, cwd=work)
        results = json.loads((work / "results.json").read_text())
    # Otter's summary entries ("Public Tests") carry no points; each question's entry does.
    tests = {t["name"]: (float(t["score"]), float(t["max_score"]))
             for t in results.get("tests", []) if "max_score" in t}
    return require_full_marks(f"{master} (otter assign, otter run)", tests,
                              sum(question_points(config).values()), time.monotonic() - started)
