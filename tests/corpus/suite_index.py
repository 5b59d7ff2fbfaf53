"""Stable ids for the tests of the hidden suites: ``"part::test_function"``.

``GradeResult`` names a test by its docstring (what Gradescope shows). The corpus names tests by
their function, found by collecting the suite exactly as ``grade run`` does: the n-th collected
item is the n-th test of the part in the result.
"""
from __future__ import annotations

import functools
import re

from autograder.config import load_config
from autograder.engine.plugin import GradingPlugin
from autograder.run import SUITES_DIR, _run_pytest, _UnavailableSession


@functools.lru_cache(maxsize=None)
def test_ids(part: str) -> tuple:
    """The ids of the part's tests, in the order ``grade run`` reports them."""
    plugin = GradingPlugin(_UnavailableSession("collection only", 1.0))
    _run_pytest(SUITES_DIR / part, plugin, collect_only=True)
    return tuple((f"{part}::{_function(r.nodeid)}", r.name) for r in plugin.records)


def _function(nodeid: str) -> str:
    return re.sub(r"\[.*\]$", "", nodeid.rsplit("::", 1)[-1])


def suite_landed(part: str) -> bool:
    return part in load_config().parts and any((SUITES_DIR / part).glob("test_*.py"))


def scores_by_id(result, parts: tuple) -> dict:
    """``"part::test_function"`` -> (fraction of points kept, the test's output) for ``result``.

    Parametrized tests (several items of one function) are merged: their fractions average.
    """
    by_part: dict = {}
    for test in result.tests:
        by_part.setdefault(test.part, []).append(test)
    merged: dict = {}
    for part in parts:
        ids = test_ids(part)
        got = by_part.get(part, [])
        assert len(got) == len(ids), (
            f"{part}: the result has {len(got)} tests, the suite collects {len(ids)}")
        for (test_id, name), test in zip(ids, got):
            assert test.name == f"{part}: {name}", f"test order differs: {test.name!r} vs {name!r}"
            fraction = test.score / test.max_score if test.max_score else 1.0
            merged.setdefault(test_id, []).append((fraction, test.output))
    return {k: (sum(f for f, _ in v) / len(v), "\n".join(o for _, o in v)) for k, v in merged.items()}
