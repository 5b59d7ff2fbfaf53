"""Proof that reference/fast_layers.py computes exactly what the proven naive layers compute."""

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import fast_layers, layers
from reference.fast_layers import (
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from reference.layers import (
    conv_backward_naive,
    conv_forward_naive,
    max_pool_backward_naive,
    max_pool_forward_naive,
)

from .conftest import (
    CONV_ERRORS,
    POOL_ERRORS,
    PROOF_SETTINGS,
    assert_pure,
    conv_arrays,
    conv_geometries,
    pool_geometries,
    pool_param,
    rel_error,
    torch_conv,
    torch_pool,
)

seeds = st.integers(0, 2**32 - 1)
FAST_SETTINGS = settings(PROOF_SETTINGS, max_examples=200)


@FAST_SETTINGS
@given(conv_geometries(), seeds)
def test_fast_conv_equals_naive(g, seed):
    x, w, b = conv_arrays(g, seed)
    conv_param = {"stride": g["stride"], "pad": g["pad"]}
    out_naive, cache_naive = conv_forward_naive(x, w, b, conv_param)
    out_fast, cache_fast = conv_forward_fast(x, w, b, conv_param)
    assert out_fast.shape == out_naive.shape
    assert rel_error(out_fast, out_naive) < 1e-9
    dout = np.random.default_rng(seed).standard_normal(out_naive.shape)
    for name, fast, naive in zip(
        ["dx", "dw", "db"], conv_backward_fast(dout, cache_fast), conv_backward_naive(dout, cache_naive)
    ):
        assert fast.shape == naive.shape, name
        assert rel_error(fast, naive) < 1e-9, name


@FAST_SETTINGS
@given(pool_geometries(), seeds, st.integers(1, 4))
def test_fast_max_pool_equals_naive_including_ties(g, seed, levels):
    rng = np.random.default_rng(seed)
    # Few distinct levels make ties common; integer gradients make sums exact, so
    # the fast and naive passes must agree bit for bit.
    x = rng.integers(0, levels, size=(g["N"], g["C"], g["H"], g["W"])).astype(np.float64)
    out_naive, cache_naive = max_pool_forward_naive(x, pool_param(g))
    out_fast, cache_fast = max_pool_forward_fast(x, pool_param(g))
    np.testing.assert_array_equal(out_fast, out_naive)
    dout = rng.integers(-4, 5, size=out_naive.shape).astype(np.float64)
    np.testing.assert_array_equal(max_pool_backward_fast(dout, cache_fast), max_pool_backward_naive(dout, cache_naive))


def test_fast_max_pool_routes_nan_windows_like_argmax():
    x = np.array([[[[1.0, np.nan, 3.0, np.nan], [np.nan, 0.0, 2.0, 2.0]]]])
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = np.array([[[[5.0, 7.0]]]])
    out_fast, cache_fast = max_pool_forward_fast(x, param)
    out_naive, cache_naive = max_pool_forward_naive(x, param)
    np.testing.assert_array_equal(out_fast, out_naive)
    np.testing.assert_array_equal(max_pool_backward_fast(dout, cache_fast), max_pool_backward_naive(dout, cache_naive))


@pytest.mark.parametrize(
    "x_shape, w_shape, stride, pad",
    [
        ((1, 1, 1, 1), (1, 1, 1, 1), 1, 0),
        ((2, 3, 5, 5), (4, 3, 1, 1), 1, 0),  # cols may be a view of x here
        ((2, 3, 5, 5), (4, 3, 1, 1), 2, 1),
        ((1, 1, 7, 7), (2, 1, 2, 2), 5, 0),  # stride > kernel
        ((2, 2, 9, 6), (3, 2, 3, 2), 2, 1),  # non-square
        ((4, 8, 16, 16), (16, 8, 3, 3), 1, 1),  # larger than the hypothesis cases
        ((2, 3, 30, 30), (8, 3, 5, 5), 3, 1),
    ],
)
def test_fast_conv_matches_torch(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    out, cache = conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    dout = rng.standard_normal(out.shape)
    ours = (out, *conv_backward_fast(dout, cache))
    for name, mine, theirs in zip(["out", "dx", "dw", "db"], ours, torch_conv(x, w, b, stride, pad, dout)):
        assert rel_error(mine, theirs) < 1e-9, name


def test_fast_max_pool_matches_torch_on_a_larger_input():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((8, 16, 32, 32))
    param = {"pool_height": 3, "pool_width": 3, "stride": 2}
    x = x[:, :, :31, :31]  # a non-contiguous input, as a slice of a batch would be
    out, cache = max_pool_forward_fast(x, param)
    dout = rng.standard_normal(out.shape)
    t_out, t_dx = torch_pool("max", x, param, dout)
    assert rel_error(out, t_out) < 1e-9
    assert rel_error(max_pool_backward_fast(dout, cache), t_dx) < 1e-9


@PROOF_SETTINGS
@given(conv_geometries(), seeds)
def test_fast_conv_is_pure(g, seed):
    x, w, b = conv_arrays(g, seed)
    out, cache = assert_pure(conv_forward_fast, x, w, b, {"stride": g["stride"], "pad": g["pad"]})
    assert_pure(conv_backward_fast, np.ones_like(out), cache)


@PROOF_SETTINGS
@given(pool_geometries(), seeds)
def test_fast_max_pool_is_pure(g, seed):
    x = np.random.default_rng(seed).standard_normal((g["N"], g["C"], g["H"], g["W"]))
    out, cache = assert_pure(max_pool_forward_fast, x, pool_param(g))
    assert_pure(max_pool_backward_fast, np.ones_like(out), cache)


def test_fast_layers_keep_float32():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv_param = {"stride": 1, "pad": 1}
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    f32 = [a.astype(np.float32) for a in (x, w, b)]
    out32, cache32 = conv_forward_fast(*f32, conv_param)
    out64, cache64 = conv_forward_fast(x, w, b, conv_param)
    assert out32.dtype == np.float32 and rel_error(out32, out64) < 1e-4
    dout = np.ones_like(out64)
    for g32, g64 in zip(conv_backward_fast(dout.astype(np.float32), cache32), conv_backward_fast(dout, cache64)):
        assert g32.dtype == np.float32 and rel_error(g32, g64) < 1e-4
    pooled32, pool_cache32 = max_pool_forward_fast(f32[0], pool)
    assert pooled32.dtype == np.float32
    assert max_pool_backward_fast(np.ones_like(pooled32), pool_cache32).dtype == np.float32


@pytest.mark.parametrize("x_dtype, param_dtype", [(np.float32, np.float64), (np.float64, np.float32)])
def test_fast_mixed_dtypes_follow_x_and_each_parameter(x_dtype, param_dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 6, 6)).astype(x_dtype)
    w, b = rng.standard_normal((4, 3, 3, 3)).astype(param_dtype), rng.standard_normal(4).astype(param_dtype)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    dx, dw, db = conv_backward_fast(np.ones(out.shape, dtype=param_dtype), cache)
    assert (out.dtype, dx.dtype, dw.dtype, db.dtype) == (x_dtype, x_dtype, param_dtype, param_dtype)
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.dtype == x_dtype
    assert max_pool_backward_fast(np.ones(out.shape, dtype=param_dtype), cache).dtype == x_dtype


@pytest.mark.parametrize("args", CONV_ERRORS.values(), ids=CONV_ERRORS.keys())
def test_fast_conv_rejects_what_naive_rejects(args):
    with pytest.raises(ValueError):
        conv_forward_fast(*args)


@pytest.mark.parametrize("args", POOL_ERRORS.values(), ids=POOL_ERRORS.keys())
def test_fast_max_pool_rejects_what_naive_rejects(args):
    with pytest.raises(ValueError):
        max_pool_forward_fast(*args)


def test_fast_backward_rejects_dout_of_the_wrong_shape():
    x, w, b = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(4)
    _, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    with pytest.raises(ValueError):
        conv_backward_fast(np.zeros((2, 4, 5, 4)), cache)
    _, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 1})
    with pytest.raises(ValueError):
        max_pool_backward_fast(np.zeros((2, 3, 4, 3)), cache)


def test_fast_and_naive_error_messages_agree():
    x, w, b = np.zeros((1, 3, 5, 6)), np.zeros((4, 3, 3, 3)), np.zeros(4)
    messages = []
    for forward in (conv_forward_naive, conv_forward_fast):
        with pytest.raises(ValueError) as raised:
            forward(x, w, b, {"stride": 2, "pad": 0})
        messages.append(str(raised.value))
    assert messages[0] == messages[1]


def test_fast_layers_share_the_naive_validation_helpers_verbatim():
    # fast_layers.py repeats layers.py's helpers to stay a standalone file; this
    # keeps the two copies from drifting apart.
    for name in ["_as_float_array", "_param", "_output_size", "_check_dout", "_pool_geometry"]:
        assert inspect.getsource(getattr(fast_layers, name)) == inspect.getsource(getattr(layers, name)), name
