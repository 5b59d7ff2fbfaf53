"""Checks shared by the hidden suites: compare what the student returned, explain what went wrong.

Every message here is read by students. It may say what was tried (shapes, stride, pad, dtype)
and what the student's code did (its type, its shape, its error), but never an expected value:
hidden tests would leak their answers. Every helper turns a malformed result (None, a list, a
tuple of the wrong length) into an ``AssertionError``, so that a stub or an odd return value is
scored as a failure and never breaks the grader.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np

from autograder.engine.proxy import StudentException

# Tolerances, as max relative errors. Float64 results agree with the reference to round-off
# (CS231n's checks print errors around 1e-9); a real bug gives errors near 1.
TOL = 1e-7
# Central differences of a piecewise-linear function are exact up to round-off of f / h.
NUMERIC_TOL = 1e-6
# Float32 results are compared with the error scaled by the largest expected magnitude
# (see assert_close): float32 round-off is about 1e-7 of that scale, bugs are near 1.
FLOAT32_TOL = 1e-4


def rel_error(x, y) -> float:
    """CS231n's relative error: max |x - y| / max(1e-8, |x| + |y|), elementwise."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def scaled_error(x, y) -> float:
    """max |x - y| / max |y|: robust for float32, where elementwise errors blow up near zero."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y)) / max(1e-8, float(np.max(np.abs(y)))))


def describe_value(value) -> str:
    """What a returned value is, without its contents: 'None', 'a list of 2 items', ..."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} item{'s' if len(value) != 1 else ''}"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _require_array(value, what: str) -> None:
    if value is None:
        raise AssertionError(f"{what} is None: the function returned nothing for it "
                             "(is it still the unfinished stub?)")
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"{what} is {describe_value(value)}, expected a numpy array")


def check_array(value, what: str, shape: tuple) -> np.ndarray:
    """``value`` must be a finite floating-point ndarray of ``shape``; returns it."""
    _require_array(value, what)
    if tuple(value.shape) != tuple(shape):
        raise AssertionError(f"{what} has shape {tuple(value.shape)}, expected {tuple(shape)}")
    if value.dtype.kind != "f":
        raise AssertionError(f"{what} has dtype {value.dtype}, expected a floating-point array")
    if np.isnan(value).any():
        raise AssertionError(f"{what} contains NaN")
    if np.isinf(value).any():
        raise AssertionError(f"{what} contains inf")
    return value


def assert_close(actual, expected: np.ndarray, what: str, tol: float = TOL,
                 scaled: bool = False) -> None:
    """``actual`` must be an array of ``expected``'s shape, finite, within ``tol``.

    The error is CS231n's elementwise ``rel_error``, or with ``scaled`` (for float32 inputs)
    the largest absolute difference divided by the largest expected magnitude.
    """
    check_array(actual, what, np.shape(expected))
    if scaled:
        error = scaled_error(actual, expected)
        kind = "max error relative to the largest value"
    else:
        error = rel_error(actual, expected)
        kind = "max relative error"
    if not error <= tol:
        why = ""
        if not scaled and actual.dtype.itemsize < np.dtype(np.float64).itemsize:
            why = f"; {what} is {actual.dtype} for float64 inputs: keep x's dtype"
        raise AssertionError(f"{what}: {kind} {error:.1e} (tolerance {tol:.0e}){why}")


def unpack(value, n: int, what: str, names: str = "") -> tuple:
    """``value`` must be a tuple (or list) of ``n`` items; ``what`` names the function and
    ``names`` the items, e.g. ``unpack(v, 3, "conv_backward_naive", "(dx, dw, db)")``."""
    if not isinstance(value, (tuple, list)) or len(value) != n:
        wanted = f"a tuple {names}" if names else f"a tuple of {n} items"
        raise AssertionError(f"{what} returned {describe_value(value)}, expected {wanted}")
    return tuple(value)


def expect_value_error(call: Callable[[], object], what: str) -> None:
    """``call()`` (a student call) must raise ValueError.

    Other exceptions of the student fail the check with their text; time-outs and crashes
    propagate unchanged so that ``cases.run`` sees them for what they are.
    """
    try:
        value = call()
    except StudentException as exc:
        if exc.is_a("ValueError"):
            return
        failure = AssertionError(f"{what}: expected ValueError, but {str(exc).splitlines()[0]}")
        failure.student_error = exc  # told once as the cause, with its traceback (engine.plugin)
        raise failure from None
    raise AssertionError(f"{what}: returned {describe_value(value)} instead of raising ValueError")


def assert_no_aliasing(aliases: list, output_names: list, what: str) -> None:
    """``aliases`` is ``CallResult.aliases``: returned arrays that are views of an input."""
    if aliases:
        position = aliases[0][0]
        name = output_names[position] if position < len(output_names) else f"output {position}"
        raise AssertionError(f"{what} returned {name} as a view of one of its inputs (they share "
                             "memory): return a new array, e.g. with .copy(), so that later "
                             "changes to one cannot change the other")


def assert_no_mutation(mutated: list, names: list, what: str) -> None:
    """``mutated`` is ``CallResult.mutated_args``; ``names`` names the positional arguments."""
    if mutated:
        which = ", ".join(names[i] if i < len(names) else f"argument {i}" for i in mutated)
        raise AssertionError(f"{what} modified its input {which} in place; "
                             "work on a copy (or build a new array) instead")


def check_int(value, what: str = "the result") -> int:
    """A size or count must be an int (numpy integers accepted), never a float or bool."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        hint = " (use // rather than / for sizes)" if isinstance(value, numbers.Real) else ""
        raise AssertionError(f"{what} is {describe_value(value)}, expected an int{hint}")
    return int(value)


def check_int_tuple(value, n: int, what: str = "the result") -> tuple:
    """A tuple of ``n`` ints (e.g. an (h, w) pair or a (C, H, W) shape)."""
    if not isinstance(value, tuple) or len(value) != n:
        raise AssertionError(f"{what} is {describe_value(value)}, expected a tuple of {n} ints")
    return tuple(check_int(v, f"item {i} of {what}") for i, v in enumerate(value))


def call_label(name: str, *args, **kwargs) -> str:
    """How a call reads in a message: ``conv_output_size(7, 3, 2, 0)``."""
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(shown)})"


def check_summary(value, n_layers: int, what: str = "network_summary") -> list:
    """A network summary: a list of ``n_layers`` (shape tuple, int param_count) pairs."""
    if not isinstance(value, (list, tuple)) or len(value) != n_layers:
        raise AssertionError(f"{what} returned {describe_value(value)}, expected a list with one "
                             f"(shape, param_count) entry for each of the {n_layers} layer(s)")
    entries = []
    for index, entry in enumerate(value):
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise AssertionError(f"{what}: the entry of layer {index} is {describe_value(entry)}, "
                                 "expected a (shape, param_count) pair")
        shape, params = entry
        if not isinstance(shape, tuple) or not shape:
            raise AssertionError(f"{what}: the shape of layer {index} is {describe_value(shape)}, "
                                 "expected a tuple of ints")
        entries.append((tuple(check_int(d, f"item {i} of the shape of layer {index}")
                              for i, d in enumerate(shape)),
                        check_int(params, f"the parameter count of layer {index}")))
    return entries


# --- inputs ---------------------------------------------------------------------------------

def linspace_array(shape: tuple, low: float, high: float, dtype=np.float64) -> np.ndarray:
    """CS231n-style fixed input: evenly spaced values filling ``shape`` in row-major order."""
    return np.linspace(low, high, num=math.prod(shape)).reshape(shape).astype(dtype)


def random_array(shape: tuple, seed: int, dtype=np.float64) -> np.ndarray:
    """Seeded standard-normal values, the same in every run: the visible tests' published
    inputs. Hidden tests draw theirs from the grade's secret seed (``hidden_inputs``)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def describe_conv(x_shape: tuple, w_shape: tuple, stride: int, pad: int, dtype=np.float64) -> str:
    return (f"x {tuple(x_shape)}, w {tuple(w_shape)}, stride {stride}, pad {pad}, "
            f"{np.dtype(dtype).name}")


def describe_pool(x_shape: tuple, pool_param: dict, dtype=np.float64) -> str:
    return (f"x {tuple(x_shape)}, {pool_param['pool_height']}x{pool_param['pool_width']} "
            f"pool, stride {pool_param['stride']}, {np.dtype(dtype).name}")


def numerical_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray,
                       h: float = 1e-5) -> np.ndarray:
    """Central differences of sum(f(x) * dout) with respect to every element of ``x``.

    ``f`` must be the grader's own (reference) forward: this runs two forwards per element.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + h
        plus = np.sum(f(x) * dout)
        x[index] = saved - h
        minus = np.sum(f(x) * dout)
        x[index] = saved
        grad[index] = (plus - minus) / (2 * h)
    return grad


def numerical_input_gradient(forward: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                             dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """``numerical_gradient(forward, x, dout)`` for a layer's forward, which computes each sample
    (axis 0 of ``x`` and of its output) on its own: the same central differences, with one
    forward call per sample, on a batch of every element's two stepped copies of it. Each
    difference leaves out the other samples' share of sum(out * dout), which the element-by-
    element version adds and subtracts again (round-off far below the step's). The grader's
    forwards cost a few times less this way: most of their time is per call."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    size = x[0].size
    steps = np.arange(size)
    for n in range(x.shape[0]):
        batch = np.repeat(x[n].reshape(1, size), 2 * size, axis=0)
        batch[2 * steps, steps] += h
        batch[2 * steps + 1, steps] -= h
        out = forward(batch.reshape((2 * size,) + x.shape[1:]))
        sums = (out * dout[n]).reshape(2 * size, -1).sum(axis=1)
        grad[n] = ((sums[0::2] - sums[1::2]) / (2 * h)).reshape(x.shape[1:])
    return grad


def check_dtype(value: np.ndarray, what: str, dtype) -> None:
    if value.dtype != np.dtype(dtype):
        raise AssertionError(f"{what} has dtype {value.dtype}, expected {np.dtype(dtype).name} "
                             "(float32 inputs give float32 results)")


# --- layers: a forward pass returns (out, cache), its backward pass takes (dout, cache) ------

def call_forward(student_fn, args: tuple, check_mutation: bool = False):
    """Run a student forward pass; returns ``(out, cache, mutated_args)``.

    The suite opens the module with the cache marked opaque, so ``cache`` is a handle that
    stays in the sandbox and can only go back to the student's own backward pass.
    """
    result = student_fn.call(tuple(args), check_mutation=check_mutation)
    assert_no_aliasing(result.aliases, ["out"], student_fn.name)
    out, cache = unpack(result.value, 2, student_fn.name, "(out, cache)")
    return out, cache, result.mutated_args


GRADIENT_NAMES = {1: "dx", 3: "(dx, dw, db)"}


def call_backward(student_fn, dout: np.ndarray, cache, n: int, check_mutation: bool = False):
    """Run a student backward pass returning ``n`` gradients; returns ``(grads, mutated_args)``."""
    result = student_fn.call((dout, cache), check_mutation=check_mutation)
    assert_no_aliasing(result.aliases, GRADIENT_NAMES[n].strip("()").split(", "), student_fn.name)
    if n == 1:
        return (result.value,), result.mutated_args
    return unpack(result.value, n, student_fn.name, GRADIENT_NAMES.get(n, "")), result.mutated_args


def check_forward(student_fn, args: tuple, expected: np.ndarray, tol: float = TOL,
                  scaled: bool = False, dtype=None) -> None:
    """The forward pass's ``out`` matches ``expected`` (and has ``dtype``, if given)."""
    out, _, _ = call_forward(student_fn, args)
    assert_close(out, expected, "out", tol, scaled)
    if dtype is not None:
        check_dtype(out, "out", dtype)


def check_backward(student_forward, student_backward, args: tuple, dout: np.ndarray,
                   expected: dict, tol: float = TOL, scaled: bool = False, dtype=None) -> None:
    """The backward pass, on the cache of the student's own forward pass, returns gradients
    matching ``expected`` (``{"dx": ..., "dw": ..., "db": ...}``, in return order)."""
    _, cache, _ = call_forward(student_forward, args)
    grads, _ = call_backward(student_backward, dout, cache, len(expected))
    for got, (name, want) in zip(grads, expected.items()):
        assert_close(got, want, name, tol, scaled)
        if dtype is not None:
            check_dtype(got, name, dtype)


def check_no_mutation(student_forward, student_backward, args: tuple, arg_names: list,
                      dout: np.ndarray) -> None:
    """Neither pass writes to its array arguments, and the backward pass leaves the cache intact.

    Both passes must at least return arrays, so that a stub that does nothing fails; their
    values and shapes are other tests' business.
    """
    out, cache, mutated = call_forward(student_forward, args, check_mutation=True)
    assert_no_mutation(mutated, arg_names, student_forward.name)
    _require_array(out, "out")
    n = 3 if len(arg_names) == 3 else 1  # (x, w, b) -> (dx, dw, db); (x,) -> dx
    first, mutated = call_backward(student_backward, dout, cache, n, check_mutation=True)
    assert_no_mutation(mutated, ["dout"], student_backward.name)
    _require_array(first[0], "dx")
    # Had the backward pass changed the cache (e.g. padded x in place), a second call on the
    # same cache would give other gradients.
    second, _ = call_backward(student_backward, dout, cache, n)
    for name, a, b in zip(GRADIENT_NAMES[n].strip("()").split(", "), first, second):
        comparable = (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                      and a.shape == b.shape and a.dtype.kind == b.dtype.kind == "f")
        if comparable and not np.allclose(a, b, rtol=1e-10, atol=0, equal_nan=True):
            raise AssertionError(f"calling {student_backward.name} twice on the same cache gave "
                                 f"different {name}: does it modify the cache?")


def check_max_pool_routing(dx, x: np.ndarray, dout: np.ndarray, pool_param: dict,
                           what: str = "dx") -> None:
    """Max-pool backward with ties, for windows that do not overlap (stride >= pool size).

    Whichever maximal element the student picks is accepted, as long as every window sends its
    whole dout (never zero: the caller's dout has no zeros) to exactly ONE of its maximal
    elements, and elements outside every window get nothing.
    """
    check_array(dx, what, x.shape)
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if stride < ph or stride < pw:  # a bug in the suite, not in the submission
        raise ValueError("check_max_pool_routing needs non-overlapping windows")
    dx = dx.astype(np.float64)
    covered = np.zeros(x.shape, dtype=bool)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + ph)
            cols = slice(j * stride, j * stride + pw)
            covered[:, :, rows, cols] = True
            window_x, window_dx = x[:, :, rows, cols], dx[:, :, rows, cols]
            where = f"the window at output row {i}, column {j}"
            is_max = window_x == window_x.max(axis=(2, 3), keepdims=True)
            if np.any(window_dx[~is_max] != 0):
                raise AssertionError(f"{what}: {where} sends gradient to an element that is not "
                                     "its maximum")
            receivers = (window_dx != 0).sum(axis=(2, 3))
            wrong = receivers[receivers != 1]
            if wrong.size and wrong[0] == 0:
                raise AssertionError(f"{what}: {where} passes no gradient to any of its elements")
            if wrong.size:
                raise AssertionError(
                    f"{what}: {where} spreads its gradient over {wrong[0]} tied maxima; send "
                    "all of it to ONE maximal element (the first in row-major order, as "
                    "np.argmax picks)")
            if rel_error(window_dx.sum(axis=(2, 3)), dout[:, :, i, j]) > TOL:
                raise AssertionError(f"{what}: {where} does not pass on exactly its upstream "
                                     "gradient dout")
    if np.any(dx[~covered] != 0):
        raise AssertionError(f"{what} is non-zero at elements that no pooling window covers")
