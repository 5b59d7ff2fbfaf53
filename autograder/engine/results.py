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


@dataclasses.dataclass
class GradeResult:
    tests: list
    parts: list
    execution_time: float
    isolation: str
    leaderboard: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)  # about the submission, for the student

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
        return "\n".join(lines)

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


def write_json_atomically(data: dict, path: Path) -> None:
    """Write via a temporary file and rename, so a reader never sees half a result."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
