"""The check cells of the handout notebook: one part's visible tests, as a short table.

The same tests, sandbox and results as ``python -m autograder.check --part PART`` (``check.py``
runs them), shortened to one row per test: passed or failed, and the first thing that went wrong.
A check cell never raises, whatever the student's code does, so that a notebook run top to
bottom (by hand or headless) reaches its last cell; the table says what failed.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from autograder.check import CheckError, check_folder

PROBLEM_CHARS = 100  # the first line of what went wrong; the terminal check prints it all


def show_check(part: str, folder: str | Path = ".") -> None:
    """Run ``part``'s visible tests on the files in ``folder`` (default: beside the notebook)
    and print a table of them."""
    console = Console(force_jupyter=False, force_terminal=False, width=120, highlight=False)
    try:
        result = check_folder(Path(folder), [part])
    except CheckError as exc:
        console.print(f"The check could not run: {exc}")
        return
    table = Table(title=f"{part}: visible tests", title_justify="left")
    table.add_column("")
    table.add_column("test")
    table.add_column("first problem")
    for test in result.tests:
        passed = test.status == "passed"
        problem = "" if passed else _first_line(test.output)
        table.add_row("ok" if passed else "FAIL", test.name.removeprefix(f"{part}: "), problem)
    console.print(table)
    passed = sum(t.status == "passed" for t in result.tests)
    for note in result.notes + [p.message for p in result.parts if p.message]:
        console.print(note)
    details = ("" if passed == len(result.tests) else " Every failure in full: `python -m "
               f"autograder.check --part {part}` in a terminal, from the handout's folder.")
    console.print(f"{passed} of {len(result.tests)} visible tests pass.{details} The hidden tests, "
                  "run when you hand in, decide the grade.")


def _first_line(output: str) -> str:
    line = next((line for line in output.splitlines() if line.strip()), "failed")
    return line if len(line) <= PROBLEM_CHARS else line[:PROBLEM_CHARS - 3] + "..."
