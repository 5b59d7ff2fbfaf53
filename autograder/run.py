"""``grade run``: grade one submission, part by part, each part in a fresh sandbox.

The trusted side of grading lives here: suites run in this process under pytest, student code
runs only in the sandbox the part's ``Session`` wraps, and the part's sandbox (with every process
the student started) is killed before the next part starts and before any result is written.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import autograder
from autograder.config import GradingConfig, PartConfig, load_config
from autograder.data import data_folders, find_data
from autograder.engine.plugin import GradingPlugin
from autograder.parts import SUITES_DIR
from autograder.engine.proxy import Session
from autograder.engine.memory import memory_limit_mb, oom_kill_count, oom_kills_since
from autograder.engine.notebook_submission import stub_functions
from autograder.engine.results import GradeResult, PartSummary, TestResult
from autograder.engine.sandbox import Limits, SandboxFactory, detect_isolation
from autograder.engine.seeds import new_grade_seed
from autograder.engine.submission import SubmissionError, load_submission
from autograder.engine.suite_runner import SuiteError, run_suite
from autograder.thresholds import load_thresholds

PACKAGE_DIR = Path(autograder.__file__).resolve().parent
HANDOUT_DIR = PACKAGE_DIR.parent / "assignments"
PROJECT_ROOT = PACKAGE_DIR.parent
REFERENCE_DIR = PROJECT_ROOT / "reference"


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Per-run settings that are not part of the course's configuration."""

    device: str = "cpu"
    data_dir: str | None = None
    call_timeout: float | None = None  # overrides every part's call_timeout
    hide: tuple = ()  # extra paths the sandbox must not see (e.g. where results are written)
    allow_namespaces: bool = True
    thresholds: str | None = None  # a calibrated thresholds file laid over autograder/thresholds.toml
    budget: float | None = None  # overrides limits.grade_budget_seconds
    suite_plugins: tuple = ()  # more pytest plugins for every part's suite (grade audit's test selection)
    seed: int | None = None  # the hidden inputs' seed (grade run --seed); None: a new secret one
    # Only these tests (grade run --test): node ids under autograder/suites, "layers/test_conv.py"
    # or "layers/test_conv.py::test_conv_float32"; a part that none of them names runs in full.
    tests: tuple = ()


def resolve_device(device: str) -> str:
    """``auto`` means cuda when an NVIDIA device node exists; the child confirms with torch.

    Decided without importing torch here, to keep the trusted process small (Gradescope: 768 MB).
    """
    if device != "auto":
        return device
    return "cuda" if Path("/dev/nvidia0").exists() or Path("/dev/nvidiactl").exists() else "cpu"


class GraderError(Exception):
    """The grader itself could not run (a bug or a broken installation), not the student's fault."""


# Held back from the parts' shares of the grade's budget, per part, for what runs outside student
# calls (starting pytest, the suites' own checks, closing sandboxes, writing results): 0.4 to 1 s
# a part were measured on an idle 2-core machine, up to 3 s on a loaded one; 3 s plus 5% of the
# budget, at most 10 s.
RESERVE_PER_PART_S, RESERVE_PER_PART_FRACTION, RESERVE_PER_PART_MAX_S = 3.0, 0.05, 10.0


def grade_submission(source: Path, parts: list | None = None, config: GradingConfig | None = None,
                     options: RunOptions = RunOptions(),
                     on_part: Callable[[GradeResult], None] | None = None) -> GradeResult:
    """Grade ``source`` within the grade's time budget; ``on_part`` gets the results so far
    after each part but the last (to keep a results file current)."""
    config = config or load_config()
    selected = config.select(parts or ())
    isolation = detect_isolation(options.allow_namespaces)
    started = time.monotonic()
    budget = options.budget or config.limits.grade_budget_seconds
    deadline = started + budget
    oom_kills_before = oom_kill_count()
    seed = new_grade_seed() if options.seed is None else options.seed
    tests, summaries, leaderboard = [], [], []

    def result(notes: list) -> GradeResult:
        return GradeResult(tests=list(tests), parts=list(summaries), isolation=isolation.describe(),
                           execution_time=time.monotonic() - started, notes=notes,
                           leaderboard=list(leaderboard), budget_seconds=budget, seed=seed)

    with tempfile.TemporaryDirectory(prefix="grade-run-") as tmp:
        expected = [f for p in selected for f in p.files]
        try:
            loaded = load_submission(Path(source), Path(tmp) / "submission", expected,
                                     config.limits.max_submission_mb * 2**20, config.limits.max_files,
                                     notebook_functions=_stub_functions(selected))
            root, notes, unreadable = loaded.root, loaded.notes, None
        except SubmissionError as exc:
            root, notes, unreadable = None, [], f"The submission could not be read: {exc}"
        data = _find_data(selected, root, options)
        sandboxes = SandboxFactory(dataclasses.asdict(config.limits), isolation,
                                   _hidden_paths(Path(source), options, config))
        for index, part in enumerate(selected, start=1):
            share = _PartBudget.of(part, selected[index - 1:], deadline, budget)
            # The suite reads the part's data from the folder found for it.
            part_options = dataclasses.replace(options, data_dir=str(data[part.name])) \
                if part.name in data else options
            part_tests, summary, entries = _grade_part(index, part, root, unreadable, config,
                                                       sandboxes, part_options, share, seed)
            tests += part_tests
            summaries.append(summary)
            leaderboard += entries
            if share.ran_out:
                notes.append(f"The {part.name} part ran out of time ({share.name}); the calls "
                             "it had left were not run.")
            if on_part is not None and index < len(selected):
                waiting = ", ".join(p.name for p in selected[index:])
                on_part(result(notes + [f"Not graded yet when this was written: {waiting}."]))
    return result(notes + _out_of_memory_notes(oom_kills_before))


@dataclasses.dataclass
class _PartBudget:
    """The seconds a part's student calls may take: the part's configured budget, or its share
    of what is left of the grade's budget (in proportion to the configured budgets of the parts
    still to grade) if that is less. Time a part leaves unused flows to the later parts."""

    seconds: float
    name: str  # for the student: "the part's time budget of 300 s", or whose share it is
    ran_out: bool = False  # set once the part is graded: a call was refused for want of time

    @classmethod
    def of(cls, part: PartConfig, remaining_parts: list, deadline: float, budget: float) -> "_PartBudget":
        reserve = min(RESERVE_PER_PART_MAX_S, RESERVE_PER_PART_S + RESERVE_PER_PART_FRACTION * budget)
        left = deadline - time.monotonic() - reserve * len(remaining_parts)
        share = max(left, 0.0) * part.timeout / sum(p.timeout for p in remaining_parts)
        if share >= part.timeout:
            return cls(part.timeout, f"the part's time budget of {part.timeout:.0f} s")
        return cls(share, f"its share, {share:.0f} s, of the grade's time budget of {budget:.0f} s")


def _find_data(selected: list, root: Path | None, options: RunOptions) -> dict:
    """part name -> the folder its data was found in, for each selected part that declares data.

    Without its data a part cannot be graded, which is the grader's set-up and not the
    student's fault: it is found out (``DataError``) before any part runs. A submission without
    the part's code needs no data (its tests stop at the missing file)."""
    return {part.name: find_data(part, options.data_dir) for part in selected
            if part.data and root is not None
            and all((root / f).is_file() for f in part.files if f.endswith(".py"))}


def _out_of_memory_notes(oom_kills_before: int | None) -> list:
    """A note when the kernel killed processes for want of memory while this grade ran: their
    tests lost points that a machine with more memory would have given."""
    killed = oom_kills_since(oom_kills_before)
    if not killed:
        return []
    limit = memory_limit_mb()
    limit_text = f" (its limit: {limit:.0f} MiB)" if limit != float("inf") else ""
    return [f"The grading machine or container ran out of memory{limit_text}: the kernel killed "
            f"{killed} process(es), and the tests that were running in them "
            "failed for that reason. Ask the course staff to regrade with more memory "
            "(Gradescope: Autograder Settings)."]


def _hidden_paths(source: Path, options: RunOptions, config: GradingConfig) -> tuple:
    """The grader's own files, the folder the submission came from, the outputs, and every
    place a part's data (a test set's labels) may be read from."""
    is_checkout = (PROJECT_ROOT / "pyproject.toml").exists()
    paths = [PROJECT_ROOT] if is_checkout else [PACKAGE_DIR, PROJECT_ROOT / "reference"]
    paths += data_folders(config.parts.values(), options.data_dir)
    parent = source.resolve().parent
    if parent != Path("/"):
        paths.append(parent)
    return tuple(paths) + tuple(options.hide)


def expected_functions(part: PartConfig) -> dict:
    """file name -> public functions the handout stub defines (the contract, read from the stub)."""
    return stub_functions(HANDOUT_DIR, part.files)


def _stub_functions(parts: list) -> dict:
    """file name -> the functions a notebook handed in must define for it (from the stubs)."""
    return {name: functions for part in parts for name, functions in expected_functions(part).items()}


def _grade_part(index: int, part: PartConfig, root: Path | None, unreadable: str | None,
                config: GradingConfig, sandboxes: SandboxFactory, options: RunOptions,
                budget: _PartBudget, seed: int):
    started = time.monotonic()
    missing = unreadable or _missing_files_message(part, root)
    code_missing = root is None or any(not (root / f).is_file() for f in part.files if f.endswith(".py"))
    limits = sandboxes.limits(options.call_timeout or part.call_timeout, part.memory_mb, part.threads)
    reason = f"the {part.name} part must be written with numpy only"
    sandbox = None if code_missing else sandboxes.open(root, limits, part.forbid_imports, reason)
    session = Session(sandbox, budget.seconds, unavailable=missing if code_missing else None,
                      budget_name=budget.name)
    thresholds = load_thresholds(Path(options.thresholds) if options.thresholds else None)
    reference = _reference_session(part, limits, sandboxes, budget)
    plugin = GradingPlugin(session, options, part.forbid_imports, reason, config=config,
                           reference=reference, timing_policy=thresholds.policy, seed=seed)
    try:
        _run_pytest(SUITES_DIR / part.name, plugin, extra=options.suite_plugins,
                    select=tuple(t.split("/", 1)[1] for t in options.tests if t.startswith(f"{part.name}/")))
    finally:
        student_output = sandbox.output() if sandbox else ""
        if sandbox:
            sandbox.close()  # kills every process the student started, before results exist
        if reference:
            reference.sandbox.close()
            shutil.rmtree(reference.sandbox.submission_dir, ignore_errors=True)
    budget.ran_out = session.out_of_time
    tests = _score(index, part, plugin)
    score = sum(t.score for t in tests)
    summary = PartSummary(part.name, score, part.points, time.monotonic() - started,
                          message=missing or "", student_output=student_output)
    return tests, summary, list(plugin.leaderboard_entries.values())


def _reference_session(part: PartConfig, limits: Limits, sandboxes: SandboxFactory,
                       budget: _PartBudget) -> Session | None:
    """The reference's copies of the part's files in a sandbox like the student's, for timed tests
    to compare against (None when reference/ has none). Its process starts only when used."""
    files = [REFERENCE_DIR / name for name in part.files if (REFERENCE_DIR / name).is_file()]
    if not files:
        return None
    folder = Path(tempfile.mkdtemp(prefix=f"grade-reference-{part.name}-"))
    for path in files:
        shutil.copyfile(path, folder / path.name)
    return Session(sandboxes.open(folder, limits), budget.seconds, budget_name=budget.name)


def _missing_files_message(part: PartConfig, root: Path | None) -> str | None:
    absent = [f for f in part.files if root is None or not (root / f).is_file()]
    if not absent:
        return None
    functions = expected_functions(part)
    wanted = [f"{f} (defining {', '.join(functions[f])})" if f in functions else f for f in absent]
    return f"missing from the submission: {'; '.join(wanted)}"


def collect_suite(part_name: str) -> list:
    """The ``ItemRecord``s (name, points, visibility, hint) of a part's tests, without running them."""
    plugin = GradingPlugin(Session(None, 1.0, unavailable="collection only"))
    _run_pytest(SUITES_DIR / part_name, plugin, collect_only=True)
    return plugin.records


def _run_pytest(suite_dir: Path, plugin: GradingPlugin, collect_only: bool = False,
                extra: tuple = (), select: tuple = ()) -> None:
    try:
        run_suite(suite_dir, SUITES_DIR / "pytest.ini", plugin, collect_only, extra, select)
    except SuiteError as exc:
        raise GraderError(f"the suite {suite_dir.name}: {exc}") from None


def _score(index: int, part: PartConfig, plugin: GradingPlugin) -> list:
    # A course that overrides the part's points scales its tests' points alike.
    suite_points = sum(r.points or 0.0 for r in plugin.records)
    tests = []
    for number, record in enumerate(plugin.records, start=1):
        max_score = part.points * (record.points or 0.0) / suite_points if suite_points else 0.0
        tests.append(TestResult(
            name=f"{part.name}: {record.name}", part=part.name, number=f"{index}.{number}",
            score=max_score * record.fraction, max_score=max_score, output=record.output,
            visibility=record.visibility or part.visibility, grader_error=record.grader_error,
            causes=record.causes, explained=record.explained))
    return tests
