"""Grade a corpus case and check its outcome: exact credit, a valid result, nothing escaped."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import time
import zlib
from pathlib import Path

from autograder.config import load_config
from autograder.run import RunOptions, grade_submission

from . import AllOf, Case, Fails, Unstated
from .build import PROJECT_ROOT, SECRET_NAME, Context, build
from .suite_index import suite_landed, test_ids

SCHEMA_PATH = PROJECT_ROOT / "tests" / "schemas" / "gradescope_results.schema.json"
PASS, FAIL = "\N{CHECK MARK} ", "\N{BALLOT X} "
# Attacks that try to change the grader's files append this line; no grader file may hold it.
TAMPER_MARK = "# corpus: overwritten by a student"
# What grading one case may add to the grader's own peak memory (its children not counted):
# issue 13 bounds the grader at 300 MiB whatever the submission does, and `grade run` holds
# about 90 MiB before grading (benchmarks/bench_grader_rss.py measures the whole corpus in one
# process; the timed fast_layers tests add the most, about 110 MiB).
GRADER_GROWTH_MIB = 200


@dataclasses.dataclass
class Row:
    part: str
    name: str
    score: float
    max_score: float
    output: str


@dataclasses.dataclass
class Outcome:
    case: Case
    ctx: Context
    gradescope: dict  # the results.json object
    rows: list  # Row per test, in result order
    student_output: str  # what student code printed, all parts (bounded by the engine)
    seconds: float
    result: object = None  # the GradeResult (None when graded through the CLI)
    cli_exit_code: int | None = None
    cli_stdout: str = ""
    network_reached: bool = False  # something connected to the grader's listening port
    grader_growth_mib: float | None = None  # the grader's peak memory over its size before (Linux)

    def output_of(self, test_id: str) -> str:
        return scores(self)[test_id][1]

    @property
    def all_text(self) -> str:
        return json.dumps(self.gradescope) + self.student_output


def params(cases: list) -> list:
    """pytest params of ``cases``, with their marks; a case whose suite is missing is skipped."""
    import pytest

    return [pytest.param(c, id=c.name, marks=list(c.marks) + (
        [] if all(suite_landed(p) for p in c.parts)
        else [pytest.mark.skip(reason=f"suite {c.parts} not yet landed")])) for c in cases]


def skipped_here(case: Case) -> bool:
    """Whether the case's own marks skip it on this host (namespaces refused, an opt-in)."""
    return any(mark.name == "skipif" and mark.args and mark.args[0] for mark in case.marks)


def grade_case(case: Case, tmp_path: Path) -> Outcome:
    if case.seed is None:
        # The suites hold every case's credit whatever the seed (tests/suites/test_seeds.py
        # proves it over seeds); CI itself stays the same run every time.
        case = dataclasses.replace(case, seed=zlib.crc32(case.name.encode()))
    with socket.socket() as listener:  # an attack trying the network aims at this port
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        ctx = Context(root=tmp_path, secret=f"s3cr3t-{os.urandom(8).hex()}",
                      tag=f"{os.urandom(5).hex()}", port=listener.getsockname()[1])
        outcome = _grade(case, ctx)
        try:
            listener.accept()[0].close()
            outcome.network_reached = True
        except BlockingIOError:
            pass
    return outcome


def grade_and_check(case: Case, tmp_path: Path, validator) -> Outcome:
    """Grade ``case`` and check what every corpus case must meet: bounded time, a valid result,
    exactly its expected credit, containment, and the case's own check."""
    outcome = grade_case(case, tmp_path)
    assert outcome.seconds < case.max_seconds, f"grading took {outcome.seconds:.1f} s"
    assert (outcome.grader_growth_mib or 0) <= GRADER_GROWTH_MIB, (
        f"the grader's own memory grew by {outcome.grader_growth_mib:.0f} MiB while grading")
    check_valid_result(outcome, validator)
    check_credit(outcome)
    check_contained(outcome)
    if case.check:
        case.check(outcome)
    return outcome


def _grade(case: Case, ctx: Context) -> Outcome:
    source = build(case, ctx)
    config = load_config()
    if case.part_timeout is not None:
        parts = {name: dataclasses.replace(part, timeout=case.part_timeout) if name in case.parts
                 else part for name, part in config.parts.items()}
        config = dataclasses.replace(config, parts=parts)
    previous = Path.cwd()
    os.environ[SECRET_NAME] = ctx.secret  # must never reach student code
    os.chdir(ctx.cwd)  # an attack writing results.json "to the cwd" aims here
    data_dir = _fake_cifar10(ctx, case)
    rss_before = _reset_peak_rss()
    started = time.monotonic()
    try:
        if case.via_cli:
            outcome = _grade_via_cli(case, ctx, source, started)
        else:
            result = grade_submission(source, list(case.parts), config,
                                      RunOptions(call_timeout=case.call_timeout, data_dir=data_dir,
                                                 allow_namespaces=case.namespaces, budget=case.budget,
                                                 seed=case.seed, tests=case.tests))
            seconds = time.monotonic() - started
            rows = [Row(t.part, t.name, t.score, t.max_score, t.output) for t in result.tests]
            assert result.grader_errors == [], f"{case.name}: grader errors {result.grader_errors}"
            outcome = Outcome(case, ctx, result.to_gradescope(), rows,
                              "".join(p.student_output for p in result.parts), seconds, result=result)
    finally:
        os.chdir(previous)
        del os.environ[SECRET_NAME]
    if rss_before is not None:
        outcome.grader_growth_mib = _status_mib("VmHWM") - rss_before
    return outcome


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _reset_peak_rss() -> float | None:
    """Reset this process's peak resident set to its current size (Linux 4.0+) and return
    that size in MiB; None where it cannot be reset."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_mib("VmRSS")
    except (OSError, KeyError):
        return None


def _fake_cifar10(ctx: Context, case: Case) -> str | None:
    """A small CIFAR-10 look-alike for the cifar10 part's test set (chance-level accuracy)."""
    if "cifar10" not in case.parts:
        return None
    from reference.cifar10_data import write_fake_cifar10

    return str(write_fake_cifar10(ctx.root / "cifar-data", n_train_per_batch=20, n_test=50))


def _grade_via_cli(case: Case, ctx: Context, source: Path, started: float) -> Outcome:
    """``grade run SUBMISSION --part P --format json --output PATH`` in this process."""
    from click.testing import CliRunner

    import cli

    args = ["run", str(source), "--format", "json", "--output", str(ctx.output)]
    for part in case.parts:
        args += ["--part", part]
    if case.call_timeout:
        args += ["--timeout", str(case.call_timeout)]
    if case.budget:
        args += ["--budget", str(case.budget)]
    if case.seed is not None:
        args += ["--seed", str(case.seed)]
    for test in case.tests:
        args += ["--test", test]
    outcome = CliRunner().invoke(cli.main, args, catch_exceptions=False)
    seconds = time.monotonic() - started
    assert outcome.exit_code == 0, f"grade run exited with {outcome.exit_code}: {outcome.output[-2000:]}"
    data = json.loads(outcome.stdout)
    rows = [Row(t["tags"][0], t["name"], t["score"], t["max_score"], t["output"]) for t in data["tests"]]
    return Outcome(case, ctx, data, rows, "", seconds, cli_exit_code=outcome.exit_code,
                   cli_stdout=outcome.stdout)


def scores(outcome: Outcome) -> dict:
    """``"part::test_function"`` -> (fraction kept, output); parametrized items are merged."""
    merged: dict = {}
    for part in outcome.case.parts:
        ids = test_ids(part, tuple(t.split("/", 1)[1] for t in outcome.case.tests
                                   if t.startswith(f"{part}/")))
        rows = [r for r in outcome.rows if r.part == part]
        assert len(rows) == len(ids), f"{part}: {len(rows)} tests graded, the suite has {len(ids)}"
        for (test_id, name), row in zip(ids, rows):
            assert row.name == f"{part}: {name}", f"test order differs: {row.name!r} vs {name!r}"
            fraction = row.score / row.max_score if row.max_score else 1.0
            merged.setdefault(test_id, []).append((fraction, row.output))
    return {k: (sum(f for f, _ in v) / len(v), "\n".join(o for _, o in v)) for k, v in merged.items()}


def expected_failures(case: Case) -> dict:
    expected = {}
    for entry in case.fails_all:
        assert isinstance(entry, AllOf)
        expected.update({test_id: entry.fraction for test_id, _ in test_ids(entry.part)})
    expected.update(case.fails)
    unknown = set(expected) - {t for p in case.parts for t, _ in test_ids(p)}
    assert not unknown, f"{case.name}: no such test(s) {sorted(unknown)} in {case.parts}"
    return expected


def check_credit(outcome: Outcome) -> None:
    """Exactly the expected tests lose points, each exactly as expected; all others pass."""
    got = scores(outcome)
    expected = expected_failures(outcome.case)
    problems = []
    for test_id, (fraction, output) in got.items():
        want = expected.get(test_id)
        if isinstance(want, Unstated):
            continue
        if want is None:
            if fraction < 1 - 1e-9:
                problems.append(f"{test_id} should pass, kept {fraction:.3f}:\n{_indent(output)}")
        elif isinstance(want, Fails):
            failed = [line for line in output.splitlines() if line.startswith(FAIL)]
            run = failed + [line for line in output.splitlines() if line.startswith(PASS)]
            credit = 1 - len(failed) / len(run) if run else 0.0
            if len(failed) != want.count or abs(fraction - credit) > 1e-6:
                problems.append(f"{test_id} should fail {want.count} case(s), failed {len(failed)} "
                                f"of {len(run)} (kept {fraction:.3f}):\n{_indent(output)}")
            for text in want.mentions:
                if not any(text in line for line in failed):
                    problems.append(f"{test_id}: no failing case mentions {text!r}:\n{_indent(output)}")
        elif abs(fraction - want) > 1e-6:
            problems.append(f"{test_id} should keep {want}, kept {fraction:.3f}:\n{_indent(output)}")
    seed = f" (hidden inputs' seed {outcome.result.seed})" if outcome.result else ""
    assert not problems, f"{outcome.case.name}{seed}: " + "\n".join(problems)


def check_valid_result(outcome: Outcome, validator) -> None:
    data = outcome.gradescope
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, f"results.json invalid: {errors[0].message}"
    json.dumps(data, allow_nan=False)  # NaN or inf would make Gradescope reject the file
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-3
    for test in data["tests"]:
        assert test["score"] <= test["max_score"] + 1e-9


def check_contained(outcome: Outcome) -> None:
    """Nothing the student did reached outside its sandbox."""
    ctx = outcome.ctx
    assert ctx.secret not in outcome.all_text, "the grader's secret reached the student code"
    assert not outcome.network_reached, "student code reached the grader over the network"
    assert list(ctx.markers.iterdir()) == [], f"files appeared in {ctx.markers}: {list(ctx.markers.iterdir())}"
    # (.benchmarks is made by the grader itself: pytest-benchmark, autoloaded by the suites' pytest)
    written = sorted(p.name for p in ctx.cwd.iterdir() if p.name != ".benchmarks")
    assert written == [], f"files appeared in the grader's cwd: {written}"
    assert (ctx.other_student / "shapes.py").read_text() == f"# another student's work: {ctx.secret}\n"
    assert tampered() == [], "a grader file was changed by student code"
    assert processes_tagged(ctx.tag) == [], "processes the student started are still running"


def tampered() -> list:
    """Grader files that hold the attacks' mark (other engineers may edit them meanwhile, so
    the check looks for what an attack writes rather than for any change)."""
    found = []
    for folder in ("autograder", "reference"):
        for path in (PROJECT_ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".toml", ".json") and path.is_file():
                if TAMPER_MARK in path.read_text(errors="replace"):
                    found.append(str(path))
    return found


def processes_tagged(tag: str) -> list:
    """Host processes whose command line holds ``tag`` (attacks name their processes with it)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if tag.encode() in f.read():
                        found.append(int(entry.name))
            except OSError:
                pass
    return found


def _indent(text: str) -> str:
    return re.sub(r"(?m)^", "      ", text[:3000])
