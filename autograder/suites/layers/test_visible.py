"""Visible layers tests: CS231n's classic checks, expected values from torch.nn.functional (float64).

Ships with the handout, so it never imports reference/; the inputs and torch's results are stored
in ../visible_cases.npz (see visible_cases.py).
"""
import numpy as np
import pytest

from autograder.suites.checks import (check_backward, check_forward, describe_conv, describe_pool,
                                      linspace_array, random_array)
from autograder.suites.visible_cases import visible_case

pytestmark = pytest.mark.visibility("visible")


@pytest.mark.points(1)
@pytest.mark.hint("pad x with np.pad on H and W only, then take the dot product of every filter "
                  "with every receptive field; the output size is 1 + (H + 2P - HH) / S")
def test_conv_forward_cs231n(layers, cases):
    """conv_forward_naive: CS231n's check (x 2x3x4x4, w 3x3x4x4, stride 2, pad 1) against torch"""
    case = visible_case("conv_forward_cs231n")
    x, w, b, conv_param = case["x"], case["w"], case["b"], case.params
    cases.run(describe_conv(x.shape, w.shape, 2, 1), check_forward, layers.conv_forward_naive,
              (x, w, b, conv_param), case["out"])


@pytest.mark.points(1)
@pytest.mark.hint("each out[n, f, i, j] is a dot product of one padded window with w[f]: send "
                  "dout[n, f, i, j] back along it; drop the gradient that lands on the padding")
def test_conv_backward_small(layers, cases):
    """conv_backward_naive: dx, dw, db on a small random case (x 4x3x5x5, w 2x3x3x3, stride 1, pad 1) against torch"""
    case = visible_case("conv_small")
    x, w, b, conv_param = case["x"], case["w"], case["b"], case.params
    cases.run(describe_conv(x.shape, w.shape, 1, 1), check_backward, layers.conv_forward_naive,
              layers.conv_backward_naive, (x, w, b, conv_param), case["dout"],
              case.gradients)


@pytest.mark.points(1)
@pytest.mark.hint("out is the max of each window; in the backward pass the whole gradient of a "
                  "window goes to the element that was its maximum")
def test_max_pool_cs231n(layers, cases):
    """max_pool_forward_naive and max_pool_backward_naive: CS231n's 2x2, stride 2 check against torch"""
    case = visible_case("max_pool_cs231n")
    cases.run(f"forward, {describe_pool(case['x'].shape, case.params)}", check_forward,
              layers.max_pool_forward_naive, (case["x"], case.params), case["out"])
    case = visible_case("max_pool_small")
    cases.run(f"backward, {describe_pool(case['x'].shape, case.params)}", check_backward,
              layers.max_pool_forward_naive, layers.max_pool_backward_naive,
              (case["x"], case.params), case["dout"], case.gradients)


@pytest.mark.points(1)
@pytest.mark.hint("out is the mean of each window; every element of a window receives "
                  "dout / (PH * PW) of its gradient")
def test_avg_pool_small(layers, cases):
    """avg_pool_forward_naive and avg_pool_backward_naive: 2x2, stride 2 against torch"""
    case = visible_case("avg_pool_small")
    x, pool_param = case["x"], case.params
    cases.run(f"forward, {describe_pool(x.shape, pool_param)}", check_forward,
              layers.avg_pool_forward_naive, (x, pool_param), case["out"])
    cases.run(f"backward, {describe_pool(x.shape, pool_param)}", check_backward,
              layers.avg_pool_forward_naive, layers.avg_pool_backward_naive, (x, pool_param),
              case["dout"], case.gradients)


@pytest.mark.points(1)
@pytest.mark.hint("relu_forward returns a NEW array max(0, x); relu_backward passes dout where "
                  "x > 0 and 0 elsewhere")
def test_relu_small(layers, cases):
    """relu_forward and relu_backward on a 3x4 array"""
    x = linspace_array((3, 4), -0.55, 0.55)  # 12 evenly spaced values, none exactly 0
    dout = random_array((3, 4), 9)
    cases.run("forward, x of shape (3, 4)", check_forward, layers.relu_forward, (x,), np.maximum(x, 0))
    cases.run("backward, x of shape (3, 4)", check_backward, layers.relu_forward, layers.relu_backward,
              (x,), dout, {"dx": np.where(x > 0, dout, 0)})
