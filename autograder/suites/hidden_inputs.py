"""Random inputs of the hidden tests, drawn from the test's ``hidden_rng`` (the grade's secret
seed, ``autograder.engine.seeds``): a copy of the suites tells none of them.

The inputs change with every grade, so what the tests rely on is made to hold for every seed by
construction, never by a lucky draw (``tests/suites/test_seeds.py`` checks it over many seeds):

* ``normal_array``: no two values and no value and zero closer than ``MIN_GAP``. No max-pool
  window holds a tie, a numerical gradient's step never changes which element is a window's
  maximum, ReLU never meets an exact zero (its derivative there is tested with fixed inputs),
  and a ``dout`` has no zero that would hide a gradient routed nowhere.
* ``tied_windows``: integer-valued inputs in which every pooling window has tied maxima.
* ``maxima_in_the_corners``: where there are only a few windows (global pooling: one per
  channel), a window cut short on any side would miss the maximum only for some seeds; moving
  each channel's maximum to a corner, the four corners in turn, makes it miss for every seed.
"""
from __future__ import annotations

import math

import numpy as np

# Ten times the step of ``checks.numerical_gradient`` (1e-5): stepping one element by h can neither
# make nor break a tie. float32 keeps such values apart too (its spacing is 1e-6 near |x| = 8).
# A nudge moves values only up to the next wider gap, which absorbs it: the suites' largest
# arrays (16,384 values, spaced 1.5e-4 on average near 0) keep a standard deviation within 1%
# of 1 (tests/suites/test_seeds.py).
MIN_GAP = 1e-4


def normal_array(rng: np.random.Generator, shape: tuple, dtype=np.float64) -> np.ndarray:
    """Standard-normal values, each pair and each value and 0 at least ``MIN_GAP`` apart.

    The draws are sorted with a 0 among them; where two neighbours are closer than MIN_GAP the
    upper one and everything above it move up just enough (values already apart stay apart by
    as much as drawn), then all shift so that the 0 is 0 again, and it is dropped.
    """
    n = math.prod(shape)
    drawn = np.append(rng.standard_normal(n), 0.0)
    order = np.argsort(drawn, kind="stable")
    steps = MIN_GAP * np.arange(n + 1)
    spread = np.maximum.accumulate(drawn[order] - steps) + steps
    spread -= spread[np.flatnonzero(order == n)[0]]
    values = np.empty(n + 1)
    values[order] = spread
    return values[:n].reshape(shape).astype(dtype)


def tied_windows(rng: np.random.Generator, shape: tuple, pool_param: dict, low: int,
                 high: int) -> np.ndarray:
    """Integers in [low, high) as floats, where every window of ``pool_param`` (which must not
    overlap: stride >= pool size) has at least two elements equal to its maximum."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if ph * pw < 2 or stride < max(ph, pw):
        raise ValueError("tied_windows needs windows of 2 or more elements that do not overlap")
    n, c, h, w = shape
    x = rng.integers(low, high, shape).astype(np.float64)
    for top in range(0, h - ph + 1, stride):
        for left in range(0, w - pw + 1, stride):
            window = x[:, :, top:top + ph, left:left + pw].reshape(n, c, ph * pw)
            two = np.argsort(rng.random(window.shape), axis=2)[:, :, :2]
            np.put_along_axis(window, two, window.max(axis=2, keepdims=True), axis=2)
            x[:, :, top:top + ph, left:left + pw] = window.reshape(n, c, ph, pw)
    return x


def maxima_in_the_corners(x: np.ndarray) -> np.ndarray:
    """``x`` (N, C, H, W) with the maximum of each (n, c) map swapped into a corner: the k-th
    map's into the k-th of top-left, bottom-right, top-right, bottom-left (needs 4 maps or more to
    reach all four). Values and their gaps are kept; only positions change."""
    n, c, h, w = x.shape
    if n * c < 4:
        raise ValueError("maxima_in_the_corners needs at least 4 (n, c) maps")
    maps = x.reshape(n * c, h * w).copy()
    corners = [0, h * w - 1, w - 1, (h - 1) * w]
    for k, values in enumerate(maps):
        top, corner = int(np.argmax(values)), corners[k % 4]
        values[top], values[corner] = values[corner], values[top]
    return maps.reshape(x.shape)


def pool_input(rng: np.random.Generator, shape: tuple, pool_height: int, pool_width: int) -> np.ndarray:
    """A pooling test's hidden input: ``normal_array``, with the maxima in the corners where the
    window covers the whole image (global pooling)."""
    x = normal_array(rng, shape)
    return maxima_in_the_corners(x) if tuple(shape[2:]) == (pool_height, pool_width) else x
