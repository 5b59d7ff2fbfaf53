"""Visible fast_layers tests: one CIFAR-sized case per layer, expected values from
torch.nn.functional (float64), stored in ../visible_cases.npz with their inputs (see
visible_cases.py). Ships with the handout, so it never imports reference/. (Speed is graded
separately.)"""
import pytest

from autograder.suites.checks import check_backward, check_forward, describe_conv, describe_pool
from autograder.suites.visible_cases import visible_case

pytestmark = pytest.mark.visibility("visible")


@pytest.mark.points(0.5)
@pytest.mark.hint("im2col: gather every receptive field into the columns of one matrix, multiply "
                  "by w.reshape(F, -1), add b, then reshape and transpose to (N, F, H', W')")
def test_conv_fast_cifar_sized(fast_layers, cases):
    """conv_forward_fast and conv_backward_fast: x 2x3x32x32, w 8x3x3x3, stride 1, pad 1, against torch"""
    case = visible_case("conv_cifar_sized")
    x, w, b, conv_param = case["x"], case["w"], case["b"], case.params
    label = describe_conv(x.shape, w.shape, 1, 1)
    cases.run(f"forward, {label}", check_forward, fast_layers.conv_forward_fast,
              (x, w, b, conv_param), case["out"])
    cases.run(f"backward, {label}", check_backward, fast_layers.conv_forward_fast,
              fast_layers.conv_backward_fast, (x, w, b, conv_param), case["dout"],
              case.gradients)


@pytest.mark.points(0.5)
@pytest.mark.hint("take a running np.maximum over the PH * PW strided slices of x; in the backward "
                  "pass each window's gradient goes to its first maximal element only")
def test_max_pool_fast_cifar_sized(fast_layers, cases):
    """max_pool_forward_fast and max_pool_backward_fast: x 2x8x32x32, 2x2 pool, stride 2, against torch"""
    case = visible_case("max_pool_cifar_sized")
    x, pool_param = case["x"], case.params
    label = describe_pool(x.shape, pool_param)
    cases.run(f"forward, {label}", check_forward, fast_layers.max_pool_forward_fast, (x, pool_param),
              case["out"])
    cases.run(f"backward, {label}", check_backward, fast_layers.max_pool_forward_fast,
              fast_layers.max_pool_backward_fast, (x, pool_param), case["dout"], case.gradients)
