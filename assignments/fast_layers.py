"""Part 3: fast, vectorised convolution and max pooling, in numpy.

Same signatures, results, tie rule, errors and rules as the naive layers of
layers.py (read its module docstring: never modify inputs, return fresh
arrays, keep float32 as float32, raise ValueError on bad input). Only the speed
differs, and it is measured against torch.nn.functional.conv2d.

Vectorisation rule: no Python loop may run over the batch N or over the
output positions H' or W'. A loop over the HH * WW (or PH * PW) offsets inside
a window is allowed, since those are small constants.

The standard recipe for convolution is im2col:
1. Gather every receptive field of the padded input into the columns of one
   matrix. numpy.lib.stride_tricks.sliding_window_view(x_pad, (HH, WW),
   axis=(2, 3))[:, :, ::S, ::S] gives all windows as a view with no copying,
   of shape (N, C, H', W', HH, WW); a transpose and reshape then copy them
   once into a (C * HH * WW, N * H' * W') matrix (or its transpose).
2. The convolution is then a single matrix product with
   w.reshape(F, C * HH * WW), plus the bias; reshape and transpose the result
   to (N, F, H', W'). (np.matmul / @, np.tensordot and np.einsum all work;
   one large product is much faster than many small ones.)
3. Backward: dw and dx's columns are matrix products too. "col2im" adds the
   columns back onto the padded input: for each kernel offset (i, j), one
   strided slice dx_pad[:, :, i:i + S*H':S, j:j + S*W':S] receives its block
   (overlapping windows must ADD, not overwrite); np.add.at also works, slowly.

Only numpy is needed. Do not import from other files of the handout (not even
layers.py): this file is graded on its own, so copy any helper you need.
"""

import numpy as np


def conv_forward_fast(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict) -> tuple[np.ndarray, tuple]:
    """Vectorised forward pass of a convolutional layer (im2col + matrix product).

    Inputs:
    - x: input data of shape (N, C, H, W)
    - w: filter weights of shape (F, C, HH, WW)
    - b: biases, of shape (F,)
    - conv_param: a dict with 'stride' S (positive int) and 'pad' P
      (non-negative int, zeros on every side), as in conv_forward_naive.

    Returns a tuple of:
    - out: output data, of shape (N, F, H', W') and x's dtype, equal to
      conv_forward_naive's output (up to floating-point rounding), where
        H' = 1 + (H + 2 * P - HH) / S
        W' = 1 + (W + 2 * P - WW) / S
    - cache: whatever conv_backward_fast needs (keeping the im2col matrix saves
      building it again in the backward pass)

    Raises ValueError exactly where conv_forward_naive does: non-float arrays,
    wrong dimensions, mismatched channel or bias counts, bad conv_param, or a
    filter that does not fit.
    """
    raise NotImplementedError("conv_forward_fast: im2col with sliding_window_view, then one matrix product")


def conv_backward_fast(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised backward pass of a convolutional layer (matrix products + col2im).

    Inputs:
    - dout: upstream derivatives, of shape (N, F, H', W'), the shape of the
      forward pass's out.
    - cache: the cache returned by your conv_forward_fast.

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, C, H, W), dtype of x
    - dw: gradient with respect to w, shape (F, C, HH, WW), dtype of w
    - db: gradient with respect to b, shape (F,), dtype of b
    each equal to conv_backward_naive's (up to floating-point rounding).

    Raises ValueError when dout is not a float array of the forward output's
    shape.
    """
    raise NotImplementedError("conv_backward_fast: dw and dcols by matrix products, dx by col2im")


def max_pool_forward_fast(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, tuple]:
    """Vectorised forward pass of a max-pooling layer.

    Inputs:
    - x: input data, of shape (N, C, H, W)
    - pool_param: a dict with positive ints 'pool_height' PH, 'pool_width' PW
      and 'stride' S, as in max_pool_forward_naive (no padding; windows may
      overlap or skip inputs).

    Returns a tuple of:
    - out: output data, of shape (N, C, H', W') and x's dtype, equal to
      max_pool_forward_naive's output, where
        H' = 1 + (H - PH) / S
        W' = 1 + (W - PW) / S
    - cache: whatever max_pool_backward_fast needs

    Raises ValueError exactly where max_pool_forward_naive does.

    Hint: a running np.maximum over the PH * PW strided slices
    x[:, :, i:i + S*H':S, j:j + S*W':S] needs no large temporary array.
    """
    raise NotImplementedError("max_pool_forward_fast: maximum over the window offsets, vectorised")


def max_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Vectorised backward pass of a max-pooling layer.

    Inputs:
    - dout: upstream derivatives, of shape (N, C, H', W'), the shape of the
      forward pass's out.
    - cache: the cache returned by your max_pool_forward_fast.

    Returns:
    - dx: gradient with respect to x, of shape (N, C, H, W) and x's dtype,
      equal to max_pool_backward_naive's.

    Same tie rule as max_pool_backward_naive: each window's whole gradient goes
    to ONE maximal element, the first in row-major order within the window (as
    np.argmax picks); overlapping windows add their contributions. Careful: a
    mask such as (window == max) marks EVERY tied element, so on its own it
    would copy the gradient to all of them.

    Raises ValueError when dout is not a float array of the forward output's
    shape.
    """
    raise NotImplementedError("max_pool_backward_fast: route each window's gradient to its first argmax")
