"""A package proves itself: the reference, graded through it, must get every point it offers.

Each packager (Gradescope zip, otter, nbgrader) runs its own platform's grading on the reference,
offline, with the tools installed here, and hands the per-test scores here. The verdict never
trusts a single number: every test must be at its maximum, the maxima must add up to the
package's total, and where the platform also reports an overall score, that must equal the total
too. Anything else is a ``SelfTestFailed`` naming what fell short.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import subprocess
import sys
import zipfile
from pathlib import Path

# Platforms round scores (otter writes 5 decimals); a lost case is worth far more than this.
TOLERANCE = 1e-4
SHOWN_FAILURES = 5
SHOWN_OUTPUT_LINES = 15  # of a failed run's output: where it went wrong, not the whole log


class SelfTestFailed(Exception):
    """The reference did not get full marks through the package; the message says where not."""


@dataclasses.dataclass(frozen=True)
class Proof:
    """The reference's full marks through one package, and how long grading it took."""
    package: str
    score: float
    seconds: float

    def summary(self) -> str:
        return (f"self-test passed: the reference got {self.score:g}/{self.score:g} through "
                f"{self.package} in {self.seconds:.0f} s")


def require_full_marks(package: str, tests: dict, total: float, seconds: float,
                       reported_score: float | None = None, notes: tuple = ()) -> Proof:
    """``tests``: name -> (score, max_score) as the platform graded the reference.

    Returns the proof, or raises ``SelfTestFailed`` unless every test is at its maximum, the maxima
    add up to ``total`` (no test missing or re-weighted) and ``reported_score`` (the platform's own
    overall score, where it gives one) equals ``total``. ``notes``: what the grade itself noted
    about this machine, shown with a failure.
    """
    score = sum(s for s, _ in tests.values())
    offered = sum(m for _, m in tests.values())
    problems = []
    if not tests:
        problems.append("no test results at all")
    short = [f"{name} ({s:g}/{m:g})" for name, (s, m) in tests.items() if not _same(s, m)]
    if short:
        more = f" and {len(short) - SHOWN_FAILURES} more" if len(short) > SHOWN_FAILURES else ""
        problems.append("below full marks: " + ", ".join(short[:SHOWN_FAILURES]) + more)
    if tests and not _same(offered, total):
        problems.append(f"its tests offer {offered:g} points, the package {total:g}")
    if reported_score is not None and not _same(reported_score, total):
        problems.append(f"the reported score is {reported_score:g}")
    if problems:
        raise SelfTestFailed(f"self-test of {package} failed: the reference got {score:g}/{total:g}; "
                             + "; ".join(problems) + "".join(f"\n{note}" for note in notes))
    return Proof(package, total, seconds)


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0, abs_tol=TOLERANCE)


def unzip_with_modes(archive: Path, dest: Path) -> None:
    """Extract with the file modes the zip records, as ``unzip`` does (zipfile alone drops them)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode:  # zips made elsewhere may record none
                target.chmod(mode)


# --- the notebook routes: the real tools, run offline on the reference's answers ---------------

TOOL_TIMEOUT = 600  # seconds for one tool run; otter assign and nbgrader autograde take about a minute


def require_tool(module: str, package: str) -> None:
    """Refuse the self-test where the platform's own tool is not installed."""
    if importlib.util.find_spec(module) is None:
        raise SelfTestFailed(f"the self-test runs {package}, which is not installed here: "
                             "pip install -e '.[notebooks]', or pass --no-self-test")


def run_tool(*args: str, cwd: Path) -> None:
    """``python -m ARGS`` in ``cwd``; a failure is the self-test's, with the tool's last words."""
    try:
        done = subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SelfTestFailed(f"self-test: {' '.join(args[:2])} ran past {TOOL_TIMEOUT} s") from None
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-SHOWN_OUTPUT_LINES:]
        raise SelfTestFailed(f"self-test: {' '.join(args[:2])} exited with code {done.returncode}:\n"
                             + "\n".join(tail))


def reference_answers() -> dict:
    """question -> the answer cell a student who wrote the reference would fill in."""
    from autograder.package.notebook_parts import QUESTIONS, answer_code

    return {name: answer_code(importlib.import_module(f"reference.{module}"),
                              importlib.import_module(f"assignments.{module}"), name)
            for _, module, name in QUESTIONS}
