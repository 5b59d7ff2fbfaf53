"""The smallest failing input: when a conv or pool check fails on a hidden input, look for a small
new input on which the student's function fails the same check, and show the student that input,
their output and the expected output on it.

The new inputs are made here, on the trusted side, from a fixed seed and values a person can read
(one decimal; distinct integers for max pooling, so that no window ties): they are public by
construction, and the hidden input stays hidden. The search is greedy, from the failing case:
one image, then one channel (and one filter), then the smallest spatial size, then the smallest
filter or window, keeping stride and padding; each step keeps the first smaller case that still
fails. The student's function is called through the usual proxy and the expected values come
from the reference. Bounded: at most ``MAX_TRIES`` checks and ``TEST_SECONDS`` per failing test,
``PART_SECONDS`` per part; a course turns it off with ``parts.<part>.shrink_failures = false``.

Suites use it by importing the ``shrinking`` fixture into a hidden test module (it reads the
part's setting) and by checking inside ``forward_failure`` or ``backward_failure``, as
``autograder.suites.misconceptions`` does.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib
import time
from typing import Callable

import numpy as np
import pytest

from autograder.engine.proxy import StudentCodeError, StudentException
from autograder.suites.checks import describe_value

MAX_TRIES, TEST_SECONDS, PART_SECONDS = 24, 3.0, 20.0
REFERENCE_MODULES = ("reference.layers", "reference.fast_layers")
SEED = 16
SHOWN_ELEMENTS = 64  # a larger array is told by its shape (a shrunk input stays far below)


@dataclasses.dataclass
class _Allowance:
    """What is left for shrinking in the part, and whether the current test has shrunk."""

    part_seconds: float
    used: bool = False  # one shrink a test: its first failing case


_PART_KEY = pytest.StashKey[_Allowance]()
_CURRENT: contextvars.ContextVar = contextvars.ContextVar("shrink_allowance", default=None)


@pytest.fixture(autouse=True)
def shrinking(request, grading_config):
    """Lets the checks of the test shrink their first failure, if the part's
    ``shrink_failures`` setting allows it (the part: the suite's folder)."""
    part = grading_config.parts.get(request.path.parent.name) if grading_config else None
    if part is None or not part.shrink_failures:
        yield
        return
    allowance = request.config.stash.setdefault(_PART_KEY, _Allowance(PART_SECONDS))
    allowance.used = False
    token = _CURRENT.set(allowance)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@dataclasses.dataclass(frozen=True)
class Setting:
    """A layer call's shapes: conv (``kernel`` is the filter's HH, WW and ``filters`` its count)
    or pool (``kernel`` is the window, ``filters`` is 0)."""

    batch: int
    channels: int
    filters: int
    size: tuple  # (H, W) of x
    kernel: tuple
    stride: int
    pad: int

    @property
    def is_conv(self) -> bool:
        return self.filters > 0

    def output(self) -> tuple:
        return tuple((s + 2 * self.pad - k) // self.stride + 1 for s, k in zip(self.size, self.kernel))

    def with_output(self, output: tuple, kernel: tuple | None = None) -> "Setting | None":
        """The setting whose input gives ``output`` positions with ``kernel`` (None if no input
        size does): the stride and padding stay."""
        kernel = kernel or self.kernel
        size = tuple((o - 1) * self.stride + k - 2 * self.pad for o, k in zip(output, kernel))
        if min(size) < 1:
            return None
        return dataclasses.replace(self, size=size, kernel=kernel)


def setting_of(args: tuple) -> Setting | None:
    """The setting of conv (x, w, b, conv_param) or pool (x, pool_param) arguments; None for
    arguments it does not know."""
    x, param = args[0], args[-1]
    if not isinstance(x, np.ndarray) or x.ndim != 4 or not isinstance(param, dict):
        return None
    N, C, H, W = x.shape
    if len(args) == 4 and {"stride", "pad"} <= set(param) and np.ndim(args[1]) == 4:
        F, _, HH, WW = np.shape(args[1])
        return Setting(N, C, F, (H, W), (HH, WW), int(param["stride"]), int(param["pad"]))
    if len(args) == 2 and {"pool_height", "pool_width", "stride"} <= set(param):
        return Setting(N, C, 0, (H, W), (int(param["pool_height"]), int(param["pool_width"])),
                       int(param["stride"]), 0)
    return None


def _fewer_images(s: Setting) -> list:
    return [dataclasses.replace(s, batch=n) for n in (1, 2) if n < s.batch]


def _fewer_channels(s: Setting) -> list:
    """Fewer channels (and filters, for a conv): 1 or 2 of each, the fewest first."""
    filters = {1, 2, s.filters} if s.is_conv else {0}
    pairs = {(c, f) for c in {1, 2, s.channels} for f in filters
             if c <= s.channels and f <= s.filters and (c, f) != (s.channels, s.filters)}
    return [dataclasses.replace(s, channels=c, filters=f)
            for c, f in sorted(pairs, key=lambda p: (p[0] * max(p[1], 1), p))]


def _smaller_input(s: Setting) -> list:
    """The same filter on the inputs that give at most 3x3 output positions, smallest first."""
    out_h, out_w = s.output()
    found = (s.with_output((oh, ow)) for oh in range(1, min(out_h, 3) + 1)
             for ow in range(1, min(out_w, 3) + 1))
    return sorted((t for t in found if t is not None and _area(t.size) < _area(s.size)),
                  key=lambda t: (_area(t.size), t.size))


def _smaller_kernel(s: Setting) -> list:
    """Smaller filters (windows) with as many output positions, smallest first."""
    found = (s.with_output(s.output(), (kh, kw)) for kh in range(1, s.kernel[0] + 1)
             for kw in range(1, s.kernel[1] + 1) if (kh, kw) != s.kernel)
    return sorted((t for t in found if t is not None),
                  key=lambda t: (_area(t.kernel), _area(t.size), t.kernel))


# The search's steps, in order; each proposes smaller settings than the one kept so far.
STEPS = (_fewer_images, _fewer_channels, _smaller_input, _smaller_kernel)


def _area(pair: tuple) -> int:
    return pair[0] * pair[1]


@dataclasses.dataclass(frozen=True)
class Shrunk:
    """A failing case found by shrinking: its inputs, what the student's function returned (or
    raised), the expected values, and the check's verdict."""

    function: str
    inputs: dict  # name -> value, in argument order
    got: dict  # name -> the student's value; or {"error": text}
    expected: dict
    verdict: str

    def describe(self) -> str:
        lines = [f"A smaller input on which your {self.function} fails too (made up for you, "
                 f"not a hidden one): {self.verdict}"]
        lines += [f"  {name} = {value!r}" if isinstance(value, dict) else f"  {name} = {_show(value)}"
                  for name, value in self.inputs.items()]  # the grader's own dicts
        lines += [f"  your {name} = {_show(value)}" if name != "error" else f"  but {value}"
                  for name, value in self.got.items()]
        lines += [f"  expected {name} = {_show(value)}" for name, value in self.expected.items()]
        return "\n".join(lines)


def _show(value) -> str:
    if isinstance(value, np.ndarray) and value.size <= SHOWN_ELEMENTS and value.dtype.kind == "f":
        text = np.array2string(value, precision=3, separator=", ", suppress_small=True,
                               max_line_width=10**6, floatmode="maxprec")
        return f"{' '.join(text.split())} (shape {value.shape})"
    return describe_value(value)  # what the student's code returned, never its contents


class Recorder:
    """A student function that keeps what it returned last (as the grader decoded it)."""

    def __init__(self, student_fn) -> None:
        self.student_fn, self.name, self.value = student_fn, student_fn.name, None

    def call(self, args: tuple, **options):
        self.value = None
        result = self.student_fn.call(args, **options)
        self.value = result.value
        return result


# An attempt runs the suite's check on new arguments and returns (the check's failure or None,
# the other inputs it made (a dout), the expected values, the student's values), or raises the
# student's StudentException.
Attempt = Callable[[tuple], tuple]


@contextlib.contextmanager
def forward_failure(student_forward, args: tuple, check: Callable[[object, tuple, np.ndarray], None]):
    """On an AssertionError of the block (a check of ``student_forward`` on ``args``), append
    the smallest failing input found by running ``check(student_fn, args, expected)`` again."""
    try:
        yield
    except AssertionError as error:
        _raise_with_shrunk(error, student_forward.name, args, forward_attempt(student_forward, check))


@contextlib.contextmanager
def backward_failure(student_forward, student_backward, args: tuple, names: tuple,
                     check: Callable[[object, object, tuple, np.ndarray, dict], None]):
    """As ``forward_failure`` for a backward pass checked by
    ``check(student_forward, student_backward, args, dout, expected)``; ``names`` are its
    gradients' names ("dx", "dw", "db")."""
    try:
        yield
    except AssertionError as error:
        attempt = backward_attempt(student_forward, student_backward, names, check)
        _raise_with_shrunk(error, student_backward.name, args, attempt)


def forward_attempt(student_forward, check: Callable[[object, tuple, np.ndarray], None]) -> Attempt:
    """The attempt that checks ``student_forward`` on new arguments against the reference."""
    recorder, reference = Recorder(student_forward), _reference(student_forward.name)

    def attempt(new_args: tuple) -> tuple:
        expected = reference(*_float64(new_args))[0]
        failure = _failure_of(lambda: check(recorder, new_args, expected))
        return failure, {}, {"out": expected}, {"out": _first(recorder.value)}

    return attempt


def backward_attempt(student_forward, student_backward, names: tuple,
                     check: Callable[[object, object, tuple, np.ndarray, dict], None]) -> Attempt:
    """The attempt that checks ``student_backward`` (on the cache of ``student_forward``) on
    new arguments and a new dout against the reference."""
    recorder = Recorder(student_backward)
    forward, backward = _reference(student_forward.name), _reference(student_backward.name)

    def attempt(new_args: tuple) -> tuple:
        out, cache = forward(*_float64(new_args))
        dout = _values(out.shape, np.random.default_rng(SEED + 1), new_args[0].dtype)
        grads = backward(dout.astype(np.float64), cache)
        expected = dict(zip(names, grads if len(names) > 1 else (grads,)))
        failure = _failure_of(lambda: check(student_forward, recorder, new_args, dout, expected))
        got = recorder.value if len(names) > 1 and isinstance(recorder.value, (tuple, list)) \
            else (recorder.value,)
        return failure, {"dout": dout}, expected, dict(zip(names, got))

    return attempt


def _failure_of(check: Callable[[], None]) -> str | None:
    try:
        check()
    except AssertionError as failure:
        return str(failure).split("\n")[0]
    return None


def _raise_with_shrunk(error: AssertionError, function: str, args: tuple, attempt: Attempt) -> None:
    allowance, setting = _CURRENT.get(), setting_of(args)
    if allowance is None or allowance.used or setting is None or allowance.part_seconds <= 0:
        raise error
    allowance.used = True
    started = time.monotonic()
    try:
        found = shrink(setting, args, function, attempt, min(TEST_SECONDS, allowance.part_seconds))
    finally:
        allowance.part_seconds -= time.monotonic() - started
    if found is None:
        raise error
    raise AssertionError(f"{error}\n{found.describe()}") from None


def shrink(setting: Setting, args: tuple, function: str, attempt: Attempt,
           seconds: float = TEST_SECONDS, tries: int = MAX_TRIES) -> Shrunk | None:
    """The smallest failing case the greedy search finds from ``setting`` (the failing case
    of ``args``), or None if no smaller case fails within ``tries`` checks and ``seconds``.
    A ``StudentException`` (the student's code raised) is a failure too; any other
    ``StudentCodeError`` (a time-out, a crash, the part's budget used up) ends the search."""
    deadline = time.monotonic() + seconds
    found, kept = None, setting
    for step in STEPS:
        for candidate in step(kept):
            if tries <= 0 or time.monotonic() > deadline:
                return found
            new_args = make_args(candidate, args)
            if not _reference_accepts(function, new_args):
                continue
            tries -= 1
            try:
                failure, more, expected, got = attempt(new_args)
            except StudentException as raised:
                failure, more, expected = "your code raised an exception", {}, {}
                got = {"error": str(raised).splitlines()[0][:300]}
            except StudentCodeError:
                return found
            if failure is not None:
                names = ("x", "w", "b", "conv_param") if candidate.is_conv else ("x", "pool_param")
                inputs = {**dict(zip(names, new_args)), **more}
                found, kept = Shrunk(function, inputs, got, expected, failure), candidate
                break
    return found


def make_args(setting: Setting, like: tuple) -> tuple:
    """New arguments of ``setting``, of the dtype of ``like``'s x: one-decimal values (no
    zeros), and distinct integers for a pool's x (no ties)."""
    rng = np.random.default_rng(SEED)
    dtype = like[0].dtype
    x_shape = (setting.batch, setting.channels, *setting.size)
    if not setting.is_conv:
        x = (rng.permutation(int(np.prod(x_shape))) - int(np.prod(x_shape)) // 2).reshape(x_shape)
        return x.astype(dtype), {**like[1], "pool_height": setting.kernel[0],
                                 "pool_width": setting.kernel[1]}
    w_shape = (setting.filters, setting.channels, *setting.kernel)
    return (_values(x_shape, rng, dtype), _values(w_shape, rng, dtype),
            _values((setting.filters,), rng, dtype), dict(like[3]))


def _values(shape: tuple, rng: np.random.Generator, dtype) -> np.ndarray:
    magnitudes = rng.integers(1, 10, size=shape) / 10
    return (magnitudes * rng.choice([-1.0, 1.0], size=shape)).astype(dtype)


def _reference(function: str) -> Callable:
    for name in REFERENCE_MODULES:
        module = importlib.import_module(name)
        if hasattr(module, function):
            return getattr(module, function)
    raise LookupError(f"no reference function {function}")  # a suite bug: a check it cannot shrink


def _reference_accepts(function: str, args: tuple) -> bool:
    """Whether the reference's forward pass takes ``args`` (a filter may not fit)."""
    try:
        _reference(function.replace("backward", "forward"))(*_float64(args))
    except ValueError:
        return False
    return True


def _float64(args: tuple) -> tuple:
    return tuple(np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) else a for a in args)


def _first(value):
    return value[0] if isinstance(value, (tuple, list)) and value else value

