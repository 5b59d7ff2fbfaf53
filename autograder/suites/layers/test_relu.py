"""Hidden tests of relu_forward and relu_backward; expected values from reference/."""
import numpy as np
import pytest

from autograder.suites.checks import FLOAT32_TOL, check_no_mutation, linspace_array
from autograder.suites.hidden_inputs import normal_array
from autograder.suites.misconceptions import check_backward, check_forward
from reference import layers as ref

SHAPES = [(7,), (4, 5), (2, 3, 4, 4), (2, 1, 3, 2, 2)]  # ReLU works on any shape


def _label(x):
    return f"x of shape {x.shape}, {x.dtype}"


@pytest.mark.points(1)
@pytest.mark.hint("max(0, x) elementwise, as a new array of x's shape and dtype (np.maximum)")
def test_relu_forward_values(layers, cases, hidden_rng):
    """relu_forward: values on 1-D to 5-D inputs"""
    for shape in SHAPES:
        x = normal_array(hidden_rng, shape)
        cases.run(_label(x), check_forward, layers.relu_forward, (x,), ref.relu_forward(x)[0])


@pytest.mark.points(1.5)
@pytest.mark.hint("dx = dout where x > 0 and 0 where x <= 0; the derivative at exactly 0 is 0")
def test_relu_backward_values(layers, cases, hidden_rng):
    """relu_backward: dx on 1-D to 5-D inputs, and on inputs containing exact zeros"""
    # normal_array never holds an exact 0; 21 evenly spaced values from -1 to 1 include 0.0
    # itself, whose derivative is 0, as in torch.
    inputs = [normal_array(hidden_rng, shape) for shape in SHAPES]
    inputs.append(linspace_array((3, 7), -1.0, 1.0))
    for x in inputs:
        dout = normal_array(hidden_rng, x.shape)
        label = _label(x) + (" with exact zeros" if not np.all(x) else "")
        cases.run(label, check_backward, layers.relu_forward, layers.relu_backward, (x,), dout,
                  {"dx": ref.relu_backward(dout, ref.relu_forward(x)[1])})


@pytest.mark.points(0.5)
@pytest.mark.hint("float32 in, float32 out: np.maximum(x, 0) keeps x's dtype, but a dx built "
                  "with np.zeros(shape) is float64 (use np.zeros_like(x) or dtype=x.dtype)")
def test_relu_float32(layers, cases, hidden_rng):
    """relu_forward and relu_backward: float32 inputs give float32 results"""
    x = normal_array(hidden_rng, (2, 3, 4, 4), np.float32)
    dout = normal_array(hidden_rng, x.shape, np.float32)
    cases.run(f"forward, {_label(x)}", check_forward, layers.relu_forward, (x,),
              np.maximum(x.astype(np.float64), 0), FLOAT32_TOL, True, np.float32)
    cases.run(f"backward, {_label(x)}", check_backward, layers.relu_forward, layers.relu_backward,
              (x,), dout, {"dx": np.where(x > 0, dout, 0).astype(np.float64)}, FLOAT32_TOL, True,
              np.float32)


@pytest.mark.points(1)
@pytest.mark.hint("x[x < 0] = 0 and dout[x <= 0] = 0 write into the caller's arrays: build new "
                  "ones (np.maximum(x, 0), np.where(x > 0, dout, 0)) or work on copies")
def test_relu_does_not_modify_inputs(layers, cases, hidden_rng):
    """relu_forward and relu_backward: x and dout not modified in place"""
    x = normal_array(hidden_rng, (3, 4, 5))
    cases.run(_label(x), check_no_mutation, layers.relu_forward, layers.relu_backward, (x,), ["x"],
              normal_array(hidden_rng, x.shape))
