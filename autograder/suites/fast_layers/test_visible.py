"""Visible fast_layers tests: one CIFAR-sized case per layer, torch.nn.functional (float64) as the
oracle. Ships with the handout, so it never imports reference/. (Speed is graded separately.)"""
import pytest

from autograder.suites.checks import (check_backward, check_forward, describe_conv, describe_pool,
                                      random_array, torch_conv, torch_pool)

pytestmark = pytest.mark.visibility("visible")


@pytest.mark.weight(1)
@pytest.mark.hint("im2col: gather every receptive field into the columns of one matrix, multiply "
                  "by w.reshape(F, -1), add b, then reshape and transpose to (N, F, H', W')")
def test_conv_fast_cifar_sized(fast_layers, cases):
    """conv_forward_fast and conv_backward_fast: x 4x3x32x32, w 8x3x3x3, stride 1, pad 1, against torch"""
    x, w, b = random_array((4, 3, 32, 32), 1), random_array((8, 3, 3, 3), 2), random_array((8,), 3)
    conv_param = {"stride": 1, "pad": 1}
    dout = random_array((4, 8, 32, 32), 4)
    label = describe_conv(x.shape, w.shape, 1, 1)
    cases.run(f"forward, {label}", check_forward, fast_layers.conv_forward_fast,
              (x, w, b, conv_param), torch_conv(x, w, b, conv_param)["out"])
    cases.run(f"backward, {label}", check_backward, fast_layers.conv_forward_fast,
              fast_layers.conv_backward_fast, (x, w, b, conv_param), dout,
              torch_conv(x, w, b, conv_param, dout))


@pytest.mark.weight(1)
@pytest.mark.hint("take a running np.maximum over the PH * PW strided slices of x; in the backward "
                  "pass each window's gradient goes to its first maximal element only")
def test_max_pool_fast_cifar_sized(fast_layers, cases):
    """max_pool_forward_fast and max_pool_backward_fast: x 4x8x32x32, 2x2 pool, stride 2, against torch"""
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    x, dout = random_array((4, 8, 32, 32), 5), random_array((4, 8, 16, 16), 6)
    label = describe_pool(x.shape, pool_param)
    cases.run(f"forward, {label}", check_forward, fast_layers.max_pool_forward_fast, (x, pool_param),
              torch_pool("max", x, pool_param)["out"])
    cases.run(f"backward, {label}", check_backward, fast_layers.max_pool_forward_fast,
              fast_layers.max_pool_backward_fast, (x, pool_param), dout,
              torch_pool("max", x, pool_param, dout))
