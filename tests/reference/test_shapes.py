"""Proof that reference/shapes.py is right: torch modules agree on every size and count."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

from reference.shapes import (
    conv_output_size,
    conv_param_count,
    linear_param_count,
    network_summary,
    pool_output_size,
    same_padding,
)

from .conftest import PROOF_SETTINGS

META = torch.device("meta")  # shapes and parameter counts without allocating memory


def _torch_conv_size(size, kernel, stride, padding):
    """Output (h, w) of nn.Conv2d, or None where torch would floor a filter that does not fit."""
    image = torch.empty(1, 1, *size, device=META)
    try:
        return tuple(nn.functional.conv2d(image, torch.empty(1, 1, *kernel, device=META), None, stride, padding).shape[2:])
    except RuntimeError:
        return None


@PROOF_SETTINGS
@given(
    st.tuples(st.integers(1, 40), st.integers(1, 40)),
    st.tuples(st.integers(1, 12), st.integers(1, 12)),
    st.tuples(st.integers(1, 5), st.integers(1, 5)),
    st.tuples(st.integers(0, 4), st.integers(0, 4)),
)
def test_conv_output_size_matches_torch_or_raises(size, kernel, stride, padding):
    fits = all((size[i] + 2 * padding[i] - kernel[i]) % stride[i] == 0 for i in range(2))
    expected = _torch_conv_size(size, kernel, stride, padding)
    if fits and expected is not None:
        assert conv_output_size(size, kernel, stride, padding) == expected
        assert conv_output_size(size[0], kernel[0], stride[0], padding[0]) == expected[0]
    else:
        # torch floors (W - F + 2P) / S; the assignment calls that a filter that does not fit.
        with pytest.raises(ValueError):
            conv_output_size(size, kernel, stride, padding)


@PROOF_SETTINGS
@given(st.integers(1, 40), st.integers(1, 12), st.integers(1, 5))
def test_pool_output_size_matches_torch_or_raises(size, kernel, stride):
    fits = kernel <= size and (size - kernel) % stride == 0
    if fits:
        pooled = nn.functional.max_pool2d(torch.empty(1, 1, size, size, device=META), kernel, stride)
        assert pool_output_size(size, kernel, stride) == pooled.shape[-1]
    else:
        with pytest.raises(ValueError):
            pool_output_size(size, kernel, stride)


@pytest.mark.parametrize(
    "args, expected",
    [
        ((227, 11, 4), 55),  # AlexNet conv1
        ((32, 3, 1, 1), 32),
        ((7, 3, 2), 3),
        ((5, 5), 1),
        ((1, 3, 1, 1), 1),  # the filter reads only the centre pixel and padding
        ((7, 1, 3), 3),  # stride > kernel
        (((32, 16), 3, 1, 1), (32, 16)),
        ((32, (3, 1), 1, (1, 0)), (32, 32)),
        ((np.int64(227), np.int64(11), np.int64(4)), 55),  # numpy integers are integers
        (((9, 7), (3, 3), (2, 1), 0), (4, 5)),
    ],
)
def test_conv_output_size_known_values(args, expected):
    assert conv_output_size(*args) == expected


def test_pair_arguments_give_tuples_of_ints():
    result = conv_output_size([32, 16], 3)
    assert result == (30, 14) and isinstance(result, tuple)
    assert all(type(v) is int for v in result)
    assert type(conv_output_size(np.int64(32), 3)) is int
    assert pool_output_size((55, 27), 3, 2) == (27, 13)
    assert pool_output_size(55, 3, 2) == 27


@pytest.mark.parametrize(
    "args",
    [
        (7, 3, 3),  # 2.33: the assignment's canonical filter that does not fit
        (5, 7),  # kernel larger than the input
        (5, 8, 1, 1),  # kernel larger than the padded input
        (0, 3),
        (-5, 3),
        (5, 0),
        (5, 3, 0),
        (5, 3, -1),
        (5, 3, 1, -1),
        (5.0, 3),
        (5, 3.0),
        (5, 3, 1.5),
        (5, 3, 1, 0.5),
        (True, 1),
        (5, True),
        (5, 3, True),
        (5, 3, 1, False),
        ("5", 3),
        (None, 3),
        ((5, 5, 5), 3),  # a triple is not an (h, w) pair
        ((5,), 3),
        ((5, 0), 3),
        ((9, 8), 3, 2),  # height fits, width does not
    ],
)
def test_conv_output_size_rejects(args):
    with pytest.raises(ValueError):
        conv_output_size(*args)


def test_conv_output_size_error_explains_the_fraction():
    with pytest.raises(ValueError, match=r"2\.33"):
        conv_output_size(7, 3, 3)
    with pytest.raises(ValueError, match="width"):
        conv_output_size((9, 8), 3, 2)


@pytest.mark.parametrize("args", [(32, 3, 2), (5, 6, 1), (0, 1, 1), (5, 2, 0), (5.0, 1, 1), (5, True, 1), (5, 2, (1, 2, 3))])
def test_pool_output_size_rejects(args):
    with pytest.raises(ValueError):
        pool_output_size(*args)


@pytest.mark.parametrize("kernel", [1, 3, 5, 7, 11])
def test_same_padding_keeps_the_size(kernel):
    padding = same_padding(kernel)
    assert padding == (kernel - 1) // 2
    assert _torch_conv_size((13, 13), (kernel, kernel), (1, 1), (padding, padding)) == (13, 13)


@pytest.mark.parametrize("kernel", [0, 2, 4, -3, 3.0, True, "3", (3, 3)])
def test_same_padding_rejects(kernel):
    with pytest.raises(ValueError):
        same_padding(kernel)


@PROOF_SETTINGS
@given(
    st.integers(1, 64),
    st.integers(1, 64),
    st.one_of(st.integers(1, 7), st.tuples(st.integers(1, 7), st.integers(1, 7))),
    st.booleans(),
)
def test_conv_param_count_matches_torch(in_channels, out_channels, kernel_size, bias):
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias, device=META)
    expected = sum(p.numel() for p in layer.parameters())
    assert conv_param_count(in_channels, out_channels, kernel_size, bias) == expected
    if bias:
        assert conv_param_count(in_channels, out_channels, kernel_size) == expected


@PROOF_SETTINGS
@given(st.integers(1, 5000), st.integers(1, 5000), st.booleans())
def test_linear_param_count_matches_torch(in_features, out_features, bias):
    layer = nn.Linear(in_features, out_features, bias=bias, device=META)
    assert linear_param_count(in_features, out_features, bias) == sum(p.numel() for p in layer.parameters())


@pytest.mark.parametrize(
    "fn, args",
    [
        (conv_param_count, (0, 3, 3)),
        (conv_param_count, (3, 0, 3)),
        (conv_param_count, (3, 3, 0)),
        (conv_param_count, (3, 3, (3, 0))),
        (conv_param_count, (3.0, 3, 3)),
        (conv_param_count, (3, 3, 3, 1)),  # bias must be a bool
        (conv_param_count, (True, 3, 3)),
        (linear_param_count, (0, 10)),
        (linear_param_count, (10, -1)),
        (linear_param_count, (10.0, 10)),
        (linear_param_count, (10, 10, "yes")),
    ],
)
def test_param_counts_reject(fn, args):
    with pytest.raises(ValueError):
        fn(*args)


# --- network_summary against the same network built and run in torch.


def _torch_layer(spec: dict, shape: tuple[int, ...]) -> nn.Module:
    kind = spec["type"]
    if kind == "conv":
        return nn.Conv2d(
            shape[0],
            spec["out_channels"],
            spec["kernel_size"],
            spec.get("stride", 1),
            spec.get("padding", 0),
            bias=spec.get("bias", True),
            device=META,
        )
    if kind == "fc":
        return nn.Linear(shape[0], spec["out_features"], bias=spec.get("bias", True), device=META)
    if kind == "maxpool":
        return nn.MaxPool2d(spec["kernel_size"], spec.get("stride"))
    if kind == "avgpool":
        return nn.AvgPool2d(spec["kernel_size"], spec.get("stride"))
    return {"relu": nn.ReLU(), "flatten": nn.Flatten(0)}[kind]


def _torch_summary(input_shape, specs):
    """(shape, parameter count) per layer, from torch modules run on a meta tensor."""
    x = torch.empty(*input_shape, device=META)
    summary = []
    for spec in specs:
        layer = _torch_layer(spec, tuple(x.shape))
        x = layer(x)
        summary.append((tuple(x.shape), sum(p.numel() for p in layer.parameters())))
    return summary


ALEXNET = [
    {"type": "conv", "out_channels": 96, "kernel_size": 11, "stride": 4, "padding": 0},
    {"type": "relu"},
    {"type": "maxpool", "kernel_size": 3, "stride": 2},
    {"type": "conv", "out_channels": 256, "kernel_size": 5, "padding": 2},
    {"type": "relu"},
    {"type": "maxpool", "kernel_size": 3, "stride": 2},
    {"type": "conv", "out_channels": 384, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "conv", "out_channels": 384, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "conv", "out_channels": 256, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool", "kernel_size": 3, "stride": 2},
    {"type": "flatten"},
    {"type": "fc", "out_features": 4096},
    {"type": "relu"},
    {"type": "fc", "out_features": 4096},
    {"type": "relu"},
    {"type": "fc", "out_features": 1000},
]


def _vgg16():
    layers = []
    for convs, channels in [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]:
        for _ in range(convs):
            layers += [{"type": "conv", "out_channels": channels, "kernel_size": 3, "padding": 1}, {"type": "relu"}]
        layers.append({"type": "maxpool", "kernel_size": 2, "stride": 2})
    layers.append({"type": "flatten"})
    for features in [4096, 4096]:
        layers += [{"type": "fc", "out_features": features}, {"type": "relu"}]
    layers.append({"type": "fc", "out_features": 1000})
    return layers


def test_alexnet_summary_matches_torch():
    summary = network_summary((3, 227, 227), ALEXNET)
    assert summary[0] == ((96, 55, 55), 34944)
    assert summary[12][0] == (256, 6, 6)
    assert summary == _torch_summary((3, 227, 227), ALEXNET)


def test_vgg16_summary_matches_torch():
    summary = network_summary((3, 224, 224), _vgg16())
    assert summary == _torch_summary((3, 224, 224), _vgg16())
    assert sum(params for _, params in summary) == 138_357_544
    assert summary[-1] == ((1000,), 4_097_000)


def test_summary_of_a_non_square_network_with_every_option_matches_torch():
    specs = [
        {"type": "conv", "out_channels": 8, "kernel_size": (3, 5), "stride": (1, 2), "padding": (1, 2), "bias": False},
        {"type": "avgpool", "kernel_size": 2, "stride": 2},
        {"type": "conv", "out_channels": 4, "kernel_size": 1},
        {"type": "maxpool", "kernel_size": (3, 1), "stride": (1, 1)},
        {"type": "maxpool", "kernel_size": 2},  # stride defaults to the kernel size, as in torch
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "fc", "out_features": 10, "bias": False},
        {"type": "flatten"},  # flattening a flat vector changes nothing
        {"type": "fc", "out_features": 3},
    ]
    assert network_summary((3, 32, 39), specs) == _torch_summary((3, 32, 39), specs)


def test_summary_of_no_layers_is_empty():
    assert network_summary((3, 8, 8), []) == []


@pytest.mark.parametrize(
    "input_shape, specs, message",
    [
        ((3, 32, 32), [{"type": "relu"}, {"type": "maxpool", "kernel_size": 3, "stride": 2}], r"layer 1 \(maxpool\)"),
        ((3, 32, 32), [{"type": "conv", "out_channels": 8, "kernel_size": 5, "stride": 2}], r"layer 0 \(conv\)"),
        ((3, 8, 8), [{"type": "conv", "out_channels": 8, "kernel_size": 9}], r"layer 0 \(conv\)"),
        ((3, 8, 8), [{"type": "avgpool", "kernel_size": 3, "stride": 2}], r"layer 0 \(avgpool\)"),
        ((3, 8, 8), [{"type": "relu"}, {"type": "fc", "out_features": 10}], r"layer 1 \(fc\).*flatten"),
        ((3, 8, 8), [{"type": "flatten"}, {"type": "conv", "out_channels": 2, "kernel_size": 1}], r"layer 1 \(conv\)"),
        ((3, 8, 8), [{"type": "flatten"}, {"type": "maxpool", "kernel_size": 1}], r"layer 1 \(maxpool\)"),
        ((3, 8, 8), [{"type": "dropout"}], r"layer 0 \(dropout\).*unknown"),
        ((3, 8, 8), [{"type": "conv", "kernel_size": 3}], r"layer 0 \(conv\).*out_channels"),
        ((3, 8, 8), [{"type": "conv", "out_channels": 2}], r"layer 0 \(conv\).*kernel_size"),
        ((3, 8, 8), [{"type": "conv", "out_channels": 0, "kernel_size": 3}], r"layer 0 \(conv\)"),
        ((3, 8, 8), [{"type": "conv", "out_channels": 2, "kernel_size": 3, "bias": 1}], r"layer 0 \(conv\)"),
        ((3, 8, 8), [{"type": "flatten"}, {"type": "fc"}], r"layer 1 \(fc\).*out_features"),
        ((3, 8, 8), [{"type": "flatten"}, {"type": "fc", "out_features": 2.5}], r"layer 1 \(fc\)"),
        ((3, 8, 8), [{"kernel_size": 3}], r"layer 0"),
        ((3, 8, 8), ["relu"], r"layer 0"),
        ((3, 8), [], r"input_shape"),
        ((3, 8, 0), [], r"input_shape"),
        ((3, 8, 8.0), [], r"input_shape"),
    ],
)
def test_network_summary_rejects_and_names_the_layer(input_shape, specs, message):
    with pytest.raises(ValueError, match=message):
        network_summary(input_shape, specs)


@PROOF_SETTINGS
@given(st.data())
def test_random_networks_match_torch(data):
    """Random stacks of fitting layers: every shape and count agrees with torch."""
    channels, height, width = data.draw(st.tuples(st.integers(1, 4), st.integers(4, 40), st.integers(4, 40)))
    specs, shape = [], (channels, height, width)
    for _ in range(data.draw(st.integers(1, 5))):
        kind = data.draw(st.sampled_from(["conv", "maxpool", "avgpool", "relu"]))
        kernel = data.draw(st.integers(1, 5))
        stride = data.draw(st.integers(1, 3))
        padding = data.draw(st.integers(0, (kernel - 1) // 2)) if kind == "conv" else 0
        spec = {"type": kind}
        if kind != "relu":
            spec.update(kernel_size=kernel, stride=stride)
        if kind == "conv":
            spec.update(out_channels=data.draw(st.integers(1, 8)), padding=padding)
        try:
            summary = network_summary(shape, [spec])
        except ValueError:
            continue  # the generator keeps only layers that fit, so torch never floors
        specs.append(spec)
        shape = summary[0][0]
    specs += [{"type": "flatten"}, {"type": "fc", "out_features": data.draw(st.integers(1, 10))}]
    assume(len(specs) > 2)
    input_shape = (channels, height, width)
    assert network_summary(input_shape, specs) == _torch_summary(input_shape, specs)
