"""Hidden shapes tests: every formula and every error case, expected values from reference/shapes.py.

Messages may show what the student returned, never what the reference returned.
"""
import numpy as np
import pytest

from autograder.suites.checks import (call_label, check_int, check_int_tuple, check_summary,
                                      expect_value_error)
from reference import shapes as ref


def _check_same(student_fn, *args):
    """The student's result equals the reference's: an int, or a tuple of ints for pairs."""
    expected = getattr(ref, student_fn.name)(*args)
    got = student_fn(*args)
    if isinstance(expected, tuple):
        got = check_int_tuple(got, len(expected))
    else:
        got = check_int(got)
    assert got == expected, f"returned {got}, which is wrong"


def _run_all(cases, student_fn, calls):
    for args in calls:
        cases.run(call_label(student_fn.name, *args), _check_same, student_fn, *args)


def _run_errors(cases, student_fn, calls):
    for args, why in calls:
        label = call_label(student_fn.name, *args)
        cases.run(f"{label} raises ValueError ({why})", expect_value_error,
                  lambda args=args: student_fn(*args), label)


@pytest.mark.points(1.5)
@pytest.mark.hint("(W - F + 2P) / S + 1, returned as an int")
def test_conv_output_size_values(shapes, cases):
    """conv_output_size: (W - F + 2P) / S + 1 on 10 input/kernel/stride/padding settings"""
    _run_all(cases, shapes.conv_output_size, [
        (5, 3, 1, 0),
        (28, 5, 1, 0),
        (64, 3, 1, 1),    # 'same' padding keeps the size
        (13, 3, 2, 1),    # stride 2 with padding
        (225, 7, 2, 3),   # a ResNet-like 7x7 stem with stride 2
        (9, 1, 4, 0),     # 1x1 kernel, stride larger than the kernel
        (3, 5, 1, 1),     # kernel larger than the input, fits once padded
        (6, 6, 1, 0),     # kernel covering the whole input
        (7, 3),           # stride 1 and padding 0 by default
        (9, 3, 2),        # padding 0 by default
    ])


@pytest.mark.points(1)
@pytest.mark.hint("when any argument is an (h, w) pair, apply the formula to each axis and "
                  "return a tuple (h, w) of ints")
def test_conv_output_size_pairs(shapes, cases):
    """conv_output_size: (h, w) pairs for size, kernel, stride or padding return an (h, w) tuple"""
    _run_all(cases, shapes.conv_output_size, [
        ((32, 16), 3, 1, 1),          # non-square input
        (12, (3, 5), 1, 0),           # non-square kernel
        ((20, 11), (4, 3), (2, 4), 0),
        (10, 3, 1, (1, 0)),           # padding on one axis only
        ((1, 1), (1, 1), (1, 1), (0, 0)),
        ([9, 5], 3, [2, 1], 0),       # a list is accepted as a pair; the result is a tuple
    ])


@pytest.mark.points(1)
@pytest.mark.hint("(W - F) / S + 1, returned as an int, or an (h, w) tuple for pairs")
def test_pool_output_size_values(shapes, cases):
    """pool_output_size: (W - F) / S + 1 on scalar and (h, w) settings"""
    _run_all(cases, shapes.pool_output_size, [
        (32, 2, 2),
        (55, 3, 2),       # AlexNet's overlapping pooling
        (10, 4, 3),
        (7, 1, 3),        # 1x1 window, stride larger than the window
        (6, 6, 1),        # global pooling
        ((8, 12), 2, 2),
        (9, (3, 1), (3, 2)),
    ])


@pytest.mark.points(1.5)
@pytest.mark.hint("raise ValueError when (W - F + 2P) is not divisible by S, when the result would "
                  "be smaller than 1, for sizes, kernels or strides below 1, and for negative padding")
def test_conv_output_size_errors(shapes, cases):
    """conv_output_size: raises ValueError for a filter that does not fit and for invalid arguments"""
    _run_errors(cases, shapes.conv_output_size, [
        ((7, 3, 3, 0), "the filter does not fit: (7 - 3) / 3 is not an integer"),
        ((10, 4, 4, 2), "the filter does not fit: (10 - 4 + 2*2) / 4 is not an integer"),
        ((3, 5, 1, 0), "the kernel is larger than the input"),
        ((3, 5, 2, 0), "the result would be 0"),
        ((0, 1, 1, 1), "input size 0, even where the padding makes room for the kernel"),
        ((5, 0, 1, 0), "kernel size 0"),
        ((5, 3, 0, 0), "stride 0"),
        ((5, 3, -1, 0), "negative stride"),
        ((-5, 3, 1, 0), "negative input size"),
        ((5, 3, 1, -1), "negative padding"),
        (((8, 7), 3, 2, 0), "the filter fits the height but not the width"),
    ])


@pytest.mark.points(0.5)
@pytest.mark.hint("sizes must be integers (numpy integers too), never floats, bools, strings or "
                  "None; a pair must have exactly two items; bias must be True or False")
def test_argument_types(shapes, cases):
    """conv_output_size, same_padding, param counts: numpy ints accepted, floats, bools and bad pairs rejected"""
    _run_all(cases, shapes.conv_output_size, [(np.int64(32), np.int32(3), np.int64(1), np.int16(1))])
    _run_errors(cases, shapes.conv_output_size, [
        ((7.0, 3, 1, 0), "a float size, even an integral one"),
        ((7, 3, 1.0, 0), "a float stride"),
        ((7, True, 1, 0), "a bool kernel size"),
        ((7, 3, 1, None), "None as padding"),
        (("7", 3, 1, 0), "a string size"),
        (((7, 7, 7), 3, 1, 0), "a pair of three items"),
    ])
    _run_errors(cases, shapes.pool_output_size, [((8, 2.0, 2), "a float window size")])
    _run_errors(cases, shapes.same_padding, [((3.0,), "a float kernel size")])
    _run_errors(cases, shapes.conv_param_count, [((3, 8, 3, "yes"), "a bias that is not a bool")])
    _run_errors(cases, shapes.linear_param_count, [((10.0, 5), "a float size")])


@pytest.mark.points(0.5)
@pytest.mark.hint("raise ValueError when (W - F) is not divisible by S, when the window is larger "
                  "than the input, and for sizes, windows or strides below 1")
def test_pool_output_size_errors(shapes, cases):
    """pool_output_size: raises ValueError for a window that does not fit and for invalid arguments"""
    _run_errors(cases, shapes.pool_output_size, [
        ((7, 2, 2), "the window does not fit: (7 - 2) / 2 is not an integer"),
        ((3, 4, 1), "the window is larger than the input"),
        ((8, 0, 2), "window size 0"),
        ((8, 2, 0), "stride 0"),
        ((0, 1, 1), "input size 0"),
        (((8, 9), 2, 2), "the window fits the height but not the width"),
    ])


@pytest.mark.points(1)
@pytest.mark.hint("P = (F - 1) / 2 as an int; an even or non-positive F has no symmetric "
                  "'same' padding and must raise ValueError")
def test_same_padding(shapes, cases):
    """same_padding: (F - 1) / 2 for odd F, ValueError for even or non-positive F"""
    _run_all(cases, shapes.same_padding, [(1,), (7,), (11,)])
    _run_errors(cases, shapes.same_padding, [
        ((2,), "even kernel"), ((4,), "even kernel"), ((0,), "kernel size 0"), ((-3,), "negative kernel"),
    ])


@pytest.mark.points(1)
@pytest.mark.hint("conv: F_h * F_w * C_in * K weights plus K biases; fc: in * out weights plus "
                  "out biases; no biases when bias=False")
def test_param_counts(shapes, cases):
    """conv_param_count and linear_param_count, with and without bias, square and (h, w) kernels"""
    _run_all(cases, shapes.conv_param_count, [
        (3, 64, 3), (3, 64, 3, False), (64, 128, 1), (16, 32, (1, 7)), (1, 1, 1, False),
    ])
    _run_all(cases, shapes.linear_param_count, [
        (4096, 1000), (4096, 1000, False), (1, 1), (7 * 7 * 512, 4096),
    ])


@pytest.mark.points(0.5)
@pytest.mark.hint("raise ValueError for channel, feature or kernel counts below 1")
def test_param_count_errors(shapes, cases):
    """conv_param_count and linear_param_count: ValueError for non-positive sizes"""
    _run_errors(cases, shapes.conv_param_count, [
        ((0, 8, 3), "0 input channels"), ((3, 0, 3), "0 filters"), ((3, 8, 0), "kernel size 0"),
    ])
    _run_errors(cases, shapes.linear_param_count, [
        ((0, 10), "0 input features"), ((10, 0), "0 output features"),
        ((10, -1), "negative output features"),
    ])


def _check_summary(shapes, input_shape, layers):
    """Layer by layer: the first wrong layer is named, with what the student returned."""
    expected = ref.network_summary(input_shape, layers)
    got = check_summary(shapes.network_summary(input_shape, layers), len(layers))
    for index, ((shape, params), (want_shape, want_params)) in enumerate(zip(got, expected)):
        kind = layers[index]["type"]
        if shape != want_shape:
            raise AssertionError(f"layer {index} ({kind}): output shape {shape} is wrong")
        if params != want_params:
            raise AssertionError(f"layer {index} ({kind}): parameter count {params} is wrong")


SMALL_NET = [
    {"type": "conv", "out_channels": 8, "kernel_size": 3, "stride": 1, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool", "kernel_size": 2, "stride": 2},
    {"type": "conv", "out_channels": 16, "kernel_size": 5, "bias": False},  # stride 1, padding 0 by default
    {"type": "relu"},
    {"type": "avgpool", "kernel_size": 2},  # no stride: steps by its own size, like torch
    {"type": "flatten"},
    {"type": "fc", "out_features": 32},
    {"type": "relu"},
    {"type": "fc", "out_features": 10, "bias": False},
]

NON_SQUARE_NET = [
    {"type": "conv", "out_channels": 4, "kernel_size": (3, 5), "stride": (1, 2), "padding": (1, 2)},
    {"type": "maxpool", "kernel_size": (2, 1), "stride": (2, 1)},
    {"type": "flatten"},
    {"type": "fc", "out_features": 3},
]


def _vgg16() -> list:
    layers = []
    for blocks, channels in [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]:
        for _ in range(blocks):
            layers += [{"type": "conv", "out_channels": channels, "kernel_size": 3, "padding": 1},
                       {"type": "relu"}]
        layers.append({"type": "maxpool", "kernel_size": 2, "stride": 2})
    layers.append({"type": "flatten"})
    for features in (4096, 4096):
        layers += [{"type": "fc", "out_features": features}, {"type": "relu"}]
    return layers + [{"type": "fc", "out_features": 1000}]


@pytest.mark.points(1.5)
@pytest.mark.hint("each layer's output shape is the next layer's input; relu, pooling and flatten "
                  "have no parameters; a pool without a stride steps by its own size; "
                  "'stride' defaults to 1, 'padding' to 0 and 'bias' to True")
def test_network_summary_small_nets(shapes, cases):
    """network_summary: shapes and parameter counts of small nets using every layer type"""
    cases.run("conv, relu, maxpool, conv without bias, avgpool, flatten, fc on 3x16x16",
              _check_summary, shapes, (3, 16, 16), SMALL_NET)
    cases.run("(h, w) kernels, strides and padding on 1x8x11",
              _check_summary, shapes, (1, 8, 11), NON_SQUARE_NET)
    cases.run("a single flatten and fc on 2x3x3",
              _check_summary, shapes, (2, 3, 3), [{"type": "flatten"}, {"type": "fc", "out_features": 5}])
    cases.run("an empty layer list gives []", _check_summary, shapes, (3, 8, 8), [])


@pytest.mark.points(1)
@pytest.mark.hint("VGG-16 is 13 3x3 convs with padding 1 (64, 64, pool, 128, 128, pool, 256 x3, "
                  "pool, 512 x3, pool, 512 x3, pool), then fc 4096, 4096, 1000; compare your total "
                  "with the one published in the VGG paper")
def test_network_summary_vgg16(shapes, cases):
    """network_summary: VGG-16 on 3x224x224, every layer's shape and parameter count"""
    cases.run("VGG-16 on 3x224x224", _check_summary, shapes, (3, 224, 224), _vgg16())


@pytest.mark.points(1)
@pytest.mark.hint("a layer that does not fit its input must raise ValueError (e.g. by letting "
                  "conv_output_size raise), and so must an fc layer on an unflattened image")
def test_network_summary_errors(shapes, cases):
    """network_summary: raises ValueError when a layer does not fit its input"""
    conv = {"type": "conv", "out_channels": 4, "kernel_size": 5, "stride": 2, "padding": 0}
    for input_shape, layers, why in [
        ((3, 32, 32), [conv], "a 5x5 conv with stride 2 does not fit 32x32"),
        ((3, 9, 9), [{"type": "conv", "out_channels": 4, "kernel_size": 3},
                     {"type": "maxpool", "kernel_size": 2, "stride": 2}],
         "a 2x2 pool with stride 2 does not fit the 7x7 output of the first layer"),
        ((3, 4, 4), [{"type": "conv", "out_channels": 2, "kernel_size": 7}],
         "a 7x7 filter is larger than the 4x4 input"),
        ((3, 4, 4), [{"type": "fc", "out_features": 10}], "an fc layer on an unflattened image"),
        ((3, 4, 4), [{"type": "flatten"}, {"type": "maxpool", "kernel_size": 2}],
         "a pool layer on a flat input"),
        ((3, 4, 4), [{"type": "dropout"}], "an unknown layer type"),
        ((3, 4, 4), [{"type": "conv", "kernel_size": 3}], "a conv layer without out_channels"),
        ((3, 0, 4), [{"type": "relu"}], "an input_shape with a 0"),
    ]:
        cases.run(f"network_summary on {input_shape} raises ValueError: {why}", expect_value_error,
                  lambda i=input_shape, l=layers: shapes.network_summary(i, l), "network_summary")
