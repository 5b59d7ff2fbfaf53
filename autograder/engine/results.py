"""Scored results and their Gradescope ``results.json`` form.

Specification: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (the ``tests``
entries, ``visibility`` values, ``stdout_visibility``, ``leaderboard``).
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

from .student_text import (MAX_NOTE_CHARS, MAX_NOTES, MAX_RESULT_TEXT_CHARS,
                           MAX_STUDENT_OUTPUT_CHARS, MAX_TEST_OUTPUT_CHARS, clean, one_line)

# What a test's output becomes once the grade's text has reached MAX_RESULT_TEXT_CHARS.
OUTPUT_CUT = "(not shown: this result's text reached its size limit; the causes above explain it)"


@dataclasses.dataclass(frozen=True)
class Cause:
    """One failure of student code told once, however many tests it cost points in.

    ``fatal``: the file could not be used at all (missing, failed to import, a function
    missing), so the tests it touched were not graded."""

    summary: str  # one line: what failed, where
    detail: str  # the whole text: the error, the student's traceback lines, the fix
    fatal: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", one_line(self.summary))
        object.__setattr__(self, "detail", clean(self.detail))


@dataclasses.dataclass
class TestResult:
    name: str
    part: str
    number: str
    score: float
    max_score: float
    output: str
    visibility: str
    grader_error: str = ""  # for the instructor only; never shown to students
    causes: list = dataclasses.field(default_factory=list)  # Cause objects that cost it points
    explained: bool = False  # every point it lost is explained by its causes

    def __post_init__(self) -> None:
        self.causes = [c if isinstance(c, Cause) else Cause(**c) for c in self.causes]
        self.output = clean(self.output, MAX_TEST_OUTPUT_CHARS)
        self.grader_error = clean(self.grader_error, MAX_TEST_OUTPUT_CHARS)

    @property
    def status(self) -> str:
        return "passed" if self.score >= self.max_score - 1e-9 else "failed"

    def to_gradescope(self) -> dict:
        return {"name": self.name, "number": self.number, "score": round(self.score, 4),
                "max_score": round(self.max_score, 4), "status": self.status,
                "output": self.output, "visibility": self.visibility, "tags": [self.part]}


@dataclasses.dataclass
class PartSummary:
    name: str
    score: float
    max_score: float
    seconds: float
    message: str = ""
    student_output: str = ""

    def __post_init__(self) -> None:
        self.message = clean(self.message, MAX_NOTE_CHARS)
        self.student_output = clean(self.student_output, MAX_STUDENT_OUTPUT_CHARS)


@dataclasses.dataclass
class GradeResult:
    tests: list
    parts: list
    execution_time: float
    isolation: str
    leaderboard: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)  # about the submission, for the student
    budget_seconds: float | None = None  # the whole grade's time budget
    # The hidden inputs' seed (engine.seeds), for the instructor: `grade run --seed` reproduces
    # the grade with it. Never in results.json, which Gradescope shows to students: knowing a
    # seed tells the hidden inputs of any grade made with it (a regrade, a batch).
    seed: int | None = None

    def __post_init__(self) -> None:
        if len(self.notes) > MAX_NOTES + 1:  # (+ 1: a result read back keeps its notes as they are)
            self.notes = self.notes[:MAX_NOTES] + [f"... and {len(self.notes) - MAX_NOTES} more "
                                                   "notes like these"]
        self.notes = [clean(note, MAX_NOTE_CHARS) for note in self.notes]
        used = sum(map(len, self.notes))
        for test in self.tests:  # past their share of the text budget, outputs are cut
            used += len(test.output)
            if used > MAX_RESULT_TEXT_CHARS // 2:
                test.output = OUTPUT_CUT

    @property
    def causes(self) -> list:
        """``(cause, numbers of the tests it cost points in)``, each cause once, in test order."""
        found: dict = {}
        for test in self.tests:
            for cause in test.causes:
                found.setdefault(cause, []).append(test.number)
        return list(found.items())

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    @property
    def grader_errors(self) -> list:
        return [f"{t.number} {t.name}: {t.grader_error}" for t in self.tests if t.grader_error]

    def summary_text(self) -> str:
        lines = [f"Score: {self.score:.2f} / {self.max_score:.2f}"]
        for part in self.parts:
            line = f"  {part.name}: {part.score:.2f} / {part.max_score:.2f}"
            lines.append(line + (f" ({part.message})" if part.message else ""))
        lines += [f"Note: {note}" for note in self.notes]
        lines.append(f"Isolation: {self.isolation}")
        if self.budget_seconds is not None:
            lines.append(f"Time: {self.execution_time:.0f} s of the grade's budget of {self.budget_seconds:.0f} s")
        return "\n".join(lines + self.causes_text())

    def causes_text(self) -> list:
        """Each cause in full with the tests it cost, within half of the grade's text budget."""
        lines, used, causes = [], 0, self.causes
        for shown, (cause, numbers) in enumerate(causes):
            block = ["", f"{cause_verdict(cause, numbers)}:", cause.detail]
            used += sum(map(len, block))
            if used > MAX_RESULT_TEXT_CHARS // 2:
                return lines + ["", f"... and {len(causes) - shown} more problem(s), each named "
                                "in the output of the tests it cost points in."]
            lines += block
        return lines

    def to_gradescope(self) -> dict:
        result = {
            "score": round(self.score, 4),
            "execution_time": round(self.execution_time, 2),
            "output": self.summary_text(),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [t.to_gradescope() for t in self.tests],
        }
        if self.leaderboard:
            result["leaderboard"] = self.leaderboard
        return result


def cause_verdict(cause: Cause, numbers: list) -> str:
    """'Not graded because of this: tests 2.1-2.24' for a fatal cause, else which tests it cost
    points in (runs of consecutive tests of a part written as ranges)."""
    tests = f"test{'s' if len(numbers) > 1 else ''} {', '.join(number_ranges(numbers))}"
    return f"Not graded because of this: {tests}" if cause.fatal else f"Cost points in {tests}"


def number_ranges(numbers: list) -> list:
    """["2.1", "2.2", "2.3", "3.5"] -> ["2.1-2.3", "3.5"]."""
    runs: list = []
    for number in numbers:
        part, index = number.split(".")
        if runs and runs[-1][0] == part and runs[-1][2] == int(index) - 1:
            runs[-1][2] = int(index)
        else:
            runs.append([part, int(index), int(index)])
    return [f"{p}.{a}" if a == b else f"{p}.{a}-{p}.{b}" for p, a, b in runs]


def write_json_atomically(data: dict, path: Path) -> None:
    """Write via a temporary file and rename, so a reader never sees half a result."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
