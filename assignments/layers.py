"""Part 2: naive forward and backward passes of CNN layers, in numpy.

Write each layer the straightforward way first: loops are fine here (Part 3
makes them fast). Every function comes in a forward/backward pair; the forward
pass returns (out, cache) and the backward pass receives that cache.

Shapes (CS231n conventions):
- x: input images, shape (N, C, H, W): N images of C channels, H x W pixels.
- w: conv filters, shape (F, C, HH, WW): F filters of C channels, HH x WW.
- b: conv biases, shape (F,).
- dout: upstream derivative of the loss with respect to out; same shape as out.

Rules for EVERY function in this file (the grader checks each one):
1. Never modify an input in place: not x, w, b, dout, the cache, nor the
   conv_param / pool_param dicts. (np.pad returns a new array; x += ... or
   x[...] = ... on an input does not.)
2. Every returned array is freshly allocated, never a view of an input: for
   example return x.copy(), not x, and not a slice or reshape of x.
3. float32 and float64 arrays are accepted. The forward output and dx have the
   dtype of x (float32 in, float32 out); dw and db have the dtypes of w and b.
   Any other dtype (e.g. integers) raises ValueError.
4. Invalid shapes or parameters raise ValueError with a clear message: wrong
   number of dimensions, channel or bias counts that do not match, a stride
   that is not a positive int, a pad that is not a non-negative int (bools are
   not ints here), a missing dict key, a dout whose shape is not the forward
   output's shape, and a window that does not fit (see each function).

Only numpy is needed. Do not import from other files of the handout: this file
is graded on its own.
"""

import numpy as np


def conv_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict) -> tuple[np.ndarray, tuple]:
    """Naive forward pass of a convolutional layer.

    The input consists of N data points, each with C channels, height H and
    width W. We convolve each input with F different filters, where each filter
    spans all C channels and has height HH and width WW. As in every deep
    learning library this is a cross-correlation: the filter is NOT flipped.

        out[n, f, i, j] = b[f] + sum over c, p, q of
                          x_pad[n, c, i * S + p, j * S + q] * w[f, c, p, q]

    Inputs:
    - x: input data of shape (N, C, H, W)
    - w: filter weights of shape (F, C, HH, WW)
    - b: biases, of shape (F,)
    - conv_param: a dict with the following keys:
      - 'stride': S, a positive int, the number of pixels between adjacent
        receptive fields in both the horizontal and vertical directions.
      - 'pad': P, a non-negative int, the number of pixels that will be used to
        zero-pad the input on EVERY side (top, bottom, left and right).

    Returns a tuple of:
    - out: output data, of shape (N, F, H', W') and x's dtype, where H' and W'
      are given by
        H' = 1 + (H + 2 * P - HH) / S
        W' = 1 + (W + 2 * P - WW) / S
    - cache: whatever conv_backward_naive needs, e.g. (x, w, b, conv_param)

    Raises ValueError (before computing anything) when:
    - x or w is not 4-D, or b is not 1-D, or any of them is not a float array;
    - w's channel count differs from x's, or b's length differs from F;
    - conv_param lacks 'stride' or 'pad', or they are out of range;
    - the filter does not fit: HH > H + 2P or WW > W + 2P, or H + 2P - HH or
      W + 2P - WW is not divisible by S (H' or W' would not be an integer).

    Hint: np.pad(x, ((0, 0), (0, 0), (P, P), (P, P))) pads only H and W.
    """
    raise NotImplementedError("conv_forward_naive: pad x, then slide every filter over every position")


def conv_backward_naive(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Naive backward pass of a convolutional layer.

    Inputs:
    - dout: upstream derivatives, of shape (N, F, H', W'), the shape of the
      forward pass's out.
    - cache: the cache returned by your conv_forward_naive.

    Returns a tuple of:
    - dx: gradient with respect to x, shape (N, C, H, W), dtype of x. The
      gradient that lands on the zero padding is discarded.
    - dw: gradient with respect to w, shape (F, C, HH, WW), dtype of w
    - db: gradient with respect to b, shape (F,), dtype of b

    Raises ValueError when dout is not a float array of the forward output's
    shape.

    Hint: every output element out[n, f, i, j] was a dot product of one window
    of x_pad with w[f]; send dout[n, f, i, j] back along that same product.
    """
    raise NotImplementedError("conv_backward_naive: accumulate dx_pad, dw and db window by window")


def max_pool_forward_naive(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, tuple]:
    """Naive forward pass of a max-pooling layer.

    Inputs:
    - x: input data, of shape (N, C, H, W)
    - pool_param: a dict with the following keys, each a positive int:
      - 'pool_height': PH, the height of each pooling region
      - 'pool_width': PW, the width of each pooling region
      - 'stride': S, the distance between adjacent pooling regions
      No padding is applied. Windows may overlap (S < PH or S < PW) and may
      skip inputs (S larger than the window).

    Returns a tuple of:
    - out: output data, of shape (N, C, H', W') and x's dtype, where
        H' = 1 + (H - PH) / S
        W' = 1 + (W - PW) / S
    - cache: whatever max_pool_backward_naive needs, e.g. (x, pool_param)

    Raises ValueError when x is not a 4-D float array, pool_param lacks a key
    or has a value that is not a positive int, or the window does not fit
    (PH > H, PW > W, or H - PH or W - PW not divisible by S).
    """
    raise NotImplementedError("max_pool_forward_naive: take the max of every PH x PW window")


def max_pool_backward_naive(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Naive backward pass of a max-pooling layer.

    Inputs:
    - dout: upstream derivatives, of shape (N, C, H', W'), the shape of the
      forward pass's out.
    - cache: the cache returned by your max_pool_forward_naive.

    Returns:
    - dx: gradient with respect to x, of shape (N, C, H, W) and x's dtype.

    Tie rule: each window sends its WHOLE gradient dout[n, c, i, j] to exactly
    ONE of its maximal elements, never splitting it. When several elements of a
    window tie for the maximum, choose the first one in row-major order within
    the window, which is the one np.argmax picks on the flattened window. (The
    grader accepts any single maximal element, but it checks that each window's
    gradient is conserved, so no fractions and no copies to every tied element.)
    Where windows overlap (stride smaller than the window), an element that is
    the chosen maximum of several windows receives the SUM of their gradients.

    Raises ValueError when dout is not a float array of the forward output's
    shape.
    """
    raise NotImplementedError("max_pool_backward_naive: route each window's gradient to its first argmax")


def avg_pool_forward_naive(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, tuple]:
    """Naive forward pass of an average-pooling layer.

    Inputs, output shape and errors exactly as max_pool_forward_naive.

    Returns a tuple of:
    - out: the mean of each PH x PW window, shape (N, C, H', W'), x's dtype
    - cache: whatever avg_pool_backward_naive needs, e.g. (x, pool_param)
    """
    raise NotImplementedError("avg_pool_forward_naive: take the mean of every PH x PW window")


def avg_pool_backward_naive(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Naive backward pass of an average-pooling layer.

    Inputs:
    - dout: upstream derivatives, of shape (N, C, H', W'), the shape of the
      forward pass's out.
    - cache: the cache returned by your avg_pool_forward_naive.

    Returns:
    - dx: gradient with respect to x, of shape (N, C, H, W) and x's dtype:
      every element of a window receives dout[n, c, i, j] / (PH * PW), and an
      element covered by several overlapping windows receives the sum.

    Raises ValueError when dout is not a float array of the forward output's
    shape.
    """
    raise NotImplementedError("avg_pool_backward_naive: spread each window's gradient evenly over it")


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass of a layer of rectified linear units (ReLUs).

    Inputs:
    - x: a float array of any shape.

    Returns a tuple of:
    - out: max(0, x) elementwise, a new array of x's shape and dtype
    - cache: x

    Raises ValueError when x is not a float array.
    """
    raise NotImplementedError("relu_forward: max(0, x), as a new array")


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of a layer of rectified linear units (ReLUs).

    Inputs:
    - dout: upstream derivatives, of the same shape as x
    - cache: x, as returned by relu_forward

    Returns:
    - dx: gradient with respect to x, of x's shape and dtype: dout where x > 0
      and 0 where x <= 0. At exactly x == 0 the derivative is taken as 0, as
      in PyTorch.

    Raises ValueError when dout is not a float array of x's shape.
    """
    raise NotImplementedError("relu_backward: pass dout through where x > 0")
