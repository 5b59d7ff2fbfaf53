"""Part 1: output sizes and parameter counts of convolutional networks.

Before writing a single convolution, make sure you can predict the shape of
every volume in a network and how many parameters each layer learns.

Conventions (CS231n notes, "Convolutional Neural Networks"):
- An input volume has size W1 x H1 x D1; in code we write its shape (C, H, W),
  channels first, as PyTorch does.
- A conv layer has K filters of spatial extent F, stride S and zero padding P
  (P zeros on EVERY side). Along each spatial axis it produces
      W2 = (W1 - F + 2P) / S + 1
- A pooling layer (no padding) produces
      W2 = (W1 - F) / S + 1
- The filter "does not fit" when that division is not exact (for example
  W1 = 7, F = 3, S = 3 gives 2.33) or when F is larger than the padded input.
  Some libraries silently round down; here you must raise ValueError instead.

Rules for every function in this file:
- Sizes, kernel sizes and strides are positive Python (or numpy) integers;
  padding is a non-negative integer. Floats (even 3.0), strings, None and bools
  (True is an int in Python, but never a valid size) raise ValueError.
- Where an argument may be an (h, w) pair, a tuple or list of exactly two such
  integers is accepted; anything else raises ValueError.
- Every error is a ValueError whose message says what is wrong.

Only the standard library is needed. Do not import from other files of the
handout: this file is graded on its own.
"""

Size = int | tuple[int, int]


def conv_output_size(input_size: Size, kernel_size: Size, stride: Size = 1, padding: Size = 0) -> Size:
    """Spatial output size of a convolution: (W - F + 2P) / S + 1.

    Inputs:
    - input_size: W, a positive int, or an (h, w) pair of positive ints.
    - kernel_size: F, a positive int or an (h, w) pair.
    - stride: S, a positive int or an (h, w) pair.
    - padding: P, a non-negative int or an (h, w) pair; P zeros are added on
      both sides of the axis, so the padded size is W + 2P.

    Returns:
    - An int when all four arguments are ints. When ANY argument is a pair,
      every int argument applies to both axes and the result is a tuple
      (h_out, w_out) of ints. Examples:
        conv_output_size(227, 11, 4) == 55
        conv_output_size(32, 3, 1, 1) == 32
        conv_output_size((32, 16), 3, padding=1) == (32, 16)

    Raises ValueError:
    - when an argument is not an integer (floats, bools, strings, None) or not
      a pair of them, or is out of range (size, kernel, stride < 1; padding < 0);
    - when F > W + 2P on some axis;
    - when (W - F + 2P) is not divisible by S on some axis, e.g.
      conv_output_size(7, 3, 3), which would be 2.33.
    """
    raise NotImplementedError("conv_output_size: compute (W - F + 2P) / S + 1 per axis, validating every argument")


def pool_output_size(input_size: Size, kernel_size: Size, stride: Size) -> Size:
    """Spatial output size of a max- or average-pooling layer: (W - F) / S + 1.

    Inputs:
    - input_size: W, a positive int or an (h, w) pair.
    - kernel_size: F, the pooling window, a positive int or an (h, w) pair.
    - stride: S, a positive int or an (h, w) pair (required: no default here).

    Returns an int, or an (h, w) tuple of ints when any argument is a pair.
    Example: pool_output_size(55, 3, 2) == 27.

    Raises ValueError exactly as conv_output_size does with P = 0: bad
    arguments, F > W, or (W - F) not divisible by S (pool_output_size(32, 3, 2)).
    """
    raise NotImplementedError("pool_output_size: compute (W - F) / S + 1 per axis, validating every argument")


def same_padding(kernel_size: int) -> int:
    """Zero padding P that keeps the spatial size of a stride-1 convolution.

    Inputs:
    - kernel_size: F, a positive odd int (pairs are not accepted here).

    Returns P = (F - 1) / 2 as an int: same_padding(3) == 1, same_padding(1) == 0.

    Raises ValueError when F is even (no symmetric padding keeps the size), not
    positive, or not an integer (bools and pairs included).
    """
    raise NotImplementedError("same_padding: return (F - 1) // 2 for odd F, ValueError otherwise")


def conv_param_count(in_channels: int, out_channels: int, kernel_size: Size, bias: bool = True) -> int:
    """Number of learnable parameters of a conv layer.

    Each of the K filters has F x F x D1 weights and (if bias) one bias, so the
    layer has F * F * D1 * K + K parameters (F_h * F_w * D1 * K + K for a pair).

    Inputs:
    - in_channels: D1, positive int.
    - out_channels: K, positive int.
    - kernel_size: F, positive int or (h, w) pair.
    - bias: True or False (nothing else).

    Returns an int; conv_param_count(3, 96, 11) == 34944 (AlexNet's conv1).

    Raises ValueError for a non-positive or non-integer size, or a non-bool bias.
    """
    raise NotImplementedError("conv_param_count: F * F * D1 * K weights, plus K biases if bias")


def linear_param_count(in_features: int, out_features: int, bias: bool = True) -> int:
    """Number of learnable parameters of a fully connected (linear) layer.

    Inputs:
    - in_features: positive int.
    - out_features: positive int.
    - bias: True or False (nothing else).

    Returns in_features * out_features (+ out_features if bias) as an int.

    Raises ValueError for a non-positive or non-integer size, or a non-bool bias.
    """
    raise NotImplementedError("linear_param_count: in * out weights, plus out biases if bias")


def network_summary(input_shape: tuple[int, int, int], layers: list[dict]) -> list[tuple[tuple[int, ...], int]]:
    """Output shape and parameter count of every layer of a feed-forward network.

    Inputs:
    - input_shape: (C, H, W) of ONE image (no batch dimension), positive ints.
    - layers: a list of dicts, applied in order; each has a "type" key:
      - {"type": "conv", "out_channels": K, "kernel_size": F,
         "stride": S (default 1), "padding": P (default 0), "bias": bool (default True)}
        The input channels D1 are the channels of the incoming volume.
      - {"type": "relu"}: shape unchanged, no parameters.
      - {"type": "maxpool"} or {"type": "avgpool"} with "kernel_size": F and
        "stride": S; S defaults to F (like torch.nn.MaxPool2d). No parameters.
      - {"type": "flatten"}: (C, H, W) -> (C * H * W,); a flat (n,) stays (n,).
      - {"type": "fc", "out_features": M, "bias": bool (default True)}:
        needs a flat (n,) input and gives (M,).
      kernel_size, stride and padding may be (h, w) pairs as in conv_output_size.
      Keys other than these are ignored.

    Returns:
    - A list with one (shape, param_count) tuple per layer, in order: shape is a
      tuple of ints, (C, H, W) while the volume is an image and (features,)
      after flatten or fc; param_count is an int. An empty layer list gives [].
      Example: network_summary((3, 227, 227), [{"type": "conv", "out_channels": 96,
      "kernel_size": 11, "stride": 4}]) == [((96, 55, 55), 34944)].

    Raises ValueError:
    - when input_shape is not three positive ints;
    - naming the layer by its index and type, e.g. "layer 3 (maxpool): ...",
      when a layer has an unknown type, lacks a required key, has an invalid
      value, does not fit its input volume, is a conv or pool layer on a flat
      input, or is an fc layer on an unflattened (C, H, W) volume;
    - naming the layer by its index ("layer 3: ...") when it is not a dict with
      a "type" key.

    Hint: reuse conv_output_size, pool_output_size and the param counts above.
    """
    raise NotImplementedError("network_summary: walk the layers, tracking the shape and counting parameters")
