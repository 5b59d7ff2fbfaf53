"""Stable ids for the tests of the hidden suites: ``"part::test_function"``.

``GradeResult`` names a test by its docstring (what Gradescope shows). The corpus names tests by
their function, found by collecting the suite exactly as ``grade run`` does: the n-th collected
item is the n-th test of the part in the result.
"""
from __future__ import annotations

import functools
import re
import sys

from autograder.config import load_config
from autograder.run import SUITES_DIR, collect_suite


@functools.lru_cache(maxsize=None)
def test_ids(part: str) -> tuple:
    """The ids of the part's tests, in the order ``grade run`` reports them."""
    return tuple((f"{part}::{_function(r.nodeid)}", r.name) for r in collect_suite(part))


def forget_suite_modules() -> None:
    """Drop the suites' test modules from ``sys.modules``.

    ``grade run`` imports every suite's ``test_visible.py`` as the module ``test_visible``
    (``--import-mode=importlib`` with the suite as rootdir), so after one part is graded, a later
    part in the same process runs the earlier part's visible tests (the engine bug pinned by
    ``hostile.py``'s ``two_parts_in_one_run``). Each case is graded as if in a fresh process.
    """
    suites = str(SUITES_DIR)
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(suites):
            del sys.modules[name]


def _function(nodeid: str) -> str:
    return re.sub(r"\[.*\]$", "", nodeid.rsplit("::", 1)[-1])


def suite_landed(part: str) -> bool:
    return part in load_config().parts and any((SUITES_DIR / part).glob("test_*.py"))
