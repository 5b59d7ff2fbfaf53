"""Every output format of a ``GradeResult`` as text, for tests of what reaches people: the
terminal report (plain and in colour), results.json, the Markdown feedback and the gradebook CSV."""
from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from pathlib import Path

from rich.console import Console

from autograder.batch.discover import Student, Submission
from autograder.batch.grade import Outcome
from autograder.batch.gradebook import write_gradebook
from autograder.engine.results import GradeResult
from autograder.report import feedback_markdown, print_report

# C0 controls but tab and newline, DEL, C1 controls: none may come out of the grader's text.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
HELPER_NAMES = ("cifar10_grader_helpers", "sandbox_helpers", "grader helper")


def terminal(result: GradeResult, color: bool = False, width: int = 80) -> str:
    """The terminal report; in colour it holds rich's own escape sequences, plain it holds none."""
    out = io.StringIO()
    print_report(result, Console(file=out, width=width, force_terminal=color, color_system="truecolor"
                                 if color else None, legacy_windows=False))
    return out.getvalue()


def gradebook_notes(result: GradeResult) -> str:
    """The notes cell of the submission's gradebook row."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gradebook.csv"
        submission = Submission("student", Path(tmp), (Student("student"),))
        write_gradebook(path, [Outcome(submission, result=result)], [p.name for p in result.parts])
        with open(path, newline="", encoding="utf-8") as f:
            return next(csv.DictReader(f))["notes"]


def every_output(result: GradeResult) -> dict:
    """format name -> the text of ``result`` in that format (colour terminal excluded: it is
    meant to hold escape sequences, rich's own)."""
    return {"terminal": terminal(result),
            "results.json": json.dumps(result.to_gradescope(), indent=2, ensure_ascii=False),
            "markdown": feedback_markdown(result, "student"),
            "csv notes": gradebook_notes(result)}


def check_clean(result: GradeResult) -> None:
    """No control character or helper module name in any format; the colour terminal renders
    (markup in student text neither crashes it nor styles it) and holds only rich's SGR codes."""
    for name, text in every_output(result).items():
        assert not CONTROL.search(text), f"{name}: control character {CONTROL.search(text)[0]!r}"
        for helper in HELPER_NAMES:
            assert helper not in text, f"{name} names the grader's helper {helper!r}"
    coloured = terminal(result, color=True)
    others = re.sub(r"\x1b\[[0-9;]*m", "", coloured)  # rich's colours, and nothing else
    assert not CONTROL.search(others), f"colour terminal: {CONTROL.search(others)[0]!r}"
