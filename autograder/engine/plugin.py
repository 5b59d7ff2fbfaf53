"""The pytest plugin that turns a hidden suite into scored test results.

Suites are plain pytest files. Metadata only rides on markers (as gradescope-utils' decorators do):

* ``@pytest.mark.points(2)``             the test's points (whole or half; every test has one)
* ``@pytest.mark.visibility("visible")`` Gradescope visibility (default: the part's)
* ``@pytest.mark.hint("...")``           shown to the student when the test fails

The test's name is the first line of its docstring. Fixtures offered to suites:

* ``submission``: opens student files as proxies (``submission.module("layers", ...)``)
* ``grading_options``: the run's options (device, data folder)
* ``grading_config``: the course's configuration (points, limits, per-part settings)
* ``leaderboard``: columns for Gradescope's leaderboard
* ``hidden_rng``: a numpy ``Generator`` for the test's random inputs, seeded by the grade's
  secret seed and the test's id (``engine.seeds``); visible tests keep fixed, published inputs.
* ``cases``: partial credit; ``cases.run(label, check, *args)`` runs one case and records it;
  the test scores ``passed / run`` of its points.
* ``timing``: speed against the reference; ``timing.compare(...)`` checks the result on the
  timed inputs, times both, and the test scores the verdict's credit (see ``engine.timing``).

Assertion messages and ``StudentCodeError`` texts are what the student reads, so suites must
never put expected values in them; pytest's assertion rewriting is turned off for that reason.
A ``StudentCodeError`` (a file that does not import, a function that raises) becomes a
``results.Cause``: the report tells it once, with the tests it cost, and each failing case
carries its one-line summary. An ``AssertionError`` with a ``student_error`` attribute (a
``StudentCodeError``) is a verdict on that error ("expected ValueError, but ... raised
TypeError"): its line stays, and the error is told as the cause.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from .proxy import (MachineOutOfMemory, MissingFile, MissingFunction, Session, StudentCodeError,
                    StudentFunction, StudentImportError, StudentModule, StudentTimeout)
from .results import Cause
from .seeds import inputs_rng
from .timing import Side, TimedComparisons, TimingPolicy

PASS, FAIL = "\N{CHECK MARK}", "\N{BALLOT X}"


@dataclasses.dataclass
class CaseRecord:
    label: str
    passed: bool
    message: str = ""
    machine_fault: bool = False  # failed because the grading machine ran out of memory
    error: StudentCodeError | None = None  # the student code's failure, told once as a Cause
    skipped: bool = False  # not run, because of an earlier case's time-out (its cause)


class Cases:
    """Records the cases of one test; after a time-out, the test's remaining cases are skipped."""

    def __init__(self) -> None:
        self.records: list[CaseRecord] = []
        self._timed_out = False

    def run(self, label: str, check, *args, **kwargs) -> bool:
        if self._timed_out:
            self.records.append(CaseRecord(label, False, "not run: an earlier case timed out",
                                           skipped=True))
            return False
        try:
            check(*args, **kwargs)
        except StudentCodeError as exc:  # its message is the cause's summary
            self._timed_out = isinstance(exc, StudentTimeout)
            self.records.append(CaseRecord(label, False, "", isinstance(exc, MachineOutOfMemory), exc))
            return False
        except AssertionError as exc:  # the check's verdict, perhaps on an error of the student's
            self.records.append(CaseRecord(label, False, str(exc) or type(exc).__name__,
                                           error=getattr(exc, "student_error", None)))
            return False
        self.records.append(CaseRecord(label, True))
        return True

    @property
    def fraction(self) -> float:
        return sum(r.passed for r in self.records) / len(self.records)


class SubmissionAccess:
    """What a suite sees of the submission: modules to call, never processes."""

    def __init__(self, session: Session, forbid: tuple, forbid_reason: str) -> None:
        self._session, self._forbid, self._reason = session, forbid, forbid_reason

    def module(self, name: str, opaque: dict | None = None) -> StudentModule:
        return StudentModule(self._session, name, opaque, self._forbid, self._reason)

    def submitted_file(self, name: str) -> Path | None:
        """The file ``name`` as the student handed it in, or None if the submission lacks it:
        the grader's own copy, which no student code runs beside (the child works on a copy of
        its own), for checks that must not take the child's word."""
        if self._session.unavailable is not None:
            raise MissingFile(self._session.unavailable)
        path = self._session.sandbox.submission_dir / name
        return path if path.is_file() and not path.is_symlink() else None

    def helper(self, name: str, source: str, opaque: dict | None = None, *,
               drives: str) -> StudentModule:
        """Trusted helper code run inside the sandbox to drive the student's module ``drives``
        there (e.g. to build and run a model).

        Its functions are called like a student module's; exceptions from the student code they
        call come back as ``StudentException`` with the student's traceback lines. Messages name
        the student's file, never the helper (the student knows nothing of it)."""
        self._session.add_helper(name, source)
        return HelperModule(self._session, name, opaque, drives,
                            lambda: self._session.ensure_imported(drives, self._forbid, self._reason))


class HelperModule(StudentModule):
    """A helper's functions, labelled by the student file they drive; before each call the
    student's module is imported as such, so that its import errors are told as import errors."""

    def __init__(self, session: Session, name: str, opaque: dict | None, drives: str,
                 import_student) -> None:
        super().__init__(session, name, opaque)
        self.drives, self.import_student = drives, import_student

    def __getattr__(self, attr: str) -> StudentFunction:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return _HelperFunction(self, attr)

    def label_of(self, attr: str) -> str:
        return f"your {self.drives}.py"


class _HelperFunction(StudentFunction):
    def call(self, args: tuple, kwargs: dict | None = None, **options):
        self.module.import_student()
        return super().call(args, kwargs, **options)


class Leaderboard:
    """Collects leaderboard columns; the last value set for a name wins."""

    def __init__(self, entries: dict) -> None:
        self._entries = entries

    def set(self, name: str, value: float | str, order: str = "desc") -> None:
        if order not in ("asc", "desc"):
            raise ValueError("order must be 'asc' or 'desc'")
        self._entries[name] = {"name": name, "value": value, "order": order}


@dataclasses.dataclass
class ItemRecord:
    nodeid: str
    name: str
    points: float | None  # None: the test has no points marker (grade validate refuses it)
    visibility: str | None
    hint: str
    fraction: float = 0.0
    output: str = ""
    grader_error: str = ""
    causes: list = dataclasses.field(default_factory=list)  # results.Cause, each once
    explained: bool = False  # every point it lost is explained by its causes


class GradingPlugin:
    """Registered with ``pytest.main(plugins=[...])`` for one part of one submission."""

    def __init__(self, session: Session, options: object = None, forbid: tuple = (),
                 forbid_reason: str = "", config: object = None, reference: Session | None = None,
                 timing_policy: TimingPolicy | None = None, seed: int | None = None) -> None:
        self.session = session
        self.seed = seed  # the grade's secret seed; None where only visible tests run
        self.options = options
        self.config = config
        self.leaderboard_entries: dict[str, dict] = {}
        self.access = SubmissionAccess(session, forbid, forbid_reason)
        self.records: list[ItemRecord] = []
        self._cases: dict[str, Cases] = {}
        # The reference runs in a sandbox of its own, so that timings of both sides are alike.
        self.reference = reference
        self.reference_access = SubmissionAccess(reference, forbid, forbid_reason) if reference else None
        self.timing_policy = timing_policy or TimingPolicy()
        self._timing: dict[str, TimedComparisons] = {}

    @pytest.fixture(scope="session")
    def submission(self) -> SubmissionAccess:
        return self.access

    @pytest.fixture(scope="session")
    def grading_options(self) -> object:
        """The run's options (device, data folder, ...), as the runner passed them."""
        return self.options

    @pytest.fixture(scope="session")
    def grading_config(self) -> object:
        """The course's grading configuration (``autograder.config.GradingConfig``)."""
        return self.config

    @pytest.fixture(scope="session")
    def leaderboard(self) -> "Leaderboard":
        """Entries for Gradescope's leaderboard: ``leaderboard.set(name, value, order)``."""
        return Leaderboard(self.leaderboard_entries)

    @pytest.fixture
    def hidden_rng(self, request) -> np.random.Generator:
        """The generator of this test's hidden inputs (``engine.seeds.inputs_rng``)."""
        if self.seed is None:
            raise RuntimeError("hidden inputs need the grade's seed (GradingPlugin(seed=...))")
        return inputs_rng(self.seed, request.node.nodeid)

    @pytest.fixture
    def cases(self, request) -> Cases:
        recorder = Cases()
        self._cases[request.node.nodeid] = recorder
        return recorder

    @pytest.fixture
    def timing(self, request) -> TimedComparisons:
        """Speed of a student function against the reference's; the test scores the credit.

        A wrong submission gets no timing points however fast it is, so a timed test goes:
        correctness on the very inputs that are timed, then timing. ``compare`` does both::

            verdict = timing.compare("conv_forward_fast", (x, w, b, conv_param),
                                     module="fast_layers", opaque={"conv_forward_fast": [1]})

        It calls both functions once on the inputs and raises ``AssertionError`` (no points)
        unless ``check(student_value, reference_value)`` accepts the result; only then are
        the two timed, interleaved, each in its own sandbox, by the clock of this process.
        Inputs that must be made inside each process (a cache) come from a builder
        ``args=lambda side: (...)`` run once per side. The test's score is the mean credit of
        its verdicts, and each verdict's message (both medians, the ratio, the tiers) is shown.
        """
        reference = Side(self.reference_access, self.reference) if self.reference else None
        comparisons = TimedComparisons(Side(self.access, self.session), reference,
                                       self.timing_policy)
        self._timing[request.node.nodeid] = comparisons
        return comparisons

    def pytest_configure(self, config) -> None:
        config.addinivalue_line("markers", "points(n): the test's points (whole or half points)")
        config.addinivalue_line("markers", "visibility(v): Gradescope visibility of the test")
        config.addinivalue_line("markers", "hint(text): shown to the student when the test fails")

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            points = item.get_closest_marker("points")
            vis = item.get_closest_marker("visibility")
            hint = item.get_closest_marker("hint")
            doc = (getattr(item.function, "__doc__", None) or item.name).strip().splitlines()[0]
            self.records.append(ItemRecord(
                nodeid=item.nodeid, name=doc,
                points=float(points.args[0]) if points else None,
                visibility=vis.args[0] if vis else None,
                hint=hint.args[0] if hint else ""))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and report.failed):
            self._record(item, call)

    def _record(self, item, call) -> None:
        record = next(r for r in self.records if r.nodeid == item.nodeid)
        cases = self._cases.get(item.nodeid)
        timing = self._timing.get(item.nodeid)
        exc = call.excinfo.value if call.excinfo is not None else None
        lines, causes, own_failure = [], {}, False
        if cases is not None and cases.records:
            record.fraction = cases.fraction
            for r in cases.records:
                if r.error is not None:  # told once at the top; here in one line
                    cause = causes.setdefault(str(r.error), cause_of(r.error))
                    lines.append(f"{FAIL} {r.label}: {r.message or cause.summary}")
                else:
                    own_failure |= not (r.passed or r.skipped)
                    lines.append(f"{PASS if r.passed else FAIL} {r.label}"
                                 + (f": {r.message}" if r.message else ""))
        elif cases is not None and exc is None:
            record.grader_error = "test recorded no cases"
        elif timing is not None and timing.verdicts and exc is None:
            record.fraction = timing.fraction
            lines += [verdict.message() for verdict in timing.verdicts]
            own_failure = record.fraction < 1.0
        else:
            record.fraction = 1.0 if exc is None else 0.0
        if isinstance(exc, StudentCodeError):  # the student's failure, outside any case
            record.fraction = 0.0 if cases is None else record.fraction
            lines.append(causes.setdefault(str(exc), cause_of(exc)).summary)
        elif isinstance(exc, AssertionError):  # the suite's verdict on the student's result
            record.fraction = 0.0 if cases is None else record.fraction
            lines.append(str(exc) or type(exc).__name__)
            error = getattr(exc, "student_error", None)
            if error is not None:
                causes.setdefault(str(error), cause_of(error))
            own_failure = error is None
        elif exc is not None:  # the test broke off: its unrun cases earned nothing
            record.fraction, own_failure = 0.0, True
            record.grader_error = f"{type(exc).__name__}: {exc}"
            if call.when == "setup":  # a fixture of the suite failed: the grader's problem
                lines.append("The grader could not run this test (a problem on the grader's "
                             "side, not in your code); the course staff has been told.")
            else:  # a bug in the suite, or a return value so odd that the check itself broke
                lines.append(f"The grader could not check this result ({type(exc).__name__}: "
                             f"{str(exc)[:300]}). Check that your function returns what its "
                             "docstring promises.")
        record.causes = list(causes.values())
        record.explained = record.fraction < 1.0 and not own_failure
        if (record.explained and record.fraction == 0.0 and record.causes
                and all(c.fatal for c in record.causes)):
            # The file or function could not be used: nothing of this test was graded, and a
            # hint about how to write the code would be beside the point.
            record.output = "\n".join(f"not graded: {c.summary} (see the top of the report)"
                                      for c in record.causes)
            return
        # A hint about the code is beside the point when only the machine's memory failed.
        machine_only = isinstance(exc, MachineOutOfMemory) or (
            cases is not None and exc is None and cases.records
            and all(r.passed or r.machine_fault for r in cases.records))
        if record.fraction < 1.0 and record.hint and not machine_only:
            lines.append(f"Hint: {record.hint}")
        record.output = "\n".join(lines)


# What to do about a failure that makes a whole file or function unusable.
FIXES = {
    StudentImportError: "Fix: make the file import without errors (import it in Python from your "
                        "submission's folder to see them), using only what the part allows; none "
                        "of its tests can run until it does.",
    MissingFile: "Fix: hand in the file with exactly this name, at the top of your submission.",
    MissingFunction: "Fix: define the function with exactly the name and arguments of the handout.",
}


def cause_of(error: StudentCodeError) -> Cause:
    """The failure as told once at the top of the report: its first line as the summary, the
    whole text (the student's traceback lines included) and, for a fatal one, the fix."""
    text = str(error) or type(error).__name__
    fix = next((fix for kind, fix in FIXES.items() if isinstance(error, kind)), "")
    return Cause(summary=text, detail=text + (f"\n{fix}" if fix else ""), fatal=bool(fix))
