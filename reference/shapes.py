"""Output sizes and parameter counts of convolutional networks (reference solution).

Standalone on purpose: this file is copied next to the other reference files and
graded as if it were a student submission, so it imports only the standard library.

Conventions (CS231n): an input volume is W x W x D1 (here (C, H, W)), a conv layer
has K filters of spatial extent F, stride S and zero padding P, and produces
W2 = (W - F + 2P) / S + 1 along each spatial axis; a pooling layer produces
W2 = (W - F) / S + 1. Sizes may be given per axis as (h, w) pairs.
"""

import numbers
from typing import Any

Size = int | tuple[int, int]


def _check_int(name: str, value: Any, minimum: int) -> int:
    # bool is an int subclass, but True as a kernel size is always a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return int(value)


def _as_pair(name: str, value: Any, minimum: int) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an integer or an (h, w) pair, got {value!r}")
        return (_check_int(f"{name}[0]", value[0], minimum), _check_int(f"{name}[1]", value[1], minimum))
    checked = _check_int(name, value, minimum)
    return (checked, checked)


def _any_pair(*values: Any) -> bool:
    return any(isinstance(v, (tuple, list)) for v in values)


def _output_size_1d(size: int, kernel: int, stride: int, padding: int, axis: str) -> int:
    padded = size + 2 * padding
    if kernel > padded:
        raise ValueError(
            f"{axis}kernel size {kernel} is larger than the input size {size}"
            + (f" padded by {padding} on each side" if padding else "")
        )
    span = padded - kernel
    if span % stride:
        formula = f"({size} - {kernel}" + (f" + 2*{padding}" if padding else "") + f") / {stride} + 1"
        raise ValueError(
            f"{axis}the filter does not fit: {formula} = {span / stride + 1:.2f} is not an integer"
        )
    return span // stride + 1


def _output_size(input_size: Any, kernel_size: Any, stride: Any, padding: Any) -> Size:
    sizes = _as_pair("input_size", input_size, 1)
    kernels = _as_pair("kernel_size", kernel_size, 1)
    strides = _as_pair("stride", stride, 1)
    paddings = _as_pair("padding", padding, 0)
    if not _any_pair(input_size, kernel_size, stride, padding):
        return _output_size_1d(sizes[0], kernels[0], strides[0], paddings[0], "")
    return tuple(
        _output_size_1d(sizes[i], kernels[i], strides[i], paddings[i], f"{axis}: ")
        for i, axis in enumerate(("height", "width"))
    )


def conv_output_size(input_size: Size, kernel_size: Size, stride: Size = 1, padding: Size = 0) -> Size:
    """Spatial output size of a convolution: (W - F + 2P) / S + 1.

    Inputs:
    - input_size: W, a positive int, or an (h, w) pair of positive ints.
    - kernel_size: F, a positive int or (h, w) pair.
    - stride: S, a positive int or (h, w) pair.
    - padding: P, a non-negative int or (h, w) pair (zeros added on each side).

    Returns an int, or an (h, w) tuple of ints when any argument is a pair.

    Raises ValueError when an argument is not an integer (bools included), is out of
    range, when F is larger than W + 2P, or when (W - F + 2P) is not divisible by S.
    """
    return _output_size(input_size, kernel_size, stride, padding)


def pool_output_size(input_size: Size, kernel_size: Size, stride: Size) -> Size:
    """Spatial output size of a pooling layer: (W - F) / S + 1.

    Same arguments, return type and errors as conv_output_size, without padding.
    """
    return _output_size(input_size, kernel_size, stride, 0)


def same_padding(kernel_size: int) -> int:
    """Zero padding P = (F - 1) / 2 that keeps the spatial size of a stride-1 conv.

    Raises ValueError for an even, non-positive or non-integer F: no symmetric
    padding preserves the size then.
    """
    kernel = _check_int("kernel_size", kernel_size, 1)
    if kernel % 2 == 0:
        raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel}")
    return (kernel - 1) // 2


def _check_bias(bias: Any) -> bool:
    if not isinstance(bias, bool):
        raise ValueError(f"bias must be True or False, got {bias!r}")
    return bias


def conv_param_count(in_channels: int, out_channels: int, kernel_size: Size, bias: bool = True) -> int:
    """Learnable parameters of a conv layer: F * F * D1 * K weights plus K biases.

    Inputs:
    - in_channels: D1, positive int.
    - out_channels: K, positive int.
    - kernel_size: F, positive int or (h, w) pair.
    - bias: whether each filter has a bias.

    Raises ValueError for non-positive or non-integer arguments, or a non-bool bias.
    """
    d1 = _check_int("in_channels", in_channels, 1)
    k = _check_int("out_channels", out_channels, 1)
    kh, kw = _as_pair("kernel_size", kernel_size, 1)
    return kh * kw * d1 * k + (k if _check_bias(bias) else 0)


def linear_param_count(in_features: int, out_features: int, bias: bool = True) -> int:
    """Learnable parameters of a fully connected layer: in * out weights plus out biases.

    Raises ValueError for non-positive or non-integer sizes, or a non-bool bias.
    """
    n_in = _check_int("in_features", in_features, 1)
    n_out = _check_int("out_features", out_features, 1)
    return n_in * n_out + (n_out if _check_bias(bias) else 0)


def _require(layer: dict, key: str, where: str) -> Any:
    if key not in layer:
        raise ValueError(f"{where}: missing required key {key!r}")
    return layer[key]


def _summarize_layer(shape: tuple[int, ...], layer: dict, where: str) -> tuple[tuple[int, ...], int]:
    kind = layer["type"]
    if kind == "relu":
        return shape, 0
    if kind == "flatten":
        total = 1
        for dim in shape:
            total *= dim
        return (total,), 0
    if kind == "fc":
        if len(shape) != 1:
            raise ValueError(f"{where}: fc needs a flat input, got shape {shape}; add a flatten layer first")
        out_features = _require(layer, "out_features", where)
        params = linear_param_count(shape[0], out_features, layer.get("bias", True))
        return (int(out_features),), params
    if kind in ("conv", "maxpool", "avgpool"):
        if len(shape) != 3:
            raise ValueError(f"{where}: {kind} needs a (C, H, W) input, got shape {shape}")
        channels, height, width = shape
        kernel_size = _require(layer, "kernel_size", where)
        if kind == "conv":
            out_channels = _require(layer, "out_channels", where)
            stride, padding = layer.get("stride", 1), layer.get("padding", 0)
            out_h, out_w = conv_output_size((height, width), kernel_size, stride, padding)
            params = conv_param_count(channels, out_channels, kernel_size, layer.get("bias", True))
            return (int(out_channels), out_h, out_w), params
        # Like torch.nn.MaxPool2d, a pool without a stride steps by its own size.
        stride = layer.get("stride", kernel_size)
        out_h, out_w = pool_output_size((height, width), kernel_size, stride)
        return (channels, out_h, out_w), 0
    raise ValueError(f"{where}: unknown layer type {kind!r}")


def network_summary(input_shape: tuple[int, int, int], layers: list[dict]) -> list[tuple[tuple[int, ...], int]]:
    """Output shape and parameter count of every layer of a feed-forward network.

    Inputs:
    - input_shape: (C, H, W) of one input image, positive ints.
    - layers: list of dicts, each with a "type" key:
      - {"type": "conv", "out_channels": K, "kernel_size": F, "stride": S (default 1),
         "padding": P (default 0), "bias": bool (default True)}
      - {"type": "relu"}
      - {"type": "maxpool" or "avgpool", "kernel_size": F, "stride": S (default F)}
      - {"type": "flatten"}
      - {"type": "fc", "out_features": M, "bias": bool (default True)}
      Sizes may be (h, w) pairs as in conv_output_size. Other keys are ignored.

    Returns a list with one (shape, param_count) per layer: shape is (C, H, W)
    for conv, relu and pool layers on images, (features,) after flatten or fc.

    Raises ValueError naming the layer ("layer 3 (maxpool): ...") when it does not
    fit its input, has an unknown type or a missing key, or is an fc layer on an
    unflattened (C, H, W) input.
    """
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be a (C, H, W) tuple, got {input_shape!r}")
    shape = tuple(_check_int(f"input_shape[{i}]", dim, 1) for i, dim in enumerate(input_shape))
    summary = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or "type" not in layer:
            raise ValueError(f"layer {index}: must be a dict with a 'type' key, got {layer!r}")
        where = f"layer {index} ({layer['type']})"
        try:
            shape, params = _summarize_layer(shape, layer, where)
        except ValueError as error:
            message = str(error)
            raise ValueError(message if message.startswith(where) else f"{where}: {message}") from None
        summary.append((shape, params))
    return summary
