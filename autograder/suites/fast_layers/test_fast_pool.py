"""Hidden tests of max_pool_forward_fast and max_pool_backward_fast: same results as the reference.

Only correctness here; speed has its own harness.
"""
import numpy as np
import pytest

from autograder.suites.checks import (FLOAT32_TOL, NUMERIC_TOL, call_backward, call_forward,
                                      check_max_pool_routing, check_no_mutation, describe_pool,
                                      expect_value_error, numerical_input_gradient)
from autograder.suites.hidden_inputs import normal_array, pool_input, tied_windows
from autograder.suites.misconceptions import check_backward, check_forward, naming_backward
from autograder.suites.shrink import shrinking  # noqa: F401 (autouse: smallest failing inputs)
from reference import fast_layers as ref

# (x shape, pool height, pool width, stride)
SETTINGS = [
    ((4, 3, 16, 16), 2, 2, 2),
    ((2, 3, 15, 15), 3, 3, 2),    # overlapping windows (AlexNet's 3x3, stride 2)
    ((3, 2, 12, 10), 4, 2, 2),    # non-square window, overlapping along H
    ((2, 2, 11, 11), 1, 1, 5),    # 1x1 window with stride 5: a subsampling
    ((2, 3, 9, 9), 2, 2, 7),      # stride larger than the window: inputs skipped
    ((2, 4, 7, 9), 7, 9, 1),      # global pooling over the whole image (see pool_input)
    ((1, 1, 6, 6), 3, 3, 1),      # N = C = 1, stride 1
    ((2, 8, 32, 32), 2, 2, 2),    # CIFAR-sized
]


def _param(ph, pw, stride):
    return {"pool_height": ph, "pool_width": pw, "stride": stride}


def _expected(x, pool_param, dout=None):
    """The reference's out (or dx), in float64 whatever the test's dtype."""
    out, cache = ref.max_pool_forward_fast(np.asarray(x, dtype=np.float64), pool_param)
    if dout is None:
        return out
    return {"dx": ref.max_pool_backward_fast(np.asarray(dout, dtype=np.float64), cache)}


@pytest.mark.points(2)
@pytest.mark.hint("out is the maximum over the PH * PW strided slices x[:, :, i:i + S*H':S, "
                  "j:j + S*W':S]; check non-square windows and strides larger than the window")
def test_max_pool_forward_fast_values(fast_layers, cases, hidden_rng):
    """max_pool_forward_fast: output values on 8 window/stride settings"""
    for x_shape, ph, pw, stride in SETTINGS:
        x, pool_param = pool_input(hidden_rng, x_shape, ph, pw), _param(ph, pw, stride)
        cases.run(describe_pool(x_shape, pool_param), check_forward,
                  fast_layers.max_pool_forward_fast, (x, pool_param), _expected(x, pool_param))


@pytest.mark.points(2.5)
@pytest.mark.hint("each window's gradient goes to its maximal element; overlapping windows "
                  "(stride < window) must ADD their contributions, not overwrite them")
def test_max_pool_backward_fast_values(fast_layers, cases, hidden_rng):
    """max_pool_backward_fast: dx on 8 window/stride settings, overlapping windows included"""
    for x_shape, ph, pw, stride in SETTINGS:
        # normal_array has no ties: the maximum of every window is unique, whatever the seed.
        x, pool_param = pool_input(hidden_rng, x_shape, ph, pw), _param(ph, pw, stride)
        dout = normal_array(hidden_rng, _expected(x, pool_param).shape)
        cases.run(describe_pool(x_shape, pool_param), check_backward,
                  fast_layers.max_pool_forward_fast, fast_layers.max_pool_backward_fast,
                  (x, pool_param), dout, _expected(x, pool_param, dout))


def _check_ties(fast_layers, x, pool_param, dout):
    _, cache, _ = call_forward(fast_layers.max_pool_forward_fast, (x, pool_param))
    (dx,), _ = call_backward(fast_layers.max_pool_backward_fast, dout, cache, 1)
    expected = ref.max_pool_backward_fast(dout, ref.max_pool_forward_fast(x, pool_param)[1])
    with naming_backward("max_pool_forward_fast", "max_pool_backward_fast", (x, pool_param), dout,
                         lambda: (dx,), (expected,)):
        check_max_pool_routing(dx, x, dout, pool_param)


@pytest.mark.points(1)
@pytest.mark.hint("a mask x == max marks EVERY tied element of a window: keep track of the "
                  "windows already served so that only the first maximum receives the gradient")
def test_max_pool_backward_fast_ties(fast_layers, cases, hidden_rng):
    """max_pool_backward_fast: windows with tied maxima pass their whole gradient to one maximum"""
    for x_shape, (ph, pw, stride), low, high in [
        ((4, 3, 8, 8), (2, 2, 2), 0, 3),
        ((2, 4, 9, 9), (3, 3, 3), 0, 2),
        ((2, 2, 11, 11), (3, 3, 4), 0, 1),  # every element tied; some covered by no window
        ((2, 3, 7, 10), (2, 5, 5), -2, 0),  # negative maxima
    ]:
        pool_param = _param(ph, pw, stride)
        x = tied_windows(hidden_rng, x_shape, pool_param, low, high)  # every window tied
        # normal_array has no zeros, so every window must visibly route its gradient.
        dout = normal_array(hidden_rng, _expected(x, pool_param).shape)
        cases.run(f"{describe_pool(x.shape, pool_param)}, integer-valued x", _check_ties,
                  fast_layers, x, pool_param, dout)


@pytest.mark.points(1)
@pytest.mark.hint("compare your dx with central differences of sum(out * dout)")
def test_max_pool_backward_fast_numeric(fast_layers, cases, hidden_rng):
    """max_pool_backward_fast: dx against numerical gradients on 2 small settings"""
    for x_shape, ph, pw, stride in [((2, 2, 6, 6), 2, 2, 2), ((1, 3, 7, 5), 3, 3, 2)]:
        x, pool_param = normal_array(hidden_rng, x_shape), _param(ph, pw, stride)
        dout = normal_array(hidden_rng, _expected(x, pool_param).shape)
        # normal_array's values are MIN_GAP apart, so the step h never changes a window's max;
        # the error, round-off of sum(out * dout) over h, is measured against the largest
        # gradient (scaled), as elementwise a near-0 one would fail some seeds.
        dx = numerical_input_gradient(lambda v: ref.max_pool_forward_fast(v, pool_param)[0], x, dout)
        cases.run(describe_pool(x_shape, pool_param), check_backward,
                  fast_layers.max_pool_forward_fast, fast_layers.max_pool_backward_fast,
                  (x, pool_param), dout, {"dx": dx}, NUMERIC_TOL, True)


@pytest.mark.points(1)
@pytest.mark.hint("float32 inputs must give float32 out and dx (the dtype of x)")
def test_max_pool_fast_float32(fast_layers, cases, hidden_rng):
    """max_pool_forward_fast and max_pool_backward_fast: float32 inputs give float32 results"""
    for x_shape, ph, pw, stride in [SETTINGS[0], SETTINGS[1]]:
        x, pool_param = normal_array(hidden_rng, x_shape, np.float32), _param(ph, pw, stride)
        expected_out = _expected(x, pool_param)
        dout = normal_array(hidden_rng, expected_out.shape, np.float32)
        label = describe_pool(x_shape, pool_param, np.float32)
        cases.run(f"forward, {label}", check_forward, fast_layers.max_pool_forward_fast,
                  (x, pool_param), expected_out, FLOAT32_TOL, True, np.float32)
        cases.run(f"backward, {label}", check_backward, fast_layers.max_pool_forward_fast,
                  fast_layers.max_pool_backward_fast, (x, pool_param), dout,
                  _expected(x, pool_param, dout), FLOAT32_TOL, True, np.float32)


@pytest.mark.points(0.5)
@pytest.mark.hint("never write into x, dout or the cache; build new arrays for out and dx")
def test_max_pool_fast_does_not_modify_inputs(fast_layers, cases, hidden_rng):
    """max_pool_forward_fast and max_pool_backward_fast: inputs and cache not modified in place"""
    for x_shape, ph, pw, stride in [SETTINGS[0], SETTINGS[1]]:
        x, pool_param = normal_array(hidden_rng, x_shape), _param(ph, pw, stride)
        dout = normal_array(hidden_rng, _expected(x, pool_param).shape)
        cases.run(describe_pool(x_shape, pool_param), check_no_mutation,
                  fast_layers.max_pool_forward_fast, fast_layers.max_pool_backward_fast,
                  (x, pool_param), ["x"], dout)


@pytest.mark.points(0.5)
@pytest.mark.hint("max_pool_forward_fast raises ValueError exactly where max_pool_forward_naive does")
def test_max_pool_fast_invalid_inputs(fast_layers, cases, hidden_rng):
    """max_pool_forward_fast: ValueError for a window that does not fit and other bad inputs"""
    for label, x, pool_param in [
        ("window does not fit: (9 - 2) / 2 is not an integer", normal_array(hidden_rng, (2, 2, 9, 9)),
         _param(2, 2, 2)),
        ("window 5x5 larger than the 4x4 input", normal_array(hidden_rng, (1, 1, 4, 4)), _param(5, 5, 1)),
        ("stride 0", normal_array(hidden_rng, (1, 1, 4, 4)), _param(2, 2, 0)),
        ("pool height 0", normal_array(hidden_rng, (1, 1, 4, 4)), _param(0, 2, 2)),
        ("pool width 0", normal_array(hidden_rng, (1, 1, 4, 4)), _param(2, 0, 2)),
        ("integer x", np.arange(32).reshape(2, 1, 4, 4), _param(2, 2, 2)),
    ]:
        cases.run(f"{label}: {describe_pool(x.shape, pool_param, x.dtype)}", expect_value_error,
                  lambda x=x, p=pool_param: fast_layers.max_pool_forward_fast(x, p),
                  "max_pool_forward_fast")
