"""Visible layers tests: CS231n's classic checks, with torch.nn.functional (float64) as the oracle.

Ships with the handout, so it never imports reference/.
"""
import numpy as np
import pytest

from autograder.suites.checks import (check_backward, check_forward, describe_conv, describe_pool,
                                      linspace_array, random_array, torch_conv, torch_pool)

pytestmark = pytest.mark.visibility("visible")


@pytest.mark.weight(1)
@pytest.mark.hint("pad x with np.pad on H and W only, then take the dot product of every filter "
                  "with every receptive field; the output size is 1 + (H + 2P - HH) / S")
def test_conv_forward_cs231n(layers, cases):
    """conv_forward_naive: CS231n's check (x 2x3x4x4, w 3x3x4x4, stride 2, pad 1) against torch"""
    x = linspace_array((2, 3, 4, 4), -0.1, 0.5)
    w = linspace_array((3, 3, 4, 4), -0.2, 0.3)
    b = linspace_array((3,), -0.1, 0.2)
    conv_param = {"stride": 2, "pad": 1}
    cases.run(describe_conv(x.shape, w.shape, 2, 1), check_forward, layers.conv_forward_naive,
              (x, w, b, conv_param), torch_conv(x, w, b, conv_param)["out"])


@pytest.mark.weight(1)
@pytest.mark.hint("each out[n, f, i, j] is a dot product of one padded window with w[f]: send "
                  "dout[n, f, i, j] back along it; drop the gradient that lands on the padding")
def test_conv_backward_small(layers, cases):
    """conv_backward_naive: dx, dw, db on a small random case (x 4x3x5x5, w 2x3x3x3, stride 1, pad 1) against torch"""
    x, w, b = random_array((4, 3, 5, 5), 1), random_array((2, 3, 3, 3), 2), random_array((2,), 3)
    conv_param = {"stride": 1, "pad": 1}
    dout = random_array((4, 2, 5, 5), 4)
    cases.run(describe_conv(x.shape, w.shape, 1, 1), check_backward, layers.conv_forward_naive,
              layers.conv_backward_naive, (x, w, b, conv_param), dout,
              torch_conv(x, w, b, conv_param, dout))


@pytest.mark.weight(1)
@pytest.mark.hint("out is the max of each window; in the backward pass the whole gradient of a "
                  "window goes to the element that was its maximum")
def test_max_pool_cs231n(layers, cases):
    """max_pool_forward_naive and max_pool_backward_naive: CS231n's 2x2, stride 2 check against torch"""
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    x = linspace_array((2, 3, 4, 4), -0.3, 0.4)
    cases.run(f"forward, {describe_pool(x.shape, pool_param)}", check_forward,
              layers.max_pool_forward_naive, (x, pool_param), torch_pool("max", x, pool_param)["out"])
    x, dout = random_array((3, 2, 8, 8), 5), random_array((3, 2, 4, 4), 6)
    cases.run(f"backward, {describe_pool(x.shape, pool_param)}", check_backward,
              layers.max_pool_forward_naive, layers.max_pool_backward_naive, (x, pool_param), dout,
              torch_pool("max", x, pool_param, dout))


@pytest.mark.weight(1)
@pytest.mark.hint("out is the mean of each window; every element of a window receives "
                  "dout / (PH * PW) of its gradient")
def test_avg_pool_small(layers, cases):
    """avg_pool_forward_naive and avg_pool_backward_naive: 2x2, stride 2 against torch"""
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    x, dout = random_array((2, 3, 6, 6), 7), random_array((2, 3, 3, 3), 8)
    cases.run(f"forward, {describe_pool(x.shape, pool_param)}", check_forward,
              layers.avg_pool_forward_naive, (x, pool_param), torch_pool("avg", x, pool_param)["out"])
    cases.run(f"backward, {describe_pool(x.shape, pool_param)}", check_backward,
              layers.avg_pool_forward_naive, layers.avg_pool_backward_naive, (x, pool_param), dout,
              torch_pool("avg", x, pool_param, dout))


@pytest.mark.weight(1)
@pytest.mark.hint("relu_forward returns a NEW array max(0, x); relu_backward passes dout where "
                  "x > 0 and 0 elsewhere")
def test_relu_small(layers, cases):
    """relu_forward and relu_backward on a 3x4 array"""
    x = linspace_array((3, 4), -0.55, 0.55)  # 12 evenly spaced values, none exactly 0
    dout = random_array((3, 4), 9)
    cases.run("forward, x of shape (3, 4)", check_forward, layers.relu_forward, (x,), np.maximum(x, 0))
    cases.run("backward, x of shape (3, 4)", check_backward, layers.relu_forward, layers.relu_backward,
              (x,), dout, {"dx": np.where(x > 0, dout, 0)})
