"""Hidden tests of conv_forward_fast and conv_backward_fast: same results as the reference.

Only correctness here; speed has its own harness. Inputs stay moderate so that even a
submission whose "fast" conv still loops finishes quickly.
"""
import numpy as np
import pytest

from autograder.suites.checks import (FLOAT32_TOL, NUMERIC_TOL, call_forward, check_no_mutation,
                                      describe_conv, expect_value_error, numerical_gradient,
                                      numerical_input_gradient)
from autograder.suites.hidden_inputs import normal_array
from autograder.suites.misconceptions import check_backward, check_forward
from autograder.suites.shrink import shrinking  # noqa: F401 (autouse: smallest failing inputs)
from reference import fast_layers as ref

# (x shape, w shape, stride, pad)
SETTINGS = [
    ((4, 3, 16, 16), (8, 3, 3, 3), 1, 1),   # the common 3x3 'same' conv
    ((2, 3, 15, 15), (4, 3, 5, 5), 2, 1),   # strided and padded
    ((3, 4, 9, 13), (5, 4, 1, 1), 2, 0),    # 1x1 filter with stride 2, non-square input
    ((2, 2, 10, 7), (3, 2, 4, 3), 1, 2),    # non-square kernel, padding 2
    ((1, 1, 12, 12), (1, 1, 2, 2), 5, 0),   # N = C = F = 1, stride larger than the kernel
    ((2, 3, 4, 4), (2, 3, 6, 6), 1, 1),     # kernel larger than the input: a 1x1 output
    ((5, 8, 8, 8), (6, 8, 3, 3), 1, 0),     # 8 input channels, no padding
    ((2, 3, 32, 32), (4, 3, 7, 7), 1, 3),   # CIFAR-sized, 7x7 kernel
]


def _inputs(rng, x_shape, w_shape, dtype=np.float64):
    return (normal_array(rng, x_shape, dtype), normal_array(rng, w_shape, dtype),
            normal_array(rng, w_shape[:1], dtype))


def _param(stride, pad):
    return {"stride": stride, "pad": pad}


def _expected(x, w, b, conv_param, dout=None):
    """The reference's out (and gradients), in float64 whatever the test's dtype."""
    f64 = [np.asarray(a, dtype=np.float64) for a in (x, w, b)]
    out, cache = ref.conv_forward_fast(*f64, conv_param)
    if dout is None:
        return out
    dx, dw, db = ref.conv_backward_fast(np.asarray(dout, dtype=np.float64), cache)
    return {"dx": dx, "dw": dw, "db": db}


@pytest.mark.points(3.5)
@pytest.mark.hint("compare with your conv_forward_naive on the same inputs; check the order of "
                  "the im2col rows against w.reshape(F, -1) and the final transpose to (N, F, H', W')")
def test_conv_forward_fast_values(fast_layers, cases, hidden_rng):
    """conv_forward_fast: output values on 8 shape/stride/pad settings"""
    for x_shape, w_shape, stride, pad in SETTINGS:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape)
        conv_param = _param(stride, pad)
        cases.run(describe_conv(x_shape, w_shape, stride, pad), check_forward,
                  fast_layers.conv_forward_fast, (x, w, b, conv_param), _expected(x, w, b, conv_param))


@pytest.mark.points(4.5)
@pytest.mark.hint("db sums dout over N, H', W'; dw and the columns' gradient are matrix products; "
                  "col2im must ADD overlapping windows back (+=), then drop the padding")
def test_conv_backward_fast_values(fast_layers, cases, hidden_rng):
    """conv_backward_fast: dx, dw, db on 8 shape/stride/pad settings"""
    for x_shape, w_shape, stride, pad in SETTINGS:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape)
        conv_param = _param(stride, pad)
        dout = normal_array(hidden_rng, _expected(x, w, b, conv_param).shape)
        cases.run(describe_conv(x_shape, w_shape, stride, pad), check_backward,
                  fast_layers.conv_forward_fast, fast_layers.conv_backward_fast,
                  (x, w, b, conv_param), dout, _expected(x, w, b, conv_param, dout))


@pytest.mark.points(1)
@pytest.mark.hint("compare your gradients with central differences of sum(out * dout)")
def test_conv_backward_fast_numeric(fast_layers, cases, hidden_rng):
    """conv_backward_fast: dx, dw, db against numerical gradients on 2 small settings"""
    for x_shape, w_shape, stride, pad in [((2, 3, 6, 6), (3, 3, 3, 3), 1, 1),
                                          ((1, 2, 7, 5), (2, 2, 3, 1), 2, 0)]:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape)
        conv_param = _param(stride, pad)
        dout = normal_array(hidden_rng, _expected(x, w, b, conv_param).shape)
        # The reference's forward differentiated numerically: no reference backward. Its error
        # (round-off over the step) is measured against the largest gradient (scaled), as
        # elementwise a gradient near 0 would fail the reference itself for some seeds.
        expected = {
            "dx": numerical_input_gradient(lambda v: ref.conv_forward_fast(v, w, b, conv_param)[0], x, dout),
            "dw": numerical_gradient(lambda v: ref.conv_forward_fast(x, v, b, conv_param)[0], w, dout),
            "db": numerical_gradient(lambda v: ref.conv_forward_fast(x, w, v, conv_param)[0], b, dout),
        }
        cases.run(describe_conv(x_shape, w_shape, stride, pad), check_backward,
                  fast_layers.conv_forward_fast, fast_layers.conv_backward_fast,
                  (x, w, b, conv_param), dout, expected, NUMERIC_TOL, True)


@pytest.mark.points(1)
@pytest.mark.hint("float32 inputs must give float32 out and dx, dw, db; a float64 temporary "
                  "(np.zeros without dtype) silently upcasts everything")
def test_conv_fast_float32(fast_layers, cases, hidden_rng):
    """conv_forward_fast and conv_backward_fast: float32 inputs give float32 results of float32 accuracy"""
    for x_shape, w_shape, stride, pad in [SETTINGS[0], SETTINGS[1], SETTINGS[3]]:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape, np.float32)
        conv_param = _param(stride, pad)
        expected_out = _expected(x, w, b, conv_param)
        dout = normal_array(hidden_rng, expected_out.shape, np.float32)
        label = describe_conv(x_shape, w_shape, stride, pad, np.float32)
        cases.run(f"forward, {label}", check_forward, fast_layers.conv_forward_fast,
                  (x, w, b, conv_param), expected_out, FLOAT32_TOL, True, np.float32)
        cases.run(f"backward, {label}", check_backward, fast_layers.conv_forward_fast,
                  fast_layers.conv_backward_fast, (x, w, b, conv_param), dout,
                  _expected(x, w, b, conv_param, dout), FLOAT32_TOL, True, np.float32)


@pytest.mark.points(1)
@pytest.mark.hint("never write into x, w, b, dout or the cache; in col2im, add into a fresh "
                  "dx_pad, never into the cached columns")
def test_conv_fast_does_not_modify_inputs(fast_layers, cases, hidden_rng):
    """conv_forward_fast and conv_backward_fast: inputs and cache not modified in place"""
    for x_shape, w_shape, stride, pad in [SETTINGS[0], SETTINGS[1]]:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape)
        conv_param = _param(stride, pad)
        dout = normal_array(hidden_rng, _expected(x, w, b, conv_param).shape)
        cases.run(describe_conv(x_shape, w_shape, stride, pad), check_no_mutation,
                  fast_layers.conv_forward_fast, fast_layers.conv_backward_fast,
                  (x, w, b, conv_param), ["x", "w", "b"], dout)


@pytest.mark.points(0.5)
@pytest.mark.hint("conv_forward_fast raises ValueError exactly where conv_forward_naive does")
def test_conv_fast_invalid_inputs(fast_layers, cases, hidden_rng):
    """conv_forward_fast and conv_backward_fast: ValueError for a filter that does not fit and a wrong dout"""
    def forward_raises(x_shape, w_shape, stride, pad):
        x, w, b = _inputs(hidden_rng, x_shape, w_shape)
        expect_value_error(lambda: fast_layers.conv_forward_fast(x, w, b, _param(stride, pad)),
                           "conv_forward_fast")

    def backward_raises_on_wrong_dout():
        x, w, b = _inputs(hidden_rng, (2, 3, 8, 8), (4, 3, 3, 3))
        _, cache, _ = call_forward(fast_layers.conv_forward_fast, (x, w, b, _param(1, 1)))
        dout = normal_array(hidden_rng, (2, 4, 6, 6))  # the output is 2x4x8x8
        expect_value_error(lambda: fast_layers.conv_backward_fast(dout, cache), "conv_backward_fast")

    for label, args in [
        ("filter does not fit: (8 + 2 - 3) / 2 is not an integer", ((2, 3, 8, 8), (4, 3, 3, 3), 2, 1)),
        ("filter 7x7 larger than the 4x4 input", ((1, 1, 4, 4), (1, 1, 7, 7), 1, 0)),
        ("w has 2 channels but x has 3", ((1, 3, 6, 6), (2, 2, 3, 3), 1, 1)),
        ("stride 0", ((1, 1, 5, 5), (1, 1, 3, 3), 0, 0)),
    ]:
        x_shape, w_shape, stride, pad = args
        cases.run(f"{label}: {describe_conv(x_shape, w_shape, stride, pad)}", forward_raises, *args)
    cases.run("backward with dout of the wrong shape", backward_raises_on_wrong_dout)
