"""``grade new-part NAME``: the files of a new part, working from the first minute.

It writes the part's declaration and suite (one visible and one hidden test, and the conftest),
its section of the handout notebook, the student's stub in ``assignments/`` and the solution in
``reference/``; nothing else is edited, since every command finds parts by their declarations (``autograder.parts``). The
example function doubles an array, so that the course's staff start from a part whose reference
gets full marks and whose stub gets zero, and change it into their exercise.
"""
from __future__ import annotations

import json
import keyword
from pathlib import Path

from autograder.parts import SUITES_DIR, declaration_files

PROJECT_ROOT = SUITES_DIR.parent.parent


class ScaffoldError(ValueError):
    """The part cannot be written (a bad name, or files that already exist); says which."""


def new_part(name: str, root: Path = PROJECT_ROOT) -> list:
    """Write the new part ``name``'s files under ``root``; return their paths."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.islower():
        raise ScaffoldError(f"part name {name!r}: must be a lower-case Python identifier (it names a module)")
    suites = root / "autograder" / "suites"
    files = {
        suites / name / "part.toml": DECLARATION.format(
            name=name, order=1 + max((_order(f) for f in declaration_files(suites).values()), default=0)),
        suites / name / "conftest.py": CONFTEST.format(name=name),
        suites / name / "test_visible.py": VISIBLE.format(name=name),
        suites / name / f"test_{name}.py": HIDDEN.format(name=name),
        suites / name / "notebook.ipynb": _notebook_section(name),
        root / "assignments" / f"{name}.py": STUB.format(name=name),
        root / "reference" / f"{name}.py": REFERENCE.format(name=name),
    }
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise ScaffoldError(f"part {name}: {', '.join(existing)} already exist(s); nothing was written")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def _notebook_section(name: str) -> str:
    """The part's cells of the handout notebook (``package/handout_notebook.py`` numbers them)."""
    def cell(kind: str, ident: str, source: str, tags: tuple = ()) -> dict:
        extra = {"execution_count": None, "outputs": []} if kind == "code" else {}
        metadata = {"tags": list(tags)} if tags else {}
        return {"cell_type": kind, "id": f"{name}-{ident}"[:64], "metadata": metadata,
                "source": source.splitlines(keepends=True), **extra}

    cells = [cell("markdown", "intro", SECTION_INTRO.format(name=name)),
             cell("code", "try", SECTION_TRY.format(name=name), ("raises-exception",)),
             cell("markdown", "check-title", f"### Check Part {{number}}\n\nThe visible tests of `{name}.py`, "
                                             "as the grading platform runs them."),
             cell("code", "check", f'show_check("{name}")')]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _order(path: Path) -> int:
    import tomllib

    return tomllib.loads(path.read_text()).get("order", 0)


DECLARATION = '''\
# The {name} part, declared once (keys: autograder/config.py, PartConfig). Written by
# `grade new-part {name}`; its tests' points markers add up to `points`.
title = "{name} (describe the exercise here)"
order = {order}
files = ["{name}.py"]
points = 10
timeout = 120
call_timeout = 10
memory_mb = 1024
forbid_imports = ["torch", "scipy", "tensorflow", "jax", "cupy"]

[contract]  # module -> the public functions its stub and its reference define
{name} = ["double"]
'''

CONFTEST = '''\
"""Fixtures of the {name} suite. Ships with the visible tests: nothing here may use reference/."""
import pytest


@pytest.fixture(scope="session")
def {name}(submission):
    """The student's {name}.py."""
    return submission.module("{name}")
'''

VISIBLE = '''\
"""Visible {name} tests: they ship with the handout, so expected values are literal numbers."""
import numpy as np
import pytest

from autograder.suites.checks import assert_close

pytestmark = pytest.mark.visibility("visible")


@pytest.mark.points(4)
@pytest.mark.hint("return 2 * x, as a new array of x's shape")
def test_double_small(cases, {name}):
    """double: a three-element array"""
    x = np.array([1.0, -2.0, 0.5])
    cases.run("x = [1, -2, 0.5]", _check_double, {name}.double, x, np.array([2.0, -4.0, 1.0]))


def _check_double(student_double, x, expected) -> None:
    assert_close(student_double(x), expected, "double(x)")
'''

HIDDEN = '''\
"""Hidden {name} tests; expected values from reference/."""
import pytest

from autograder.suites.checks import assert_close
from autograder.suites.hidden_inputs import normal_array
from reference import {name} as ref


@pytest.mark.points(6)
@pytest.mark.hint("return 2 * x, as a new array of x's shape, for any shape")
def test_double_values(cases, {name}, hidden_rng):
    """double: values on 1-D to 4-D inputs (drawn from the grade's secret seed)"""
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 3)]:
        x = normal_array(hidden_rng, shape)
        cases.run(f"x of shape {{shape}}", _check_double, {name}.double, x, ref.double(x))


def _check_double(student_double, x, expected) -> None:
    assert_close(student_double(x), expected, "double(x)")
'''

SECTION_INTRO = """\
## Part {{number}}: {name} (`{name}.py`)

Describe the exercise here: what students write in `{name}.py`, and what to read first."""

SECTION_TRY = """\
from {name} import double

check_equal("double([1, 2])", double(np.array([1.0, 2.0])).tolist(), [2.0, 4.0])"""

STUB = '''\
"""{name}: describe the exercise for students here."""
import numpy as np


def double(x: np.ndarray) -> np.ndarray:
    """Return twice ``x``.

    Args:
        x: an array of any shape.

    Returns:
        A new array of ``x``'s shape and dtype holding ``2 * x``.
    """
    raise NotImplementedError("double: not implemented yet")
'''

REFERENCE = '''\
"""{name}: the instructor's solution."""
import numpy as np


def double(x: np.ndarray) -> np.ndarray:
    """Return twice ``x`` (a new array of ``x``'s shape and dtype)."""
    return 2 * x
'''
