"""Naive forward and backward passes of CNN layers in numpy (reference solution).

Conventions (CS231n): images are x of shape (N, C, H, W), filters are w of shape
(F, C, HH, WW), biases are b of shape (F,). Every function validates its inputs,
never writes to them, returns freshly allocated arrays, and returns arrays of
x's dtype (the gradients of w and b take the dtype of w and b).

"Naive" means written for clarity, not speed: the loops run over output positions
and vectorise only over the batch and the channels. Standalone on purpose: this
file is graded as if it were a student submission, so it imports only numpy.
"""

import numbers
from typing import Any

import numpy as np


def _as_float_array(name: str, value: Any, ndim: int) -> np.ndarray:
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be a float32 or float64 array, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    return array


def _param(params: Any, dict_name: str, key: str, minimum: int) -> int:
    if not isinstance(params, dict) or key not in params:
        raise ValueError(f"{dict_name} must be a dict with key {key!r}, got {params!r}")
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        bound = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{dict_name}[{key!r}] must be {bound}, got {value!r}")
    return int(value)


def _output_size(size: int, kernel: int, stride: int, what: str) -> int:
    """Output length along one axis; what names the axis, e.g. "padded input width"."""
    if kernel > size or (size - kernel) % stride:
        raise ValueError(
            f"window of {kernel} with stride {stride} does not fit the {what} {size}: "
            f"({size} - {kernel}) / {stride} + 1 = {(size - kernel) / stride + 1:.2f} "
            "is not a positive integer"
        )
    return (size - kernel) // stride + 1


def _check_dout(dout: Any, shape: tuple[int, ...]) -> np.ndarray:
    dout = _as_float_array("dout", dout, len(shape))
    if dout.shape != shape:
        raise ValueError(f"dout must have the forward output's shape {shape}, got {dout.shape}")
    return dout


def conv_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict) -> tuple[np.ndarray, tuple]:
    """Forward pass of a convolutional layer (cross-correlation, as in every CNN library).

    Inputs:
    - x: input data of shape (N, C, H, W)
    - w: filter weights of shape (F, C, HH, WW)
    - b: biases of shape (F,)
    - conv_param: dict with
      - 'stride': S, positive int, the step between receptive fields on both axes
      - 'pad': P, non-negative int, zeros added on every side of H and W

    Returns a tuple of:
    - out: output of shape (N, F, H', W'), dtype of x, where
      H' = 1 + (H + 2 * P - HH) / S and W' = 1 + (W + 2 * P - WW) / S
    - cache: (x, w, b, conv_param)

    Raises ValueError for non-float arrays, wrong numbers of dimensions, mismatched
    C or F, bad conv_param, or a filter that does not fit (H' or W' not a positive
    integer).
    """
    x = _as_float_array("x", x, 4)
    w = _as_float_array("w", w, 4)
    b = _as_float_array("b", b, 1)
    N, C, H, W = x.shape
    F, C_w, HH, WW = w.shape
    if C_w != C:
        raise ValueError(f"w has {C_w} input channels but x has {C}: w must be (F, C, HH, WW)")
    if b.shape != (F,):
        raise ValueError(f"b must have shape ({F},) to match the {F} filters, got {b.shape}")
    stride = _param(conv_param, "conv_param", "stride", 1)
    pad = _param(conv_param, "conv_param", "pad", 0)
    H_out = _output_size(H + 2 * pad, HH, stride, "padded input height")
    W_out = _output_size(W + 2 * pad, WW, stride, "padded input width")

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((N, F, H_out, W_out), dtype=np.result_type(x, w, b))
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out.astype(x.dtype, copy=False), (x, w, b, conv_param)


def conv_backward_naive(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a convolutional layer.

    Inputs:
    - dout: upstream derivatives of shape (N, F, H', W'), the forward output's shape
    - cache: the cache returned by conv_forward_naive

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, C, H, W), dtype of x
    - dw: gradient with respect to w, shape (F, C, HH, WW), dtype of w
    - db: gradient with respect to b, shape (F,), dtype of b

    Raises ValueError when dout is not a float array of the forward output's shape.
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    dout = _check_dout(dout, (N, F, H_out, W_out))

    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dtype = np.result_type(x, w, dout)
    dx_pad = np.zeros(x_pad.shape, dtype=dtype)
    dw = np.zeros(w.shape, dtype=dtype)
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            d = dout[:, :, i, j]  # (N, F)
            dx_pad[:, :, rows, cols] += np.tensordot(d, w, axes=(1, 0))
            dw += np.tensordot(d, x_pad[:, :, rows, cols], axes=(0, 0))
    dx = dx_pad[:, :, pad : pad + H, pad : pad + W]
    db = dout.sum(axis=(0, 2, 3))
    # Copy dx out of the padded buffer so that it is contiguous and owns its memory.
    return dx.astype(x.dtype, copy=True), dw.astype(w.dtype, copy=False), db.astype(b.dtype, copy=False)


def _pool_geometry(x: np.ndarray, pool_param: dict) -> tuple[int, int, int, int, int]:
    PH = _param(pool_param, "pool_param", "pool_height", 1)
    PW = _param(pool_param, "pool_param", "pool_width", 1)
    stride = _param(pool_param, "pool_param", "stride", 1)
    H_out = _output_size(x.shape[2], PH, stride, "input height")
    W_out = _output_size(x.shape[3], PW, stride, "input width")
    return PH, PW, stride, H_out, W_out


def max_pool_forward_naive(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, tuple]:
    """Forward pass of a max-pooling layer.

    Inputs:
    - x: input data of shape (N, C, H, W)
    - pool_param: dict with positive ints 'pool_height' PH, 'pool_width' PW, 'stride' S

    Returns a tuple of:
    - out: output of shape (N, C, H', W'), dtype of x, where
      H' = 1 + (H - PH) / S and W' = 1 + (W - PW) / S
    - cache: (x, pool_param)

    Raises ValueError for a non-float x that is not 4-D, a bad pool_param, or a
    window that does not fit (H' or W' not a positive integer).
    """
    x = _as_float_array("x", x, 4)
    PH, PW, stride, H_out, W_out = _pool_geometry(x, pool_param)
    N, C = x.shape[:2]
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + PH, j * stride : j * stride + PW]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of a max-pooling layer.

    Inputs:
    - dout: upstream derivatives of shape (N, C, H', W'), the forward output's shape
    - cache: the cache returned by max_pool_forward_naive

    Returns:
    - dx: gradient with respect to x, shape (N, C, H, W), dtype of x

    Each window passes its whole gradient to ONE maximal element: when several
    elements tie for the maximum, the first in row-major order within the window
    (the one np.argmax picks) receives it, so the total gradient is conserved.
    Overlapping windows (stride < pool size) add their contributions.
    """
    x, pool_param = cache
    PH, PW, stride, H_out, W_out = _pool_geometry(x, pool_param)
    N, C = x.shape[:2]
    dout = _check_dout(dout, (N, C, H_out, W_out))
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + PH)
            cols = slice(j * stride, j * stride + PW)
            window = x[:, :, rows, cols].reshape(N, C, PH * PW)
            winner = window.argmax(axis=2)[:, :, None]
            routed = np.zeros(window.shape, dtype=dx.dtype)
            np.put_along_axis(routed, winner, dout[:, :, i, j][:, :, None], axis=2)
            dx[:, :, rows, cols] += routed.reshape(N, C, PH, PW)
    return dx.astype(x.dtype, copy=False)


def avg_pool_forward_naive(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, tuple]:
    """Forward pass of an average-pooling layer.

    Inputs and errors as max_pool_forward_naive.

    Returns a tuple of:
    - out: mean of each PH x PW window, shape (N, C, H', W'), dtype of x
    - cache: (x, pool_param)
    """
    x = _as_float_array("x", x, 4)
    PH, PW, stride, H_out, W_out = _pool_geometry(x, pool_param)
    N, C = x.shape[:2]
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + PH, j * stride : j * stride + PW]
            out[:, :, i, j] = window.mean(axis=(2, 3))
    return out, (x, pool_param)


def avg_pool_backward_naive(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of an average-pooling layer.

    Inputs:
    - dout: upstream derivatives of shape (N, C, H', W'), the forward output's shape
    - cache: the cache returned by avg_pool_forward_naive

    Returns:
    - dx: gradient with respect to x, shape (N, C, H, W), dtype of x: every element
      of a window receives 1 / (PH * PW) of the window's gradient, and overlapping
      windows add their contributions.
    """
    x, pool_param = cache
    PH, PW, stride, H_out, W_out = _pool_geometry(x, pool_param)
    N, C = x.shape[:2]
    dout = _check_dout(dout, (N, C, H_out, W_out))
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    share = dout / (PH * PW)
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + PH)
            cols = slice(j * stride, j * stride + PW)
            dx[:, :, rows, cols] += share[:, :, i, j][:, :, None, None]
    return dx.astype(x.dtype, copy=False)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass of a rectified linear unit, max(0, x) elementwise.

    Inputs:
    - x: float array of any shape

    Returns a tuple of:
    - out: array of x's shape and dtype
    - cache: x
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be a float32 or float64 array, got dtype {x.dtype}")
    # out= keeps x's dtype and gives an array even for a 0-d x, where a bare ufunc
    # call would return a numpy scalar.
    return np.maximum(x, 0, out=np.empty_like(x)), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of a rectified linear unit.

    Inputs:
    - dout: upstream derivatives, same shape as x
    - cache: x, as returned by relu_forward

    Returns:
    - dx: dout where x > 0 and 0 elsewhere (the derivative at exactly 0 is taken
      as 0, like torch), shape and dtype of x
    """
    x = cache
    dout = _check_dout(dout, x.shape)
    return np.where(x > 0, dout, 0).astype(x.dtype, copy=False)
