"""``grade check``: run only the visible tests on a student's files, locally, with the report of
``grade run``.

The same module runs in this repository (``grade check``) and in the unpacked student handout
(``python -m autograder.check``), which ships only what it needs: the engine, the visible tests
with the fixtures and helpers they use, and ``check.toml`` (each part's files and limits, written
by ``grade package student``; here they come from grading.toml). Student code runs in the same
sandbox as in grading. Scores count the visible tests' own points, not the grade: the hidden tests,
which are not here, decide the grade.
"""
from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import click

PACKAGE_DIR = Path(__file__).resolve().parent
SUITES_DIR = PACKAGE_DIR / "suites"
DEFAULT_FOLDER = PACKAGE_DIR.parent / "assignments"
SETTINGS_FILE = PACKAGE_DIR / "check.toml"  # only in the handout
VISIBLE_TESTS = "test_visible.py"
# What the check reads of a part's configuration (the rest, e.g. points, is none of its business).
PART_KEYS = ("files", "timeout", "call_timeout", "memory_mb", "forbid_imports", "threads")
EXIT_PASSED, EXIT_FAILED, EXIT_GRADER_ERROR = 0, 1, 2


class CheckError(Exception):
    """The check could not run (bad folder, unknown part, broken installation); says why."""


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    """What the suites' ``grading_options`` fixture offers during a check."""

    device: str = "cpu"
    data_dir: str | None = None


def settings_from_config(config) -> dict:
    """The check's settings (``check.toml``'s content) from a ``GradingConfig``: the parts that
    have visible tests, with only the keys in ``PART_KEYS``, and the process limits."""
    parts = {}
    for name, part in config.parts.items():
        if (SUITES_DIR / name / VISIBLE_TESTS).is_file():
            parts[name] = {key: getattr(part, key) for key in PART_KEYS if hasattr(part, key)}
    return {"parts": parts, "limits": dataclasses.asdict(config.limits)}


def load_settings() -> dict:
    if SETTINGS_FILE.is_file():
        return tomllib.loads(SETTINGS_FILE.read_text())
    from autograder.config import load_config  # in the repository only: the handout has no config

    return settings_from_config(load_config())


def check_folder(folder: Path, parts: list | None = None, options: CheckOptions = CheckOptions()):
    """Run the visible tests of ``parts`` (default: all that have some) on ``folder``."""
    from autograder.engine.notebook_submission import stub_functions
    from autograder.engine.results import GradeResult
    from autograder.engine.sandbox import SandboxFactory, detect_isolation
    from autograder.engine.submission import SubmissionError, load_submission

    settings = load_settings()
    names = list(parts or settings["parts"])
    unknown = [n for n in names if n not in settings["parts"]]
    if unknown:
        raise CheckError(f"no visible tests for part(s) {unknown}; the parts are {list(settings['parts'])}")
    limits = settings["limits"]
    isolation = detect_isolation()
    started = time.monotonic()
    tests, summaries = [], []
    with tempfile.TemporaryDirectory(prefix="grade-check-") as tmp:
        expected = [f for n in names for f in settings["parts"][n]["files"]]
        try:
            loaded = load_submission(Path(folder), Path(tmp) / "submission", expected,
                                     limits["max_submission_mb"] * 2**20, limits["max_files"],
                                     notebook_functions=stub_functions(DEFAULT_FOLDER, expected))
        except SubmissionError as exc:
            raise CheckError(f"{folder} cannot be read: {exc}") from None
        sandboxes = SandboxFactory(limits, isolation,
                                   (str(PACKAGE_DIR.parent), str(Path(folder).resolve().parent)))
        for index, name in enumerate(names, start=1):
            part_tests, summary = _check_part(index, name, settings["parts"][name], loaded.root,
                                              sandboxes, options)
            tests += part_tests
            summaries.append(summary)
    return GradeResult(tests=tests, parts=summaries, execution_time=time.monotonic() - started,
                       isolation=isolation.describe(), notes=loaded.notes)


def _check_part(index: int, name: str, part: dict, root: Path, sandboxes, options: CheckOptions):
    from autograder.engine.plugin import GradingPlugin
    from autograder.engine.proxy import Session
    from autograder.engine.results import PartSummary, TestResult
    from autograder.engine.suite_runner import SuiteError, run_suite

    started = time.monotonic()
    absent = [f for f in part["files"] if not (root / f).is_file()]
    message = f"missing from your files: {', '.join(absent)}" if absent else ""
    sandbox = None
    forbid, reason = tuple(part.get("forbid_imports", ())), f"the {name} part must be written with numpy only"
    if any(f.endswith(".py") for f in absent):  # every call then fails with the message
        session = Session(None, part["timeout"], unavailable=message)
    else:
        sandbox = sandboxes.open(root, sandboxes.limits(part["call_timeout"], part["memory_mb"],
                                                        part.get("threads")), forbid, reason)
        session = Session(sandbox, part["timeout"])
    plugin = GradingPlugin(session, options, forbid, reason)
    try:
        run_suite(SUITES_DIR / name / VISIBLE_TESTS, SUITES_DIR / "pytest.ini", plugin)
    except SuiteError as exc:
        raise CheckError(f"the visible tests of {name}: {exc}") from None
    finally:
        student_output = sandbox.output() if sandbox else ""
        if sandbox:
            sandbox.close()
    tests = [TestResult(name=f"{name}: {r.name}", part=name, number=f"{index}.{number}",
                        score=(r.points or 0.0) * r.fraction, max_score=r.points or 0.0, output=r.output,
                        visibility="visible", grader_error=r.grader_error, causes=r.causes,
                        explained=r.explained)
             for number, r in enumerate(plugin.records, start=1)]
    return tests, PartSummary(name, sum(t.score for t in tests), sum(t.max_score for t in tests),
                              time.monotonic() - started, message=message,
                              student_output=student_output)


def run_check(folder: Path, parts: tuple) -> int:
    """Print the report of the visible tests on ``folder``; returns the exit status."""
    from rich.console import Console

    from autograder.report import print_report

    console = Console()
    console.print(f"Visible tests only, on the files in {folder}. Scores are the tests' weights: "
                  "the hidden tests, run when you hand in, decide your grade.", highlight=False)
    result = check_folder(folder, list(parts) or None)
    print_report(result, console)
    if result.grader_errors:
        return EXIT_GRADER_ERROR
    return EXIT_PASSED if all(t.status == "passed" for t in result.tests) else EXIT_FAILED


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("folder", required=False, default=DEFAULT_FOLDER,
                type=click.Path(exists=True, path_type=Path))
@click.option("--part", "parts", multiple=True, help="Check only this part (repeatable).")
def command(folder: Path, parts: tuple) -> None:
    """Run the visible tests on FOLDER (a folder or .zip of your files; default: assignments/).

    Exit status: 0 all visible tests pass, 1 some fail, 2 the checker itself had a problem.
    """
    try:
        code = run_check(folder, parts)
    except CheckError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


if __name__ == "__main__":
    command(prog_name="python -m autograder.check")
