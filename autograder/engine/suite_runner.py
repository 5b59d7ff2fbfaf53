"""Run test files of a suite under pytest, in this process, with the grading plugin.

Shared by ``grade run`` (a part's whole suite) and ``grade check`` (its visible tests only, also
in the student handout). pytest's own output is kept out of the terminal; the plugin holds what
each test earned.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import pytest

LOG_TAIL_CHARS = 4000
AUTOLOAD_OFF = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


class SuiteError(Exception):
    """pytest could not run the suite (a collection error, a broken conftest) or found no test."""


def run_suite(target: Path, ini: Path, plugin, collect_only: bool = False,
              extra_plugins: tuple = (), select: tuple = ()) -> None:
    """Run ``target`` (a suite folder, or one test file in it) with ``plugin`` (and
    ``extra_plugins``, e.g. the audit's choice of tests); ``select``: node ids in the folder
    (``test_conv.py``, ``test_conv.py::test_conv_float32``) to run instead of all of it.

    ``ini`` is the suites' pytest.ini (markers, no user configuration). Raises ``SuiteError``
    with the end of pytest's log when the tests could not run.
    """
    folder = target if target.is_dir() else target.parent
    args = [*([str(folder / s) for s in select] or [str(target)]), "-c", str(ini), "--rootdir", str(folder),
            "-p", "no:cacheprovider", "--assert=plain",
            # Its clean-up runs gc.collect() five times over the grader's whole heap: 0.7 s a
            # part here, and the grader has no use for its warnings about unraisable exceptions.
            "-p", "no:unraisableexception",
            # The plugin reads each failure's exception itself; pytest's own long report of it
            # parses the test file's source per frame (0.13 s a failed test here). Native
            # tracebacks cost nothing and still show a collection error in the log.
            "--tb=native",
            "--import-mode=importlib", "-q", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if collect_only:
        args.append("--collect-only")
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), _no_assertion_rewriting(), _no_plugin_autoload():
            code = pytest.main(args, plugins=[plugin, *extra_plugins])
    finally:
        _forget_modules_under(folder)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise SuiteError(f"{target} could not run (pytest exit code {code}):\n"
                         + log.getvalue()[-LOG_TAIL_CHARS:])
    if not plugin.records:
        raise SuiteError(f"{target} has no tests")


def _forget_modules_under(folder: Path) -> None:
    """Under --import-mode=importlib pytest caches suite files by bare name (``test_visible``,
    ``conftest``): forget them, or the next part would run this part's files."""
    prefix = str(folder.resolve()) + os.sep
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(prefix):
            del sys.modules[name]


@contextlib.contextmanager
def _no_plugin_autoload():
    """The suites use no plugin but the grader's: an installed one could change how tests run
    (pytest-benchmark, xdist), and importing them all (hypothesis, anyio, ...) cost 0.5 s of CPU."""
    previous = os.environ.get(AUTOLOAD_OFF)
    os.environ[AUTOLOAD_OFF] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[AUTOLOAD_OFF]
        else:
            os.environ[AUTOLOAD_OFF] = previous


@contextlib.contextmanager
def _no_assertion_rewriting():
    """Keep an enclosing pytest session (the project's own tests) from rewriting the suites'
    asserts: rewritten messages would print compared values, i.e. hidden expected values."""
    hooks = [h for h in sys.meta_path if type(h).__name__ == "AssertionRewritingHook"]
    for hook in hooks:
        sys.meta_path.remove(hook)
    try:
        yield
    finally:
        sys.meta_path[:0] = hooks
