"""Feedback that names a misconception: when a wrong output equals what a named mutant of the
reference (``autograder.audit.misconceptions``) gives on the same inputs, the failure says which
mistake it looks like, never an expected value.

Trusted side only: the mutants are reference code with one edit, compiled and run here on the
suite's own inputs; student code never runs in this process. ``check_forward`` and
``check_backward`` are those of ``checks`` (which ship to students with the visible tests and so
must not know the reference) plus this naming, and the smallest failing input (``shrink``).
"""
from __future__ import annotations

import contextlib
import functools
import types
from typing import Callable

import numpy as np

from autograder.audit.misconceptions import MISCONCEPTIONS, Misconception
from autograder.examples import REFERENCE_DIR
from autograder.suites import checks, shrink

# A wrong output "matches" a mutant when it is this close to it, relative to the mutant's largest
# magnitude: float32 round-off (1e-7) passes, a different mistake (errors near 1) does not.
MATCH_TOL = 1e-4


def check_forward(student_fn, args: tuple, expected: np.ndarray, tol: float = checks.TOL,
                  scaled: bool = False, dtype=None) -> None:
    """``checks.check_forward``, naming the misconception a wrong ``out`` matches and showing
    the smallest failing input."""
    recorder = shrink.Recorder(student_fn)
    check = functools.partial(checks.check_forward, tol=tol, scaled=scaled, dtype=dtype)
    with shrink.forward_failure(student_fn, args, check), _naming(lambda: misconception_of(
            lambda module: (getattr(module, student_fn.name)(*_copies(args))[0],),
            (_first(recorder.value),), (expected,), student_fn.name)):
        check(recorder, args, expected)


def check_backward(student_forward, student_backward, args: tuple, dout: np.ndarray,
                   expected: dict, tol: float = checks.TOL, scaled: bool = False, dtype=None) -> None:
    """``checks.check_backward``, naming the misconception wrong gradients match and showing
    the smallest failing input."""
    recorder = shrink.Recorder(student_backward)

    def student_grads() -> tuple:
        value = recorder.value
        return tuple(value) if len(expected) > 1 and isinstance(value, (tuple, list)) else (value,)

    check = functools.partial(checks.check_backward, tol=tol, scaled=scaled, dtype=dtype)
    with shrink.backward_failure(student_forward, student_backward, args, tuple(expected), check), \
            naming_backward(student_forward.name, student_backward.name, args, dout, student_grads,
                            tuple(expected.values())):
        check(student_forward, recorder, args, dout, expected)


def naming_backward(forward: str, backward: str, args: tuple, dout: np.ndarray,
                    got: Callable[[], tuple], expected: tuple):
    """A context in which a failed check (AssertionError) of the gradients ``got()`` names the
    misconception they match: for checks other than ``check_backward`` (max-pool ties)."""
    def mutant_grads(module) -> tuple:
        _, cache = getattr(module, forward)(*_copies(args))
        grads = getattr(module, backward)(np.copy(dout), cache)
        return tuple(grads) if len(expected) > 1 else (grads,)

    return _naming(lambda: misconception_of(mutant_grads, got(), expected, backward))


def misconception_of(run: Callable[[types.ModuleType], tuple], got: tuple, expected: tuple,
                     function: str) -> Misconception | None:
    """The first named misconception whose mutant, run by ``run``, gives ``got`` (and not
    ``expected``: on these inputs it must differ from the reference)."""
    for misconception in MISCONCEPTIONS:
        module = _mutant_module(misconception.name)
        if not hasattr(module, function):
            continue
        try:
            produced = run(module)
        except Exception:  # the mutant cannot handle these inputs: it is not this mistake
            continue
        if _all_close(got, produced) and not _all_close(expected, produced):
            return misconception
    return None


@contextlib.contextmanager
def _naming(find: Callable[[], Misconception | None]):
    """On an AssertionError, append the misconception ``find()`` names, if any."""
    try:
        yield
    except AssertionError as error:
        misconception = find()
        if misconception is None:
            raise
        raise AssertionError(f"{error}; your output matches {misconception.matches}: "
                             f"{misconception.hint}") from None


@functools.cache
def _mutant_module(name: str) -> types.ModuleType:
    misconception = next(m for m in MISCONCEPTIONS if m.name == name)
    source = misconception.apply((REFERENCE_DIR / misconception.file).read_text())
    module = types.ModuleType(f"misconception_{name}")
    exec(compile(source, f"<misconception {name}>", "exec"), module.__dict__)
    return module


def _first(value):
    """A forward pass's ``out``: the first of what it returned, if it returned a pair."""
    return value[0] if isinstance(value, (tuple, list)) and value else value


def _copies(args: tuple) -> tuple:
    return tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)


def _all_close(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(_close(g, w) for g, w in zip(got, want))


def _close(got, want) -> bool:
    if not isinstance(got, np.ndarray) or np.shape(got) != np.shape(want) or not np.all(np.isfinite(got)):
        return False
    want = np.asarray(want, dtype=np.float64)
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1e-12)
    return float(np.max(np.abs(got - want), initial=0.0)) <= MATCH_TOL * scale
