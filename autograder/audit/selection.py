"""Which tests a mutant runs, in which order, and when it stops: how mutation testers keep an
audit short without grading any mutant outside the usual sandbox.

The reference is graded once per part with a ``TestPicker`` that runs every untimed test and
notes, per test, the student functions it called and the seconds it took (its coverage). A mutant
then runs only the tests that call a function its change can reach (``reached_functions``: the
function it edits and every function of the file that calls that one), cheapest first, and stops
at the first test that loses points: one failure kills it. Timed tests (those that use the
``timing`` fixture) never run: they time the reference too and would cost a mutant seconds.
"""
from __future__ import annotations

import ast
import dataclasses
import time

import pytest

from autograder.engine.plugin import GradingPlugin

FULL_MARKS_SLACK = 1e-6


@dataclasses.dataclass(frozen=True)
class TestRun:
    __test__ = False  # not a test class

    name: str  # the test's name in the report (its docstring's first line)
    lost_points: bool
    seconds: float
    functions: frozenset  # the student functions it called


class TestPicker:
    """A pytest plugin, next to the grading plugin: runs ``tests`` (node ids, in that order;
    None: every untimed test in the suite's order) and stops after the first that loses points.
    ``runs`` holds what each test that ran did."""

    __test__ = False  # a plugin, not a test class, for pytest sessions that import it

    def __init__(self, tests: tuple | None = None) -> None:
        self.tests = tests
        self.runs: dict[str, TestRun] = {}
        self._grading: GradingPlugin | None = None
        self._called: set = set()

    def pytest_configure(self, config) -> None:
        self._grading = next(p for p in config.pluginmanager.get_plugins() if isinstance(p, GradingPlugin))
        self._record_calls(self._grading.session)

    def _record_calls(self, session) -> None:
        """Every request of a test goes through the part's one ``Session``: note the targets of
        its calls (the session is this grade's own and ends with it)."""
        request = session.request

        def recording(header: dict, *args, **kwargs):
            if header.get("op") == "call":
                self._called.add(header["target"]["attr"])
            return request(header, *args, **kwargs)

        session.request = recording

    @pytest.hookimpl(tryfirst=True)  # before the grading plugin makes a record of each test
    def pytest_collection_modifyitems(self, config, items: list) -> None:
        untimed = {item.nodeid: item for item in items if "timing" not in item.fixturenames}
        order = list(untimed) if self.tests is None else [t for t in self.tests if t in untimed]
        kept = [untimed[nodeid] for nodeid in order]
        dropped = [item for item in items if item.nodeid not in set(order)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        self._called = set()
        started = time.monotonic()
        yield
        record = next(r for r in self._grading.records if r.nodeid == item.nodeid)
        lost = record.fraction < 1.0 - FULL_MARKS_SLACK
        self.runs[item.nodeid] = TestRun(record.name, lost, time.monotonic() - started,
                                         frozenset(self._called))
        if lost:  # pytest ends the session after this test, as with -x
            item.session.shouldfail = f"{record.name} lost points"


def reached_functions(source: str, line: int) -> frozenset | None:
    """The top-level functions of ``source`` whose result a change on ``line`` can alter: the
    function holding the line and every function that calls it, directly or not. None for a
    line outside every function (a module constant: any test may see it)."""
    functions = {node.name: node for node in ast.parse(source).body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    edited = next((name for name, node in functions.items()
                   if node.lineno <= line <= node.end_lineno), None)
    if edited is None:
        return None
    callees = {name: {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} & set(functions)
               for name, node in functions.items()}
    reached, frontier = {edited}, [edited]
    while frontier:
        target = frontier.pop()
        for name, names in callees.items():
            if target in names and name not in reached:
                reached.add(name)
                frontier.append(name)
    return frozenset(reached)


def reaching_tests(coverage: dict, reached: frozenset | None) -> tuple:
    """The node ids of the tests (``coverage``: node id -> ``TestRun`` of the reference) that
    call a function in ``reached``, cheapest first; every untimed test when ``reached`` is None
    or no test calls any of them (a mutant no test can see still gets the whole suite)."""
    cheapest_first = sorted(coverage, key=lambda nodeid: coverage[nodeid].seconds)
    chosen = [nodeid for nodeid in cheapest_first
              if reached is not None and coverage[nodeid].functions & reached]
    return tuple(chosen or cheapest_first)
