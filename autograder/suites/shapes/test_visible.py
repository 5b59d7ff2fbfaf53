"""Visible shapes tests: textbook numbers (CS231n notes, AlexNet). Ships with the handout, so it
takes its expected values from literal numbers only, never from reference/."""
import pytest

from autograder.suites.checks import call_label, check_int, check_summary, expect_value_error

pytestmark = pytest.mark.visibility("visible")


def _check_size(student_fn, args, expected):
    got = check_int(student_fn(*args))
    assert got == expected, f"returned {got}, expected {expected}"


@pytest.mark.points(1)
@pytest.mark.hint("output size = (W - F + 2P) / S + 1; it must be an int, and a filter that "
                  "does not fit must raise ValueError")
def test_conv_output_size_textbook(shapes, cases):
    """conv_output_size: the CS231n notes' examples (7x7 input, 32x32 'same' conv, AlexNet)"""
    # (input, kernel, stride, padding) -> size, as worked out in the CS231n notes.
    for args, expected in [((7, 3, 1, 0), 5), ((7, 3, 2, 0), 3), ((32, 5, 1, 2), 32),
                           ((227, 11, 4, 0), 55)]:
        cases.run(call_label("conv_output_size", *args), _check_size, shapes.conv_output_size, args, expected)
    cases.run("conv_output_size(7, 3, 3, 0) raises ValueError", expect_value_error,
              lambda: shapes.conv_output_size(7, 3, 3, 0), "conv_output_size(7, 3, 3, 0)")


@pytest.mark.points(1)
@pytest.mark.hint("pooling output size = (W - F) / S + 1; 'same' padding is (F - 1) / 2")
def test_pool_and_padding_textbook(shapes, cases):
    """pool_output_size and same_padding: 2x2 pooling of 224x224, padding of 3x3 and 5x5 filters"""
    cases.run("pool_output_size(224, 2, 2)", _check_size, shapes.pool_output_size, (224, 2, 2), 112)
    cases.run("same_padding(3)", _check_size, shapes.same_padding, (3,), 1)
    cases.run("same_padding(5)", _check_size, shapes.same_padding, (5,), 2)


@pytest.mark.points(1)
@pytest.mark.hint("a conv layer has F * F * C_in * K weights plus K biases")
def test_alexnet_conv1(shapes, cases):
    """network_summary: AlexNet's first layer on a 3x227x227 image gives (96, 55, 55) and 34944 parameters"""
    def check():
        layers = [{"type": "conv", "out_channels": 96, "kernel_size": 11, "stride": 4, "padding": 0}]
        summary = shapes.network_summary((3, 227, 227), layers)
        [(shape, params)] = check_summary(summary, 1)
        assert shape == (96, 55, 55), f"layer 0 has shape {shape}, expected (96, 55, 55)"
        assert params == 34944, f"layer 0 has {params} parameters, expected 34944"

    cases.run("AlexNet conv1: 96 filters 11x11, stride 4, on 3x227x227", check)
    cases.run("conv_param_count(3, 96, 11)", _check_size, shapes.conv_param_count, (3, 96, 11), 34944)
