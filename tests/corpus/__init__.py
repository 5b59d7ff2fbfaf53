"""Corpora of buggy and hostile student submissions, each with the exact outcome it must get.

A case is built from the reference submission (``autograder.examples.build_submission``) by a few
edits: a text replacement that must match exactly once (so a refactor of the reference cannot
silently neuter the bug), code appended to a file that redefines one function, or a whole small
file. No case holds a copy of reference code.

The expected outcome names every test of the graded part(s) that must lose points and how: ``0``
(no credit at all) or ``Fails(k, ...)`` (exactly k of its cases fail, the credit is the rest);
every other test of the part(s) must pass, so the expected credit is exact. Tests are named ``"part::test_function"`` (see ``suite_index``), which survives
rewording of the docstrings that Gradescope shows.

Paths that an attack needs are written ``@@NAME@@`` in its code and filled in at build time
(see ``build.Context``).
"""
from __future__ import annotations

import dataclasses
import textwrap
from typing import Callable, Union



@dataclasses.dataclass(frozen=True)
class Fails:
    """Exactly ``count`` of the test's cases fail (its credit is the other cases' share), and
    each string of ``mentions`` appears in the failing cases' lines (which cases, and why)."""

    count: int
    mentions: tuple = ()

    def __init__(self, count: int, *mentions: str) -> None:
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "mentions", mentions)


@dataclasses.dataclass(frozen=True)
class Unstated:
    """The test's credit cannot be stated exactly (``why``); it is not checked. Used only for
    timed tests whose verdict on a busy machine is noise (see the final report)."""

    why: str


Score = Union[int, Fails, Unstated]  # an int is the exact fraction kept: only 0 is used


@dataclasses.dataclass(frozen=True)
class AllOf:
    """Every test of ``part`` keeps ``fraction`` of its points (e.g. 0 for an unreadable file)."""

    part: str
    fraction: int = 0


# --- edits: how a case's submission differs from the reference ------------------------------

@dataclasses.dataclass(frozen=True)
class Replace:
    """Replace ``old`` by ``new`` in ``file``; ``old`` must occur exactly ``count`` times."""

    file: str
    old: str
    new: str
    count: int = 1


@dataclasses.dataclass(frozen=True)
class Append:
    """Append code (dedented) to ``file``: a later ``def`` redefines the reference's function."""

    file: str
    code: str

    @property
    def text(self) -> str:
        return "\n\n" + textwrap.dedent(self.code).strip("\n") + "\n"


@dataclasses.dataclass(frozen=True)
class Write:
    """Write a whole file (text is dedented; bytes are written as they are)."""

    file: str
    content: Union[str, bytes]


@dataclasses.dataclass(frozen=True)
class Remove:
    file: str


Edit = Union[Replace, Append, Write, Remove]


@dataclasses.dataclass(frozen=True)
class Case:
    """One submission and the exact outcome it must get.

    ``fails`` maps ``"part::test_function"`` to ``0`` or ``Fails(...)``; ``AllOf`` entries in
    ``fails_all`` cover whole parts. ``check(outcome)`` adds
    assertions of its own (``outcome`` is ``test_*.Outcome``).
    """

    name: str
    parts: tuple
    why: str
    edits: tuple = ()
    base: str = "reference"  # "reference" | "handout" | "empty"
    fails: dict = dataclasses.field(default_factory=dict)
    fails_all: tuple = ()
    package: Callable | None = None  # (folder, ctx) -> the path to grade (e.g. a zip)
    check: Callable | None = None
    call_timeout: float | None = None
    part_timeout: float | None = None  # overrides the part's time budget (config)
    budget: float | None = None  # overrides the whole grade's time budget (--budget)
    max_seconds: float = 60.0  # wall-clock bound for grading this case
    via_cli: bool = False  # grade through `grade run ... --output PATH`
    namespaces: bool = True  # False: the weaker "process" isolation (no namespaces available)
    # The hidden inputs' seed (grade run --seed); None: one fixed by the case's name (harness).
    seed: int | None = None
    tests: tuple = ()  # grade only these tests (RunOptions.tests: "layers/test_conv.py"); credit
    #                    is then checked for them alone
    marks: tuple = ()  # pytest marks (xfail for engine bugs, skip for suites not landed)

    def __post_init__(self) -> None:
        for key in self.fails:
            part, _, test = key.partition("::")
            assert part in self.parts and test.startswith("test_"), f"{self.name}: bad test id {key!r}"
