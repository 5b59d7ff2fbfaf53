"""Shared oracles and strategies for the proofs that reference/ is right.

torch.nn.functional (float64, autograd) is the independent oracle; central
differences are the second one, so that a bug common to numpy and torch
conventions would still show.
"""

from typing import Callable

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from autograder.suites import visible_cases

# Repeatable examples and no deadline come from the profile in tests/conftest.py.
PROOF_SETTINGS = settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
# Numerical gradients cost two forward passes per input element.
NUMERIC_SETTINGS = settings(PROOF_SETTINGS, max_examples=30)


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """CS231n relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    assert x.shape == y.shape, (x.shape, y.shape)
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


@st.composite
def conv_geometries(draw: st.DrawFn) -> dict:
    """A conv layer whose filter fits: the input size is derived from the output size."""
    while True:
        g = {
            "N": draw(st.integers(1, 3)),
            "C": draw(st.integers(1, 3)),
            "F": draw(st.integers(1, 3)),
            "HH": draw(st.integers(1, 4)),
            "WW": draw(st.integers(1, 4)),
            "stride": draw(st.integers(1, 3)),
            "pad": draw(st.integers(0, 2)),
        }
        H_out, W_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        g["H"] = (H_out - 1) * g["stride"] + g["HH"] - 2 * g["pad"]
        g["W"] = (W_out - 1) * g["stride"] + g["WW"] - 2 * g["pad"]
        if g["H"] >= 1 and g["W"] >= 1:
            return g


@st.composite
def pool_geometries(draw: st.DrawFn) -> dict:
    """A pooling window that fits; strides above the window size skip inputs."""
    g = {
        "N": draw(st.integers(1, 3)),
        "C": draw(st.integers(1, 3)),
        "PH": draw(st.integers(1, 4)),
        "PW": draw(st.integers(1, 4)),
        "stride": draw(st.integers(1, 4)),
    }
    H_out, W_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    g["H"] = (H_out - 1) * g["stride"] + g["PH"]
    g["W"] = (W_out - 1) * g["stride"] + g["PW"]
    return g


def conv_arrays(g: dict, seed: int, dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((g["N"], g["C"], g["H"], g["W"])).astype(dtype)
    w = rng.standard_normal((g["F"], g["C"], g["HH"], g["WW"])).astype(dtype)
    b = rng.standard_normal(g["F"]).astype(dtype)
    return x, w, b


def pool_param(g: dict) -> dict:
    return {"pool_height": g["PH"], "pool_width": g["PW"], "stride": g["stride"]}


def torch_conv(x, w, b, stride, pad, dout) -> tuple[np.ndarray, ...]:
    """out, dx, dw, db of torch's conv2d for upstream gradient dout."""
    result = visible_cases.torch_conv(x, w, b, {"stride": stride, "pad": pad}, dout)
    return result["out"], result["dx"], result["dw"], result["db"]


def torch_pool(kind: str, x, param: dict, dout) -> tuple[np.ndarray, np.ndarray]:
    """out, dx of torch's max_pool2d or avg_pool2d for upstream gradient dout."""
    result = visible_cases.torch_pool(kind, x, param, dout)
    return result["out"], result["dx"]


def numeric_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float) -> np.ndarray:
    """Central differences of sum(f(x) * dout) with respect to every element of x."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        bumped = x.copy()
        bumped[index] = x[index] + h
        plus = np.sum(f(bumped) * dout)
        bumped[index] = x[index] - h
        minus = np.sum(f(bumped) * dout)
        grad[index] = (plus - minus) / (2 * h)
    return grad


def assert_pure(fn: Callable, *args) -> tuple:
    """Call fn(*args); check that no array argument changed and no array returned aliases one.

    Arrays inside a cache tuple are checked too, as a backward pass gets its inputs
    there. A forward pass's cache may hold its inputs, so only its output is checked.
    """

    def arrays(value):
        if isinstance(value, np.ndarray):
            yield value
        elif isinstance(value, (tuple, list)):
            for item in value:
                yield from arrays(item)

    inputs = list(arrays(args))
    snapshots = [a.copy() for a in inputs]
    result = fn(*args)
    for before, after in zip(snapshots, inputs):
        np.testing.assert_array_equal(before, after, err_msg=f"{fn.__name__} modified an input in place")
    outputs = result[0] if "forward" in fn.__name__ else result
    for out in arrays(outputs):
        for a in inputs:
            assert not np.shares_memory(out, a), f"{fn.__name__} returned a view of an input"
    return result


# Arguments every conv or pool forward pass (naive or fast) must reject with ValueError.
X = np.zeros((2, 3, 5, 5))
W = np.zeros((4, 3, 3, 3))
B = np.zeros(4)
CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 1}

CONV_ERRORS = {
    "x not 4-D": (X[0], W, B, CONV),
    "w not 4-D": (X, W[0], B, CONV),
    "b not 1-D": (X, W, B[:, None], CONV),
    "channel mismatch": (X, W[:, :2], B, CONV),
    "bias count mismatch": (X, W, B[:3], CONV),
    "integer x": (X.astype(int), W, B, CONV),
    "integer w": (X, W.astype(int), B, CONV),
    "missing stride": (X, W, B, {"pad": 1}),
    "missing pad": (X, W, B, {"stride": 1}),
    "conv_param not a dict": (X, W, B, (1, 1)),
    "zero stride": (X, W, B, {"stride": 0, "pad": 1}),
    "negative pad": (X, W, B, {"stride": 1, "pad": -1}),
    "float stride": (X, W, B, {"stride": 1.0, "pad": 1}),
    "bool stride": (X, W, B, {"stride": True, "pad": 1}),
    "stride does not divide": (X, W, B, {"stride": 3, "pad": 0}),  # (5 - 3) / 3 + 1
    "filter larger than padded input": (X, np.zeros((4, 3, 8, 8)), B, CONV),
    "width only does not fit": (np.zeros((2, 3, 5, 6)), W, B, {"stride": 2, "pad": 0}),
}


POOL_ERRORS = {
    "x not 4-D": (X[0], POOL),
    "integer x": (X.astype(int), POOL),
    "missing pool_height": (X, {"pool_width": 2, "stride": 1}),
    "missing pool_width": (X, {"pool_height": 2, "stride": 1}),
    "missing stride": (X, {"pool_height": 2, "pool_width": 2}),
    "zero pool_height": (X, {"pool_height": 0, "pool_width": 2, "stride": 1}),
    "zero stride": (X, {"pool_height": 2, "pool_width": 2, "stride": 0}),
    "float stride": (X, {"pool_height": 2, "pool_width": 2, "stride": 2.0}),
    "stride does not divide": (X, {"pool_height": 2, "pool_width": 2, "stride": 2}),  # (5 - 2) / 2 + 1
    "window larger than input": (X, {"pool_height": 6, "pool_width": 2, "stride": 1}),
}
