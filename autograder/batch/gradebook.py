"""The class's gradebook (one CSV row per student) and one feedback file per submission."""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from autograder.engine.plugin import FAIL
from autograder.engine.results import number_ranges
from autograder.engine.student_text import clean, one_line
from autograder.report import feedback_markdown

FIXED_COLUMNS = ("student", "sid", "email", "submission", "status")
# The notes cell: every zero's first cause once, readable in a spreadsheet (which allows 32,767).
MAX_NOTES_CHARS = 2_000


def status(outcome) -> str:
    if outcome.result is None:
        return f"not graded: {outcome.error}"
    return "graded, with grader errors" if outcome.result.grader_errors else "graded"


def write_gradebook(path: Path, outcomes: list, parts: list) -> None:
    """One row per student (a group's members share their submission's scores); scores of a
    submission that could not be graded are left empty, never 0, so no one mistakes them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*FIXED_COLUMNS, *parts, "total", "notes"])
    rows = []
    for outcome in outcomes:
        result = outcome.result
        by_part = {p.name: p.score for p in result.parts} if result else {}
        scores = [f"{by_part[p]:.2f}" if p in by_part else "" for p in parts]
        total = f"{result.score:.2f}" if result else ""
        for student in outcome.submission.students:
            rows.append([_cell(student.name), _cell(student.sid), _cell(student.email),
                         _cell(outcome.submission.label), _cell(status(outcome)), *scores, total,
                         _cell(_notes(outcome))])
    writer.writerows(sorted(rows, key=lambda row: (row[0].lower(), row[3])))
    _write_atomically(Path(path), buffer.getvalue())


def write_feedback(folder: Path, outcomes: list) -> None:
    """``<submission>.md`` per submission, from ``feedback_markdown``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    taken: set = set()
    for outcome in outcomes:
        names = ", ".join(s.name for s in outcome.submission.students)
        if outcome.result is not None:
            text = feedback_markdown(outcome.result, names)
        else:
            text = (f"# Feedback for {names}\n\nYour submission could not be graded automatically: "
                    f"{clean(outcome.error)}.\n\nYour instructor will look at it.\n")
        name = _unique_file_name(outcome.submission.label, taken)
        (folder / f"{name}.md").write_text(text, encoding="utf-8")


def _notes(outcome) -> str:
    if outcome.result is None:
        return f"worker log: {outcome.log}" if outcome.log else ""
    result = outcome.result
    notes = [f"{p.name}: {p.message}" for p in result.parts if p.message] + list(result.notes)
    notes += [f"{why} (tests {', '.join(number_ranges(numbers))} at 0)"
              for why, numbers in _zeros(result)]
    notes += [f"grader error: {e}" for e in result.grader_errors]
    return clean(" | ".join(notes), MAX_NOTES_CHARS)


def _zeros(result) -> list:
    """(first cause, test numbers) for the tests that earned nothing: the cause told once at
    the top of the report (a SyntaxError, a missing function, ...), else the test's first
    failing line."""
    found: dict = {}
    for test in result.tests:
        if test.score <= 0 < test.max_score:
            why = test.causes[0].summary if test.causes else one_line(_first_failure(test.output))
            found.setdefault(why, []).append(test.number)
    return list(found.items())


def _first_failure(output: str) -> str:
    return next((line for line in output.split("\n") if line.startswith(FAIL)),
                output) or "no output"


def _cell(text: str) -> str:
    """One line, and never a spreadsheet formula (a cell starting with = + - @ is run as one)."""
    text = " ".join(clean(text, MAX_NOTES_CHARS).split("\n"))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _unique_file_name(label: str, taken: set) -> str:
    """A file name safe on every system, distinct from the ones already used."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", label).lstrip(".") or "submission"
    name, counter = base, 1
    while name in taken:
        counter += 1
        name = f"{base}-{counter}"
    taken.add(name)
    return name


def _write_atomically(path: Path, text: str) -> None:
    """Readers (a spreadsheet open on the old file) never see half a gradebook."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
