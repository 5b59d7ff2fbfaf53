"""Smallest failing inputs: every conv/pool bug of the buggy corpus shrinks to at most 1x1x5x5, or
the reason it cannot is stated here; and a graded report shows the small case (unless the course
turned shrinking off).

Most of it runs the shrinker in this process on the buggy functions themselves (the corpus's
edits applied to the reference), standing in for the proxy: only the one graded report starts a
sandbox.
"""
import dataclasses
import types
from pathlib import Path

import numpy as np
import pytest

from autograder.config import load_config
from autograder.engine.proxy import CallResult, StudentException
from autograder.examples import REFERENCE_DIR, build_submission
from autograder.audit.selection import TestPicker
from autograder.run import RunOptions, grade_submission
from autograder.suites import checks
from autograder.suites.shrink import backward_attempt, forward_attempt, setting_of, shrink
from reference import layers as ref_layers
from tests.corpus import Append, Replace
from tests.corpus.buggy import BUGGY

# Failing hidden-like cases to shrink from: every bug below fails on one of them.
CONV_STARTS = [((2, 3, 5, 5), (4, 3, 3, 3), 1, 1), ((3, 3, 6, 9), (4, 3, 2, 3), 2, 1)]
POOL_STARTS = [((2, 3, 6, 8), 2, 4, 2), ((2, 2, 7, 5), 3, 1, 2), ((1, 1, 5, 5), 3, 3, 1)]
LAYERS = {"layers.py": [("conv_forward_naive", "conv_backward_naive"),
                        ("max_pool_forward_naive", "max_pool_backward_naive"),
                        ("avg_pool_forward_naive", "avg_pool_backward_naive")],
          "fast_layers.py": [("conv_forward_fast", "conv_backward_fast"),
                             ("max_pool_forward_fast", "max_pool_backward_fast")]}
# Bugs that no smaller input can show, and why.
CANNOT = {
    # Only max pooling with tied maxima shows them, and shrunk inputs are tie-free on purpose:
    # with ties the reference's choice is one of several right answers. The ties tests' own
    # inputs are small (4x4 to 8x8) and their message names the window.
    "max_pool_ties_double_counted": "ties",
    "fast_max_pool_ties_double_counted": "ties",
    # A crash on float32 inputs, not a wrong value: the report shows the student's traceback.
    "float64_only_conv": "crash",
}
# dw summed over the first image only is right for one image: the batch must stay at 2.
NEEDS_TWO_IMAGES = {"dw_first_image_only"}
CONV_POOL_BUGS = [case for case in BUGGY
                  if any(edit.file in LAYERS for edit in case.edits)
                  and not case.name.startswith("relu")]


class InProcess:
    """A buggy module's function standing in for the proxy's ``StudentFunction``: its
    exceptions come back as ``StudentException``, as the sandbox's do."""

    def __init__(self, module: types.ModuleType, name: str) -> None:
        self.function, self.name = getattr(module, name), name

    def call(self, args: tuple, **options) -> CallResult:
        try:
            value = self.function(*[np.copy(a) if isinstance(a, np.ndarray) else a for a in args])
        except Exception as exc:
            raise StudentException(f"{self.name} raised {type(exc).__name__}: {exc}",
                                   type(exc).__name__, [type(exc).__name__], []) from None
        return CallResult(value, [])


def _buggy_module(case, file: str) -> types.ModuleType:
    source = (REFERENCE_DIR / file).read_text()
    for edit in (e for e in case.edits if e.file == file):
        if isinstance(edit, Replace):
            assert source.count(edit.old) == edit.count
            source = source.replace(edit.old, edit.new)
        else:
            assert isinstance(edit, Append)
            source += edit.text
    module = types.ModuleType(f"buggy_{case.name}")
    exec(compile(source, f"<{case.name}>", "exec"), module.__dict__)
    return module


def _starts(is_conv: bool) -> list:
    rng = np.random.default_rng(0)
    if is_conv:
        return [(rng.standard_normal(x), rng.standard_normal(w), rng.standard_normal(w[0]),
                 {"stride": s, "pad": p}) for x, w, s, p in CONV_STARTS]
    return [(rng.standard_normal(x), {"pool_height": ph, "pool_width": pw, "stride": s})
            for x, ph, pw, s in POOL_STARTS]


def _smallest_failures(case) -> list:
    """The shrunk failures of every function pair of the bug's file, from every failing start."""
    found = []
    file = next(edit.file for edit in case.edits if edit.file in LAYERS)
    module = _buggy_module(case, file)
    for forward_name, backward_name in LAYERS[file]:
        forward, backward = InProcess(module, forward_name), InProcess(module, backward_name)
        names = ("dx", "dw", "db") if forward_name.startswith("conv") else ("dx",)
        attempts = [(forward_name, forward_attempt(forward, checks.check_forward)),
                    (backward_name, backward_attempt(forward, backward, names, checks.check_backward))]
        for args in _starts(forward_name.startswith("conv")):
            for function, attempt in attempts:
                failure, *_ = _outcome(attempt, args)
                if failure is not None:
                    found.append(shrink(setting_of(args), args, function, attempt, seconds=30))
    return found


def _outcome(attempt, args: tuple) -> tuple:
    try:
        return attempt(args)
    except StudentException:
        return ("raised",)


@pytest.mark.parametrize("case", CONV_POOL_BUGS, ids=lambda case: case.name)
def test_each_conv_and_pool_bug_shrinks_to_at_most_1x1x5x5(case):
    found = _smallest_failures(case)
    if case.name in CANNOT:
        assert not [f for f in found if f is not None and "error" not in f.got], \
            f"{case.name} shrank after all: drop it from CANNOT"
        return
    assert found and all(f is not None for f in found), f"{case.name}: a failing case did not shrink"
    smallest = min(found, key=lambda f: f.inputs["x"].size)
    batch, channels, height, width = smallest.inputs["x"].shape
    assert (batch, channels) == ((2, 1) if case.name in NEEDS_TWO_IMAGES else (1, 1)), smallest.describe()
    assert height <= 5 and width <= 5, smallest.describe()
    assert smallest.expected or "error" in smallest.got  # the student sees what was expected


def test_the_reference_never_fails_a_shrunk_input():
    forward = InProcess(ref_layers, "conv_forward_naive")
    args = _starts(True)[1]
    assert shrink(setting_of(args), args, "conv_forward_naive",
                  forward_attempt(forward, checks.check_forward), seconds=30) is None


def test_a_graded_report_shows_the_shrunk_input_unless_turned_off(tmp_path):
    """End to end: the flipped kernel, graded; then the same with shrink_failures = false."""
    case = next(c for c in BUGGY if c.name == "flipped_kernel")
    folder = build_submission("reference", tmp_path / "submission")
    (folder / "layers.py").write_text(_source_with(case, "layers.py"))
    config = load_config()
    shown = _forward_values_output(folder, config)
    assert "A smaller input on which your conv_forward_naive fails too" in shown
    assert "(shape (1, 1, " in shown and "expected out = " in shown and "your out = " in shown
    off = dataclasses.replace(config, parts={**config.parts, "layers": dataclasses.replace(
        config.parts["layers"], shrink_failures=False)})
    hidden = _forward_values_output(folder, off)
    assert "A smaller input" not in hidden and "max relative error" in hidden


def _source_with(case, file: str) -> str:
    source = (REFERENCE_DIR / file).read_text()
    for edit in case.edits:
        source = source.replace(edit.old, edit.new)
    return source


def _forward_values_output(folder: Path, config) -> str:
    """The report's text for the conv forward values test, graded alone (the audit's picker)."""
    picker = TestPicker(("test_conv.py::test_conv_forward_values",))
    result = grade_submission(folder, ["layers"], config, RunOptions(suite_plugins=(picker,)))
    [test] = result.tests
    return test.output
