"""Hidden tests of max and average pooling (naive); expected values from reference/."""
import numpy as np
import pytest

from autograder.suites.checks import (FLOAT32_TOL, NUMERIC_TOL, call_backward, call_forward,
                                      check_max_pool_routing, check_no_mutation, describe_pool,
                                      expect_value_error, linspace_array,
                                      numerical_input_gradient)
from autograder.suites.hidden_inputs import normal_array, pool_input, tied_windows
from autograder.suites.misconceptions import check_backward, check_forward, naming_backward
from autograder.suites.shrink import shrinking  # noqa: F401 (autouse: smallest failing inputs)
from reference import layers as ref

# (x shape, pool height, pool width, stride)
SETTINGS = [
    ((2, 3, 4, 4), 2, 2, 2),
    ((2, 2, 6, 6), 3, 3, 3),
    ((1, 1, 5, 5), 3, 3, 1),    # overlapping windows, N = C = 1
    ((2, 3, 6, 8), 2, 4, 2),    # non-square window
    ((2, 2, 7, 7), 1, 1, 2),    # 1x1 window with stride 2: a subsampling
    ((2, 2, 8, 8), 2, 2, 3),    # stride larger than the window: inputs skipped
    ((3, 2, 5, 7), 5, 7, 1),    # global pooling over the whole image (see pool_input)
    ((2, 2, 7, 5), 3, 1, 2),    # non-square, overlapping along H only
]
POOLS = {
    "max": ("max_pool_forward_naive", "max_pool_backward_naive"),
    "avg": ("avg_pool_forward_naive", "avg_pool_backward_naive"),
}


def _param(ph, pw, stride):
    return {"pool_height": ph, "pool_width": pw, "stride": stride}


def _reference(kind):
    forward, backward = POOLS[kind]
    return getattr(ref, forward), getattr(ref, backward)


def _student(layers, kind):
    forward, backward = POOLS[kind]
    return getattr(layers, forward), getattr(layers, backward)


def _forward_cases(layers, cases, kind, rng):
    ref_forward, _ = _reference(kind)
    student_forward, _ = _student(layers, kind)
    x = linspace_array((2, 3, 4, 4), -0.3, 0.4)  # CS231n's fixed input
    pool_param = _param(2, 2, 2)
    cases.run(describe_pool(x.shape, pool_param) + " (linspace input)", check_forward,
              student_forward, (x, pool_param), ref_forward(x, pool_param)[0])
    for x_shape, ph, pw, stride in SETTINGS[1:]:
        x, pool_param = pool_input(rng, x_shape, ph, pw), _param(ph, pw, stride)
        cases.run(describe_pool(x_shape, pool_param), check_forward, student_forward,
                  (x, pool_param), ref_forward(x, pool_param)[0])


def _backward_cases(layers, cases, kind, rng):
    ref_forward, ref_backward = _reference(kind)
    student_forward, student_backward = _student(layers, kind)
    for x_shape, ph, pw, stride in SETTINGS:
        # normal_array has no ties: the maximum of every window is unique, whatever the seed.
        x, pool_param = pool_input(rng, x_shape, ph, pw), _param(ph, pw, stride)
        out, cache = ref_forward(x, pool_param)
        dout = normal_array(rng, out.shape)
        cases.run(describe_pool(x_shape, pool_param), check_backward, student_forward,
                  student_backward, (x, pool_param), dout, {"dx": ref_backward(dout, cache)})


@pytest.mark.points(2)
@pytest.mark.hint("out[n, c, i, j] is the max of x[n, c, i*S:i*S+PH, j*S:j*S+PW]; "
                  "H' = 1 + (H - PH) / S, W' = 1 + (W - PW) / S")
def test_max_pool_forward_values(layers, cases, hidden_rng):
    """max_pool_forward_naive: output values on 8 window/stride settings"""
    _forward_cases(layers, cases, "max", hidden_rng)


@pytest.mark.points(2.5)
@pytest.mark.hint("each window's gradient goes to its maximal element; where windows overlap "
                  "(stride < window) an element receives the SUM of its windows' gradients (+=)")
def test_max_pool_backward_values(layers, cases, hidden_rng):
    """max_pool_backward_naive: dx on 8 window/stride settings, overlapping windows included"""
    _backward_cases(layers, cases, "max", hidden_rng)


def _check_ties(student, x, pool_param, dout):
    _, cache, _ = call_forward(student.max_pool_forward_naive, (x, pool_param))
    (dx,), _ = call_backward(student.max_pool_backward_naive, dout, cache, 1)
    expected = ref.max_pool_backward_naive(dout, ref.max_pool_forward_naive(x, pool_param)[1])
    with naming_backward("max_pool_forward_naive", "max_pool_backward_naive", (x, pool_param), dout,
                         lambda: (dx,), (expected,)):
        check_max_pool_routing(dx, x, dout, pool_param)


@pytest.mark.points(1.5)
@pytest.mark.hint("when several elements of a window tie for the maximum, send the whole "
                  "gradient to ONE of them (the first, as np.argmax picks): a mask "
                  "x == max marks every tied element")
def test_max_pool_backward_ties(layers, cases, hidden_rng):
    """max_pool_backward_naive: windows with tied maxima pass their whole gradient to one maximum"""
    for x_shape, (ph, pw, stride), low, high in [
        ((2, 3, 4, 4), (2, 2, 2), 0, 3),
        ((2, 2, 6, 6), (3, 3, 3), 0, 2),
        ((1, 2, 8, 8), (2, 2, 3), 1, 2),  # every element tied; some covered by no window
        ((2, 1, 6, 5), (3, 2, 3), -1, 1),  # negative maxima
    ]:
        pool_param = _param(ph, pw, stride)
        x = tied_windows(hidden_rng, x_shape, pool_param, low, high)  # every window tied
        # normal_array has no zeros, so every window must visibly route its gradient.
        dout = normal_array(hidden_rng, ref.max_pool_forward_naive(x, pool_param)[0].shape)
        cases.run(f"{describe_pool(x.shape, pool_param)}, integer-valued x", _check_ties,
                  layers, x, pool_param, dout)


@pytest.mark.points(1.5)
@pytest.mark.hint("out[n, c, i, j] is the mean of the window x[n, c, i*S:i*S+PH, j*S:j*S+PW]")
def test_avg_pool_forward_values(layers, cases, hidden_rng):
    """avg_pool_forward_naive: output values on 8 window/stride settings"""
    _forward_cases(layers, cases, "avg", hidden_rng)


@pytest.mark.points(1.5)
@pytest.mark.hint("every element of a window receives dout[n, c, i, j] / (PH * PW); overlapping "
                  "windows add up, and elements covered by no window get 0")
def test_avg_pool_backward_values(layers, cases, hidden_rng):
    """avg_pool_backward_naive: dx on 8 window/stride settings, overlapping windows included"""
    _backward_cases(layers, cases, "avg", hidden_rng)


@pytest.mark.points(1.5)
@pytest.mark.hint("compare your dx with central differences of sum(out * dout), as in the "
                  "notebook's gradient check")
def test_pool_backward_numeric(layers, cases, hidden_rng):
    """max_pool_backward_naive and avg_pool_backward_naive: dx against numerical gradients"""
    for kind in ("max", "avg"):
        ref_forward, _ = _reference(kind)
        student_forward, student_backward = _student(layers, kind)
        for x_shape, ph, pw, stride in [((2, 2, 6, 6), 2, 2, 2), ((1, 2, 5, 7), 3, 3, 2)]:
            x, pool_param = normal_array(hidden_rng, x_shape), _param(ph, pw, stride)
            dout = normal_array(hidden_rng, ref_forward(x, pool_param)[0].shape)
            # normal_array's values are MIN_GAP apart, so the step h never changes a window's
            # max; the error, round-off of sum(out * dout) over h, is measured against the
            # largest gradient (scaled), as elementwise a near-0 one would fail some seeds.
            dx = numerical_input_gradient(lambda v: ref_forward(v, pool_param)[0], x, dout)
            cases.run(f"{kind} pool, {describe_pool(x_shape, pool_param)}", check_backward,
                      student_forward, student_backward, (x, pool_param), dout, {"dx": dx},
                      NUMERIC_TOL, True)


@pytest.mark.points(1)
@pytest.mark.hint("float32 inputs must work and give float32 out and dx (the dtype of x)")
def test_pool_float32(layers, cases, hidden_rng):
    """max and avg pooling, forward and backward: float32 inputs give float32 results of float32 accuracy"""
    for kind in ("max", "avg"):
        ref_forward, ref_backward = _reference(kind)
        student_forward, student_backward = _student(layers, kind)
        for x_shape, ph, pw, stride in [SETTINGS[2], SETTINGS[3]]:
            x, pool_param = normal_array(hidden_rng, x_shape, np.float32), _param(ph, pw, stride)
            out, cache = ref_forward(x.astype(np.float64), pool_param)
            dout = normal_array(hidden_rng, out.shape, np.float32)
            label = f"{kind} pool, {describe_pool(x_shape, pool_param, np.float32)}"
            cases.run(f"forward, {label}", check_forward, student_forward, (x, pool_param), out,
                      FLOAT32_TOL, True, np.float32)
            cases.run(f"backward, {label}", check_backward, student_forward, student_backward,
                      (x, pool_param), dout, {"dx": ref_backward(dout.astype(np.float64), cache)},
                      FLOAT32_TOL, True, np.float32)


@pytest.mark.points(1)
@pytest.mark.hint("never write into x, dout or the cache; build new arrays for out and dx")
def test_pool_does_not_modify_inputs(layers, cases, hidden_rng):
    """max and avg pooling, forward and backward: inputs and cache not modified in place"""
    for kind in ("max", "avg"):
        student_forward, student_backward = _student(layers, kind)
        x_shape, ph, pw, stride = SETTINGS[2]
        x, pool_param = normal_array(hidden_rng, x_shape), _param(ph, pw, stride)
        dout = normal_array(hidden_rng, _reference(kind)[0](x, pool_param)[0].shape)
        cases.run(f"{kind} pool, {describe_pool(x_shape, pool_param)}", check_no_mutation,
                  student_forward, student_backward, (x, pool_param), ["x"], dout)


@pytest.mark.points(1)
@pytest.mark.hint("raise ValueError when the window does not fit (PH > H, or H - PH not divisible "
                  "by S; the same for W), for a window size or stride below 1 and for a non-float x")
def test_pool_invalid_inputs(layers, cases, hidden_rng):
    """max and avg pooling: ValueError for a window that does not fit and other bad inputs"""
    for kind in ("max", "avg"):
        student_forward, _ = _student(layers, kind)
        for label, x, pool_param in [
            ("window does not fit: (5 - 2) / 2 is not an integer",
             normal_array(hidden_rng, (1, 1, 5, 5)), _param(2, 2, 2)),
            ("window 6x6 larger than the 5x5 input", normal_array(hidden_rng, (1, 1, 5, 5)),
             _param(6, 6, 1)),
            ("stride 0", normal_array(hidden_rng, (1, 1, 4, 4)), _param(2, 2, 0)),
            ("pool height 0", normal_array(hidden_rng, (1, 1, 4, 4)), _param(0, 2, 2)),
            ("pool width 0", normal_array(hidden_rng, (1, 1, 4, 4)), _param(2, 0, 2)),
            ("integer x", np.arange(16).reshape(1, 1, 4, 4), _param(2, 2, 2)),
        ]:
            cases.run(f"{kind} pool, {label}: {describe_pool(x.shape, pool_param, x.dtype)}",
                      expect_value_error, lambda f=student_forward, x=x, p=pool_param: f(x, p),
                      student_forward.name)
