"""Hidden tests of conv_forward_naive and conv_backward_naive; expected values from reference/."""
import numpy as np
import pytest

from autograder.suites.checks import (FLOAT32_TOL, NUMERIC_TOL, call_forward, check_no_mutation,
                                      describe_conv, expect_value_error, linspace_array,
                                      numerical_gradient, numerical_input_gradient)
from autograder.suites.hidden_inputs import normal_array
from autograder.suites.misconceptions import check_backward, check_forward
from autograder.suites.shrink import shrinking  # noqa: F401 (autouse: smallest failing inputs)
from reference import fast_layers as ref_fast
from reference import layers as ref

# (x shape, w shape, stride, pad): small, because the naive conv runs in the sandbox.
SETTINGS = [
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1),    # 'same' padding
    ((1, 1, 6, 6), (1, 1, 3, 3), 1, 0),    # N = C = F = 1
    ((2, 2, 5, 7), (3, 2, 1, 1), 1, 0),    # 1x1 filter, non-square input
    ((2, 3, 7, 5), (2, 3, 3, 2), 1, 0),    # non-square kernel
    ((2, 2, 8, 8), (3, 2, 2, 2), 3, 0),    # stride larger than the kernel: inputs skipped
    ((2, 3, 5, 5), (2, 3, 3, 3), 2, 2),    # padding 2 with stride 2
    ((2, 1, 3, 3), (2, 1, 5, 5), 1, 1),    # kernel larger than the input, fits once padded
    ((3, 3, 6, 9), (4, 3, 2, 3), 2, 1),    # non-square everything, strided and padded
]


def _inputs(rng, x_shape, w_shape, dtype=np.float64):
    return (normal_array(rng, x_shape, dtype), normal_array(rng, w_shape, dtype),
            normal_array(rng, w_shape[:1], dtype))


def _param(stride, pad):
    return {"stride": stride, "pad": pad}


def _expected_grads(x, w, b, conv_param, dout):
    """The reference's gradients, computed in float64 whatever the test's dtype."""
    f64 = [np.asarray(a, dtype=np.float64) for a in (x, w, b)]
    _, cache = ref.conv_forward_naive(*f64, conv_param)
    dx, dw, db = ref.conv_backward_naive(np.asarray(dout, dtype=np.float64), cache)
    return {"dx": dx, "dw": dw, "db": db}


def _out_shape(x, w, conv_param):
    return ref.conv_forward_naive(x, w, np.zeros(w.shape[0]), conv_param)[0].shape


@pytest.mark.points(3.5)
@pytest.mark.hint("out[n, f, i, j] = b[f] + sum of x_pad[n, :, i*S:i*S+HH, j*S:j*S+WW] * w[f]; "
                  "check non-square inputs and kernels, 1x1 filters and strides larger than the kernel")
def test_conv_forward_values(layers, cases, hidden_rng):
    """conv_forward_naive: output values on 9 shape/stride/pad settings"""
    # CS231n's own fixed inputs first, then random ones drawn for this grade.
    x = linspace_array((2, 3, 4, 4), -0.1, 0.5)
    w = linspace_array((3, 3, 4, 4), -0.2, 0.3)
    b = linspace_array((3,), -0.1, 0.2)
    cases.run(describe_conv(x.shape, w.shape, 2, 1) + " (linspace inputs)", check_forward,
              layers.conv_forward_naive, (x, w, b, _param(2, 1)),
              ref.conv_forward_naive(x, w, b, _param(2, 1))[0])
    for x_shape, w_shape, stride, pad in SETTINGS:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape)
        conv_param = _param(stride, pad)
        cases.run(describe_conv(x_shape, w_shape, stride, pad), check_forward,
                  layers.conv_forward_naive, (x, w, b, conv_param),
                  ref.conv_forward_naive(x, w, b, conv_param)[0])


@pytest.mark.points(4.5)
@pytest.mark.hint("dx_pad[n, :, window] += w[f] * dout[n, f, i, j] and dw[f] += window * "
                  "dout[n, f, i, j] for every output position, db = dout summed over n, i, j; "
                  "then cut the padding off dx_pad")
def test_conv_backward_values(layers, cases, hidden_rng):
    """conv_backward_naive: dx, dw, db on 8 shape/stride/pad settings"""
    for x_shape, w_shape, stride, pad in SETTINGS:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape)
        conv_param = _param(stride, pad)
        dout = normal_array(hidden_rng, _out_shape(x, w, conv_param))
        cases.run(describe_conv(x_shape, w_shape, stride, pad), check_backward,
                  layers.conv_forward_naive, layers.conv_backward_naive, (x, w, b, conv_param),
                  dout, _expected_grads(x, w, b, conv_param, dout))


@pytest.mark.points(1.5)
@pytest.mark.hint("compare your gradients with central differences (f(x + h) - f(x - h)) / 2h "
                  "of sum(out * dout), as in the notebook's gradient check")
def test_conv_backward_numeric(layers, cases, hidden_rng):
    """conv_backward_naive: dx, dw, db against numerical gradients on 3 small settings"""
    for x_shape, w_shape, stride, pad in [
        ((2, 3, 5, 5), (2, 3, 3, 3), 1, 1),
        ((1, 2, 6, 5), (2, 2, 2, 3), 2, 1),
        ((2, 1, 7, 7), (1, 1, 1, 1), 3, 0),
    ]:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape)
        conv_param = _param(stride, pad)
        dout = normal_array(hidden_rng, _out_shape(x, w, conv_param))
        # The reference's forward differentiated numerically: no reference backward. Its error
        # is round-off of sum(out * dout) over the step, the same for every element, so it is
        # measured against the largest gradient (scaled): elementwise, a gradient that happens to
        # be near 0 would fail the reference itself for some seeds. The reference's vectorised
        # forward computes the same function as its naive one (to round-off, far below the
        # step's) in a seventh of the time: these two forwards per element were half of the
        # grader's own CPU time on this part.
        forward = ref_fast.conv_forward_fast
        expected = {
            "dx": numerical_input_gradient(lambda v: forward(v, w, b, conv_param)[0], x, dout),
            "dw": numerical_gradient(lambda v: forward(x, v, b, conv_param)[0], w, dout),
            "db": numerical_gradient(lambda v: forward(x, w, v, conv_param)[0], b, dout),
        }
        cases.run(describe_conv(x_shape, w_shape, stride, pad), check_backward,
                  layers.conv_forward_naive, layers.conv_backward_naive, (x, w, b, conv_param),
                  dout, expected, NUMERIC_TOL, True)


@pytest.mark.points(1)
@pytest.mark.hint("float32 inputs must work and give float32 out and dx, dw, db (the dtypes of x, "
                  "w and b); avoid np.zeros(shape) without a dtype, which is float64")
def test_conv_float32(layers, cases, hidden_rng):
    """conv_forward_naive and conv_backward_naive: float32 inputs give float32 results of float32 accuracy"""
    for x_shape, w_shape, stride, pad in [SETTINGS[0], SETTINGS[3], SETTINGS[7]]:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape, np.float32)
        conv_param = _param(stride, pad)
        expected_out = ref.conv_forward_naive(x.astype(np.float64), w.astype(np.float64),
                                              b.astype(np.float64), conv_param)[0]
        dout = normal_array(hidden_rng, expected_out.shape, np.float32)
        label = describe_conv(x_shape, w_shape, stride, pad, np.float32)
        cases.run(f"forward, {label}", check_forward, layers.conv_forward_naive, (x, w, b, conv_param),
                  expected_out, FLOAT32_TOL, True, np.float32)
        cases.run(f"backward, {label}", check_backward, layers.conv_forward_naive,
                  layers.conv_backward_naive, (x, w, b, conv_param), dout,
                  _expected_grads(x, w, b, conv_param, dout), FLOAT32_TOL, True, np.float32)


@pytest.mark.points(1)
@pytest.mark.hint("never write into x, w, b, dout or the cache (x += ..., x[...] = ...); "
                  "np.pad returns a new array, work on that or on a copy")
def test_conv_does_not_modify_inputs(layers, cases, hidden_rng):
    """conv_forward_naive and conv_backward_naive: inputs and cache not modified in place"""
    for x_shape, w_shape, stride, pad in [SETTINGS[0], SETTINGS[5]]:
        x, w, b = _inputs(hidden_rng, x_shape, w_shape)
        conv_param = _param(stride, pad)
        dout = normal_array(hidden_rng, _out_shape(x, w, conv_param))
        cases.run(describe_conv(x_shape, w_shape, stride, pad), check_no_mutation,
                  layers.conv_forward_naive, layers.conv_backward_naive, (x, w, b, conv_param),
                  ["x", "w", "b"], dout)


@pytest.mark.points(1)
@pytest.mark.hint("check the arguments before computing: raise ValueError when the filter does "
                  "not fit ((H + 2P - HH) not divisible by S, or HH > H + 2P), when channels do "
                  "not match, or when dout does not have the output's shape")
def test_conv_invalid_inputs(layers, cases, hidden_rng):
    """conv_forward_naive and conv_backward_naive: ValueError for a filter that does not fit and other bad inputs"""
    def forward_raises(x_shape, w_shape, stride, pad, dtype=np.float64):
        x, w, b = _inputs(hidden_rng, x_shape, w_shape, dtype)
        expect_value_error(lambda: layers.conv_forward_naive(x, w, b, _param(stride, pad)),
                           "conv_forward_naive")

    def backward_raises_on_wrong_dout():
        x, w, b = _inputs(hidden_rng, (2, 3, 5, 5), (2, 3, 3, 3))
        _, cache, _ = call_forward(layers.conv_forward_naive, (x, w, b, _param(1, 1)))
        dout = normal_array(hidden_rng, (2, 2, 3, 3))  # the output is 2x2x5x5
        expect_value_error(lambda: layers.conv_backward_naive(dout, cache), "conv_backward_naive")

    for label, args in [
        ("filter does not fit: (5 - 2) / 2 is not an integer", ((1, 1, 5, 5), (1, 1, 2, 2), 2, 0)),
        ("filter does not fit: (7 + 2 - 4) / 2 is not an integer", ((2, 2, 7, 7), (1, 2, 4, 4), 2, 1)),
        ("filter 5x5 larger than the 3x3 input", ((1, 1, 3, 3), (1, 1, 5, 5), 1, 0)),
        ("w has 2 channels but x has 3", ((1, 3, 5, 5), (1, 2, 3, 3), 1, 0)),
        ("stride 0", ((1, 1, 5, 5), (1, 1, 3, 3), 0, 0)),
    ]:
        x_shape, w_shape, stride, pad = args
        cases.run(f"{label}: {describe_conv(x_shape, w_shape, stride, pad)}", forward_raises, *args)
    cases.run("integer x, w and b", forward_raises, (1, 1, 5, 5), (1, 1, 3, 3), 1, 0, np.int64)
    cases.run("backward with dout of the wrong shape", backward_raises_on_wrong_dout)
