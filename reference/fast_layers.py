"""Vectorised convolution and max pooling in numpy (reference solution).

Same signatures, results, errors and conventions as the naive layers in layers.py;
only the speed differs. No Python loop runs over the batch or over output
positions: the convolution is an im2col (a strided view of every receptive field,
copied once into a matrix) followed by matrix products, and the only loops run
over the HH * WW kernel offsets.

Standalone on purpose: this file is graded as if it were a student submission, so
it imports only numpy and repeats the small validation helpers of layers.py.
"""

import numbers
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


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


def _im2col(x_pad: np.ndarray, HH: int, WW: int, stride: int) -> np.ndarray:
    """Receptive fields of x_pad (N, C, Hp, Wp) as the columns of a (C*HH*WW, N*H'*W') matrix.

    Row c*HH*WW + i*WW + j holds x_pad[n, c, i + S*h, j + S*w] for every output
    position (n, h, w), so w.reshape(F, -1) @ cols is the whole convolution as
    a single large matrix product, which BLAS runs far faster than N small ones.
    """
    C = x_pad.shape[1]
    fields = sliding_window_view(x_pad, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    return fields.transpose(1, 4, 5, 0, 2, 3).reshape(C * HH * WW, -1)


def conv_forward_fast(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict) -> tuple[np.ndarray, tuple]:
    """Forward pass of a convolutional layer, vectorised with im2col.

    Inputs:
    - x: input data of shape (N, C, H, W)
    - w: filter weights of shape (F, C, HH, WW)
    - b: biases of shape (F,)
    - conv_param: dict with 'stride' S (positive int) and 'pad' P (non-negative int)

    Returns a tuple of:
    - out: output of shape (N, F, H', W'), dtype of x, where
      H' = 1 + (H + 2 * P - HH) / S and W' = 1 + (W + 2 * P - WW) / S
    - cache: opaque, for conv_backward_fast

    Raises ValueError exactly as conv_forward_naive.
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

    dtype = np.result_type(x, w, b)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    cols = _im2col(x_pad.astype(dtype, copy=False), HH, WW, stride)
    out = w.reshape(F, -1).astype(dtype, copy=False) @ cols  # (F, N*H'*W')
    out += b.astype(dtype, copy=False)[:, None]
    out = out.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(out, dtype=x.dtype), (x, w, b, stride, pad, cols)


def conv_backward_fast(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a convolutional layer, vectorised with col2im.

    Inputs:
    - dout: upstream derivatives of shape (N, F, H', W'), the forward output's shape
    - cache: the cache returned by conv_forward_fast

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, C, H, W), dtype of x
    - dw: gradient with respect to w, shape (F, C, HH, WW), dtype of w
    - db: gradient with respect to b, shape (F,), dtype of b

    Raises ValueError when dout is not a float array of the forward output's shape.
    """
    x, w, b, stride, pad, cols = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    dout = _check_dout(dout, (N, F, H_out, W_out))
    dtype = np.result_type(cols, dout)
    # Same (F, N*H'*W') layout as the forward product.
    d = dout.transpose(1, 0, 2, 3).reshape(F, -1).astype(dtype, copy=False)

    db = d.sum(axis=1)
    dw = (d @ cols.T).reshape(w.shape)
    dcols = (w.reshape(F, -1).T.astype(dtype, copy=False) @ d).reshape(C, HH, WW, N, H_out, W_out)

    # col2im: kernel offset (i, j) read one strided slice of the padded input, so
    # its gradient block goes back onto that slice; overlapping slices add up.
    dx_pad = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=dtype)
    for i in range(HH):
        for j in range(WW):
            dx_pad[:, :, i : i + stride * H_out : stride, j : j + stride * W_out : stride] += dcols[:, i, j]
    dx = dx_pad[:, :, pad : pad + H, pad : pad + W].transpose(1, 0, 2, 3)
    return (
        np.ascontiguousarray(dx, dtype=x.dtype),
        dw.astype(w.dtype, copy=False),
        db.astype(b.dtype, copy=False),
    )


def _pool_geometry(x: np.ndarray, pool_param: dict) -> tuple[int, int, int, int, int]:
    PH = _param(pool_param, "pool_param", "pool_height", 1)
    PW = _param(pool_param, "pool_param", "pool_width", 1)
    stride = _param(pool_param, "pool_param", "stride", 1)
    H_out = _output_size(x.shape[2], PH, stride, "input height")
    W_out = _output_size(x.shape[3], PW, stride, "input width")
    return PH, PW, stride, H_out, W_out


def _window_offset(x: np.ndarray, i: int, j: int, stride: int, H_out: int, W_out: int) -> np.ndarray:
    """Element (i, j) of every pooling window, as a strided (N, C, H', W') view of x."""
    return x[:, :, i : i + stride * H_out : stride, j : j + stride * W_out : stride]


def max_pool_forward_fast(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, tuple]:
    """Forward pass of a max-pooling layer, vectorised over the batch and positions.

    Inputs:
    - x: input data of shape (N, C, H, W)
    - pool_param: dict with positive ints 'pool_height' PH, 'pool_width' PW, 'stride' S

    Returns a tuple of:
    - out: output of shape (N, C, H', W'), dtype of x, where
      H' = 1 + (H - PH) / S and W' = 1 + (W - PW) / S
    - cache: (x, pool_param)

    Raises ValueError exactly as max_pool_forward_naive.
    """
    x = _as_float_array("x", x, 4)
    PH, PW, stride, H_out, W_out = _pool_geometry(x, pool_param)
    # A running maximum over the PH * PW window offsets touches each input element
    # once per window it belongs to, with no (N, C, H', W', PH*PW) temporary.
    out = _window_offset(x, 0, 0, stride, H_out, W_out).copy()
    for i in range(PH):
        for j in range(PW):
            if i or j:
                np.maximum(out, _window_offset(x, i, j, stride, H_out, W_out), out=out)
    return out, (x, pool_param)


def max_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of a max-pooling layer, vectorised over the batch and positions.

    Inputs:
    - dout: upstream derivatives of shape (N, C, H', W'), the forward output's shape
    - cache: the cache returned by max_pool_forward_fast

    Returns:
    - dx: gradient with respect to x, shape (N, C, H, W), dtype of x

    Ties follow the naive rule: each window's whole gradient goes to its first
    maximal element in row-major order (np.argmax's choice), and overlapping
    windows add their contributions.
    """
    x, pool_param = cache
    out, _ = max_pool_forward_fast(x, pool_param)
    PH, PW, stride, H_out, W_out = _pool_geometry(x, pool_param)
    dout = _check_dout(dout, out.shape)
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    # Visiting offsets in row-major order and marking windows already served gives
    # the first maximum of each window, as argmax would. A NaN maximum is matched
    # by the window's first NaN, which is again argmax's choice.
    served = np.zeros(out.shape, dtype=bool)
    out_is_nan = np.isnan(out)
    for i in range(PH):
        for j in range(PW):
            candidate = _window_offset(x, i, j, stride, H_out, W_out)
            winner = (candidate == out) | (out_is_nan & np.isnan(candidate))
            winner &= ~served
            served |= winner
            dx_offset = _window_offset(dx, i, j, stride, H_out, W_out)
            dx_offset += np.where(winner, dout, 0)
    return dx.astype(x.dtype, copy=False)
