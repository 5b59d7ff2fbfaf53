"""Hidden inputs come from the grade's secret seed, and no seed changes a score.

* the generators (``autograder/suites/hidden_inputs.py``) keep their promises for every seed:
  values apart from each other and from 0, every pooling window tied in the ties tests;
* every hidden test of the numpy suites gives the reference full credit whatever the seed (run in
  this process on the reference, no sandbox: the tolerances hold, not only the generators);
* graded for real (the corpus harness, in the sandbox), the reference and every buggy case of
  ``tests/corpus/buggy.py`` keep exactly their expected credit under other seeds.

The last costs a sandbox per grade, so CI grades every buggy case under one more seed (besides
``tests/corpus/test_buggy.py``'s, a secret one in every run), only the seeded test files that
hold the tests it fails, and the seed-sensitive tests (ties, numerical gradients, exact zeros)
under five seeds on the two tie bugs, which are the reference but for max-pool backward: none
of it timed. ``benchmarks/bench_seeds.py`` grades the reference and every case, all their
untimed tests, under all five seeds.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib.util
import inspect
import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.engine.proxy import CallResult, StudentException
from autograder.engine.seeds import SEED_BITS, inputs_rng
from autograder.run import SUITES_DIR
from autograder.suites.hidden_inputs import MIN_GAP, normal_array, pool_input, tied_windows
from reference import fast_layers as ref_fast
from reference import layers as ref_layers
from tests.corpus import Case
from tests.corpus.buggy import BUGGY
from tests.corpus.harness import check_credit, grade_case, params

SEEDS = st.integers(0, 2**SEED_BITS - 1)
# Hidden test files whose inputs come from the seed, by the module fixture their tests take.
SEEDED_FILES = {"layers": ["test_conv.py", "test_pool.py", "test_relu.py"],
                "fast_layers": ["test_fast_conv.py", "test_fast_pool.py"]}
FIVE_SEEDS = (1, 2**63 + 5, 271828, 31415926, 2**64 - 1)
ANOTHER_SEED = 4242


@given(seed=SEEDS, shape=st.sampled_from([(7,), (2, 3, 5, 5), (2, 8, 32, 32)]),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_normal_arrays_keep_values_apart_from_each_other_and_from_zero(seed, shape, dtype):
    x = normal_array(np.random.default_rng(seed), shape, dtype)
    assert x.shape == shape and x.dtype == dtype
    values = np.sort(np.append(x.ravel(), 0.0).astype(np.float64))
    # float32 rounding moves each value by at most 6e-8 of its magnitude (< 1e-6 here)
    assert np.diff(values).min() >= MIN_GAP - (1e-6 if dtype == np.float32 else 1e-12)
    if x.size > 1000:  # still standard-normal: the gaps only nudge crowded values
        assert 0.97 < x.std() < 1.03 and abs(x.mean()) < 0.05


@given(seed=SEEDS, setting=st.sampled_from([((2, 3, 4, 4), 2, 2, 2, 0, 3), ((2, 2, 6, 6), 3, 3, 3, 0, 2),
                                            ((2, 1, 6, 5), 3, 2, 3, -1, 1), ((2, 3, 7, 10), 2, 5, 5, -2, 0)]))
def test_tied_windows_tie_every_window(seed, setting):
    shape, ph, pw, stride, low, high = setting
    x = tied_windows(np.random.default_rng(seed), shape, {"pool_height": ph, "pool_width": pw,
                                                           "stride": stride}, low, high)
    assert x.dtype == np.float64 and np.all((x >= low) & (x < high) & (x == np.round(x)))
    for top in range(0, shape[2] - ph + 1, stride):
        for left in range(0, shape[3] - pw + 1, stride):
            window = x[:, :, top:top + ph, left:left + pw]
            maxima = (window == window.max(axis=(2, 3), keepdims=True)).sum(axis=(2, 3))
            assert maxima.min() >= 2


@given(seed=SEEDS, shape=st.sampled_from([(3, 2, 5, 7), (2, 4, 7, 9)]))  # the two suites' global pools
def test_global_pooling_inputs_catch_a_window_cut_short_on_any_side_whatever_the_seed(seed, shape):
    """With one window per channel, a draw could hide a too-small window (a max pool of PH x PH,
    seen passing this case under one seed in eight): the maxima in the corners never do."""
    h, w = shape[2:]
    x = pool_input(np.random.default_rng(seed), shape, h, w)
    whole = ref_layers.max_pool_forward_naive(x, {"pool_height": h, "pool_width": w, "stride": 1})[0]
    for ph, pw in ((h, h), (h - 1, w), (h, w - 1)):
        for offset in ((0, 0), (h - ph, w - pw)):  # the window cut at the bottom/right, top/left
            part = x[:, :, offset[0]:offset[0] + ph, offset[1]:offset[1] + pw]
            assert not np.array_equal(part.max(axis=(2, 3), keepdims=True), whole)
    assert np.array_equal(np.sort(x, axis=None), np.sort(normal_array(np.random.default_rng(seed), shape), axis=None))


def test_each_test_draws_its_own_inputs_and_the_same_ones_again():
    def draw(seed, test_id):
        return inputs_rng(seed, test_id).standard_normal(4)

    a = draw(7, "test_conv.py::test_conv_float32")
    assert np.array_equal(a, draw(7, "test_conv.py::test_conv_float32"))
    assert not np.array_equal(a, draw(8, "test_conv.py::test_conv_float32"))
    assert not np.array_equal(a, draw(7, "test_conv.py::test_conv_forward_values"))


# --- every seeded hidden test on the reference, in this process ------------------------------

class _Reference:
    """A reference module standing in for the student's, called here instead of in a sandbox:
    arguments are copied as the wire would, and an exception comes back as the student's."""

    def __init__(self, module) -> None:
        self.module = module

    def __getattr__(self, name: str) -> "_Function":
        return _Function(getattr(self.module, name), name)


@dataclasses.dataclass
class _Function:
    function: object
    name: str

    def __call__(self, *args):
        return self.call(args).value

    def call(self, args: tuple, **options) -> CallResult:
        try:
            return CallResult(self.function(*copy.deepcopy(args)), [])
        except Exception as exc:
            raise StudentException(str(exc), type(exc).__name__,
                                   [t.__name__ for t in type(exc).__mro__], []) from None


def _seeded_tests() -> list:
    found = []
    for part, files in SEEDED_FILES.items():
        for file in files:
            spec = importlib.util.spec_from_file_location(f"seeded_{part}_{file[:-3]}", SUITES_DIR / part / file)
            module = importlib.util.module_from_spec(spec)
            with warnings.catch_warnings():  # its markers are registered by the grading plugin
                warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
                spec.loader.exec_module(module)
            found += [(part, f"{file}::{name}", test) for name, test in vars(module).items()
                      if name.startswith("test_") and "hidden_rng" in inspect.signature(test).parameters]
    return found


SEEDED_TESTS = _seeded_tests()
REFERENCE = {"layers": _Reference(ref_layers), "fast_layers": _Reference(ref_fast)}


@settings(max_examples=3)  # about a second each: the numerical gradients
@given(seed=SEEDS)
def test_the_reference_passes_every_seeded_test_whatever_the_seed(seed):
    from autograder.engine.plugin import Cases

    for part, test_id, test in SEEDED_TESTS:
        cases = Cases()
        test(REFERENCE[part], cases, inputs_rng(seed, test_id))
        failed = [f"{r.label}: {r.message or r.error}" for r in cases.records if not r.passed]
        assert cases.records and not failed, f"{part}/{test_id}, seed {seed}: {failed}"


def test_the_numpy_suites_draw_from_the_seed_where_listed_here():
    """The shapes suite draws nothing, so its buggy cases' scores cannot depend on the seed; the
    timed tests draw their inputs too, but their credit is the machine's (test_suites_on_reference)."""
    drawing = {f"{path.parent.name}/{path.name}" for part in ("shapes", *SEEDED_FILES)
               for path in (SUITES_DIR / part).glob("test_*.py") if "hidden_rng" in path.read_text()}
    assert drawing - {"fast_layers/test_timing.py"} == {
        f"{part}/{file}" for part, files in SEEDED_FILES.items() for file in files}


# --- graded for real, in the sandbox ----------------------------------------------------------

def _targeted(case: Case, seed: int) -> Case:
    """``case`` graded under ``seed``, on the seeded test files that hold the tests it fails."""
    files = sorted({f"{part}/{file}" for key in case.fails for part, _, test in [key.partition("::")]
                    for file in SEEDED_FILES.get(part, ())
                    if any(t == f"{file}::{test}" for _, t, _ in SEEDED_TESTS)})
    return dataclasses.replace(case, seed=seed, tests=tuple(files))


SEEDED_BUGGY = [c for c in BUGGY if _targeted(c, 0).tests]
# The tests whose outcome could hang on the draw if a generator broke its promise (ties,
# numerical gradients, exact zeros), in the order the suites hold them (grade run reports a
# selection in the order it is given, and check_credit reads them in the suites' order).
SEED_SENSITIVE = ("layers/test_conv.py::test_conv_backward_numeric",
                  "layers/test_pool.py::test_max_pool_backward_values",
                  "layers/test_pool.py::test_max_pool_backward_ties",
                  "layers/test_pool.py::test_pool_backward_numeric",
                  "layers/test_relu.py::test_relu_backward_values",
                  "fast_layers/test_fast_conv.py::test_conv_backward_fast_numeric",
                  "fast_layers/test_fast_pool.py::test_max_pool_backward_fast_values",
                  "fast_layers/test_fast_pool.py::test_max_pool_backward_fast_ties",
                  "fast_layers/test_fast_pool.py::test_max_pool_backward_fast_numeric")
# The reference with its max-pool backward sending the gradient to every tied maximum: it fails
# the ties tests and passes every other seed-sensitive test exactly as the reference does.
TIE_BUGS = [c for c in BUGGY if c.name in ("max_pool_ties_double_counted", "fast_max_pool_ties_double_counted")]


def test_every_buggy_case_with_seeded_tests_is_graded_here():
    assert len(SEEDED_BUGGY) == len([c for c in BUGGY if "shapes" not in c.parts]) >= 15
    assert len(TIE_BUGS) == 2


@pytest.mark.parametrize("case", params(SEEDED_BUGGY))
def test_a_buggy_case_keeps_its_credit_under_another_seed(case, tmp_path):
    check_credit(grade_case(_targeted(case, ANOTHER_SEED), tmp_path))


@pytest.mark.parametrize("seed", FIVE_SEEDS)
@pytest.mark.parametrize("case", params(TIE_BUGS))
def test_seed_sensitive_tests_keep_their_credit_under_five_seeds(case, seed, tmp_path):
    tests = tuple(t for t in SEED_SENSITIVE if t.startswith(f"{case.parts[0]}/"))
    outcome = grade_case(dataclasses.replace(case, seed=seed, tests=tests), tmp_path)
    check_credit(outcome)
    case.check(outcome)  # the misconception is still named


def test_grade_run_seed_reproduces_a_grade_and_only_the_instructor_sees_the_seed(tmp_path):
    """The same seed gives the same inputs, hence word for word the same feedback (dw's error
    depends on the inputs); results.json, which students read, never holds the seed, and the
    terminal report (the instructor's autograder output on Gradescope) does."""
    from rich.console import Console

    from autograder.report import print_report, seed_line

    case = dataclasses.replace(next(c for c in BUGGY if c.name == "dw_first_image_only"),
                               seed=2**64 - 1, tests=("layers/test_conv.py::test_conv_backward_values",))
    seed = case.seed
    by_cli = grade_case(dataclasses.replace(case, via_cli=True), tmp_path / "cli")
    again = grade_case(case, tmp_path / "again")
    assert [t["output"] for t in by_cli.gradescope["tests"]] == [t["output"] for t in again.gradescope["tests"]]
    assert "dw: max relative error" in by_cli.output_of("layers::test_conv_backward_values")
    assert again.result.seed == seed
    assert str(seed) not in by_cli.ctx.output.read_text() + json.dumps(again.gradescope)
    console = Console(record=True, width=200)
    print_report(again.result, console)
    assert seed_line(seed) in console.export_text()


def test_a_batch_grades_with_one_seed_kept_for_its_resumption(tmp_path):
    from autograder.batch.grade import BatchSettings, batch_seed

    drawn = batch_seed(None, tmp_path / "cache")
    assert batch_seed(None, tmp_path / "cache") == drawn  # a resumed batch: the same inputs
    assert batch_seed(7, tmp_path / "cache") == 7 and batch_seed(None, tmp_path / "cache") == drawn
    assert batch_seed(None, tmp_path / "other") != drawn
    # results cached under one seed are never reused under another
    assert BatchSettings(seed=1).score_inputs() != BatchSettings(seed=2).score_inputs()
