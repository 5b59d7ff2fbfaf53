"""Proof that reference/layers.py is right: torch and numerical gradients agree with it."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from autograder.config import load_config

from reference.layers import (
    avg_pool_backward_naive,
    avg_pool_forward_naive,
    conv_backward_naive,
    conv_forward_naive,
    max_pool_backward_naive,
    max_pool_forward_naive,
    relu_backward,
    relu_forward,
)

from .conftest import (
    NUMERIC_SETTINGS,
    PROOF_SETTINGS,
    assert_pure,
    B,
    CONV,
    CONV_ERRORS,
    POOL,
    POOL_ERRORS,
    W,
    X,
    conv_arrays,
    conv_geometries,
    numeric_gradient,
    pool_geometries,
    pool_param,
    rel_error,
    torch_conv,
    torch_pool,
)

REPO = Path(__file__).resolve().parents[2]
seeds = st.integers(0, 2**32 - 1)


def _conv_against_torch(x, w, b, stride, pad, seed=0):
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, w, b, conv_param)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx, dw, db = conv_backward_naive(dout, cache)
    t_out, t_dx, t_dw, t_db = torch_conv(x, w, b, stride, pad, dout)
    for name, ours, theirs in [("out", out, t_out), ("dx", dx, t_dx), ("dw", dw, t_dw), ("db", db, t_db)]:
        assert rel_error(ours, theirs) < 1e-9, name


@PROOF_SETTINGS
@given(conv_geometries(), seeds)
def test_conv_matches_torch(g, seed):
    x, w, b = conv_arrays(g, seed)
    _conv_against_torch(x, w, b, g["stride"], g["pad"], seed)


@pytest.mark.parametrize(
    "x_shape, w_shape, stride, pad",
    [
        ((2, 3, 5, 5), (4, 3, 1, 1), 1, 0),  # 1x1 filter
        ((2, 3, 5, 5), (4, 3, 1, 1), 2, 1),  # 1x1 filter reading padding only at the corners
        ((2, 2, 7, 4), (3, 2, 3, 2), 1, 0),  # non-square input and kernel
        ((2, 2, 9, 6), (3, 2, 3, 2), 2, 1),  # non-square, strided, padded
        ((1, 1, 7, 7), (2, 1, 2, 2), 5, 0),  # stride > kernel: inputs skipped
        ((1, 3, 6, 6), (1, 3, 3, 3), 3, 0),  # N = 1, F = 1
        ((3, 1, 4, 4), (2, 1, 3, 3), 1, 1),  # C = 1, same padding
        ((1, 1, 1, 1), (1, 1, 3, 3), 1, 1),  # 1x1 image, all but the centre is padding
        ((2, 3, 4, 4), (3, 3, 4, 4), 2, 1),  # CS231n's conv_forward_naive check
    ],
)
def test_conv_edge_cases_match_torch(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    _conv_against_torch(x, w, b, stride, pad)


def _small_ints(rng, shape):
    # Small integers make every sum exact in float64, so a central difference of
    # a (piecewise) linear layer equals its derivative exactly, not approximately.
    return rng.integers(-4, 5, size=shape).astype(np.float64)


@NUMERIC_SETTINGS
@given(conv_geometries(), seeds)
def test_conv_backward_matches_numerical_gradient(g, seed):
    rng = np.random.default_rng(seed)
    x = _small_ints(rng, (g["N"], g["C"], g["H"], g["W"]))
    w = _small_ints(rng, (g["F"], g["C"], g["HH"], g["WW"]))
    b = _small_ints(rng, (g["F"],))
    conv_param = {"stride": g["stride"], "pad": g["pad"]}
    out, cache = conv_forward_naive(x, w, b, conv_param)
    dout = _small_ints(rng, out.shape)
    dx, dw, db = conv_backward_naive(dout, cache)

    h = 0.5  # the layer is linear in each argument, so any step is exact
    dx_num = numeric_gradient(lambda v: conv_forward_naive(v, w, b, conv_param)[0], x, dout, h)
    dw_num = numeric_gradient(lambda v: conv_forward_naive(x, v, b, conv_param)[0], w, dout, h)
    db_num = numeric_gradient(lambda v: conv_forward_naive(x, w, v, conv_param)[0], b, dout, h)
    assert rel_error(dx, dx_num) < 1e-9
    assert rel_error(dw, dw_num) < 1e-9
    assert rel_error(db, db_num) < 1e-9


@pytest.mark.parametrize("kind", ["max", "avg"])
@PROOF_SETTINGS
@given(g=pool_geometries(), seed=seeds)
def test_pool_matches_torch(kind, g, seed):
    forward, backward = {
        "max": (max_pool_forward_naive, max_pool_backward_naive),
        "avg": (avg_pool_forward_naive, avg_pool_backward_naive),
    }[kind]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((g["N"], g["C"], g["H"], g["W"]))
    out, cache = forward(x, pool_param(g))
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    t_out, t_dx = torch_pool(kind, x, pool_param(g), dout)
    assert rel_error(out, t_out) < 1e-9
    assert rel_error(dx, t_dx) < 1e-9


@NUMERIC_SETTINGS
@given(pool_geometries(), seeds)
def test_max_pool_backward_matches_numerical_gradient(g, seed):
    rng = np.random.default_rng(seed)
    shape = (g["N"], g["C"], g["H"], g["W"])
    # Distinct integers: no ties, and a step of 0.25 never changes which one is largest.
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64)
    out, cache = max_pool_forward_naive(x, pool_param(g))
    dout = _small_ints(rng, out.shape)
    dx = max_pool_backward_naive(dout, cache)
    dx_num = numeric_gradient(lambda v: max_pool_forward_naive(v, pool_param(g))[0], x, dout, 0.25)
    assert rel_error(dx, dx_num) < 1e-9


@NUMERIC_SETTINGS
@given(pool_geometries(), seeds)
def test_avg_pool_backward_matches_numerical_gradient(g, seed):
    rng = np.random.default_rng(seed)
    # Multiples of the window size keep the division by PH * PW exact too.
    k = g["PH"] * g["PW"]
    x = k * _small_ints(rng, (g["N"], g["C"], g["H"], g["W"]))
    out, cache = avg_pool_forward_naive(x, pool_param(g))
    dout = k * _small_ints(rng, out.shape)
    dx = avg_pool_backward_naive(dout, cache)
    dx_num = numeric_gradient(lambda v: avg_pool_forward_naive(v, pool_param(g))[0], x, dout, float(k))
    assert rel_error(dx, dx_num) < 1e-9


def _first_argmax_gradient(x, dout, PH, PW, stride):
    """Independent loop-per-element statement of the documented tie rule."""
    dx = np.zeros_like(x)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride : i * stride + PH, j * stride : j * stride + PW]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + r, j * stride + s] += dout[n, c, i, j]
    return dx


def test_max_pool_tie_goes_to_first_element_in_row_major_order():
    x = np.ones((1, 1, 3, 3))
    x[0, 0, 1, 2] = x[0, 0, 2, 1] = 5.0  # a tie inside the bottom-right window
    param = {"pool_height": 2, "pool_width": 2, "stride": 1}
    out, cache = max_pool_forward_naive(x, param)
    dout = np.array([[[[1.0, 2.0], [4.0, 8.0]]]])
    dx = max_pool_backward_naive(dout, cache)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 0, 0] = 1.0  # all-ones window: its first element
    expected[0, 0, 1, 2] = 2.0 + 8.0  # (1, 2) comes before (2, 1) in row-major order
    expected[0, 0, 2, 1] = 4.0
    np.testing.assert_array_equal(dx, expected)


@PROOF_SETTINGS
@given(pool_geometries(), seeds, st.integers(1, 3))
def test_max_pool_ties_conserve_gradient_and_follow_argmax(g, seed, levels):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels, size=(g["N"], g["C"], g["H"], g["W"])).astype(np.float64)
    out, cache = max_pool_forward_naive(x, pool_param(g))
    dout = _small_ints(rng, out.shape)
    dx = max_pool_backward_naive(dout, cache)
    np.testing.assert_array_equal(dx, _first_argmax_gradient(x, dout, g["PH"], g["PW"], g["stride"]))
    assert dx.sum() == dout.sum()


@PROOF_SETTINGS
@given(st.lists(st.integers(1, 4), min_size=0, max_size=4), seeds)
def test_relu_matches_torch_and_numerical_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x.flat[0] = 0.0  # the kink: both torch and the reference give gradient 0 there
    out, cache = relu_forward(x)
    dout = rng.standard_normal(shape)
    dx = relu_backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    torch.relu(xt).backward(torch.tensor(dout))
    assert rel_error(out, torch.relu(torch.tensor(x)).numpy()) < 1e-9
    assert rel_error(dx, xt.grad.numpy()) < 1e-9

    x_int = rng.choice([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0], size=shape)
    dout_int = _small_ints(rng, shape)
    dx_num = numeric_gradient(lambda v: relu_forward(v)[0], x_int, dout_int, 0.25)
    assert rel_error(relu_backward(dout_int, relu_forward(x_int)[1]), dx_num) < 1e-9


# --- The contract every function keeps: inputs untouched, fresh outputs, dtype kept.


@PROOF_SETTINGS
@given(conv_geometries(), seeds)
def test_conv_is_pure(g, seed):
    x, w, b = conv_arrays(g, seed)
    conv_param = {"stride": g["stride"], "pad": g["pad"]}
    out, cache = assert_pure(conv_forward_naive, x, w, b, conv_param)
    assert conv_param == {"stride": g["stride"], "pad": g["pad"]}
    assert_pure(conv_backward_naive, np.ones_like(out), cache)


@pytest.mark.parametrize("kind", ["max", "avg"])
@PROOF_SETTINGS
@given(g=pool_geometries(), seed=seeds)
def test_pool_is_pure(kind, g, seed):
    forward, backward = {
        "max": (max_pool_forward_naive, max_pool_backward_naive),
        "avg": (avg_pool_forward_naive, avg_pool_backward_naive),
    }[kind]
    x = np.random.default_rng(seed).standard_normal((g["N"], g["C"], g["H"], g["W"]))
    out, cache = assert_pure(forward, x, pool_param(g))
    # An all-ones dout is the likeliest to be returned as-is by a buggy 1x1 pool.
    assert_pure(backward, np.ones_like(out), cache)


def test_one_by_one_pool_and_relu_return_fresh_arrays():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    param = {"pool_height": 1, "pool_width": 1, "stride": 1}
    for forward, backward in [
        (max_pool_forward_naive, max_pool_backward_naive),
        (avg_pool_forward_naive, avg_pool_backward_naive),
    ]:
        out, cache = assert_pure(forward, x, param)
        np.testing.assert_array_equal(out, x)
        assert_pure(backward, x.copy(), cache)
    out, cache = assert_pure(relu_forward, np.abs(x))
    assert_pure(relu_backward, x, cache)


def _every_output(dtype) -> dict[str, np.ndarray]:
    """Every array every layer returns, for fixed inputs cast to dtype."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    outputs = {}
    out, cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    outputs["conv out"] = out
    outputs["conv dx"], outputs["conv dw"], outputs["conv db"] = conv_backward_naive(np.ones_like(out), cache)
    for name, forward, backward in [
        ("max_pool", max_pool_forward_naive, max_pool_backward_naive),
        ("avg_pool", avg_pool_forward_naive, avg_pool_backward_naive),
    ]:
        out, cache = forward(x, pool)
        outputs[f"{name} out"], outputs[f"{name} dx"] = out, backward(np.ones_like(out), cache)
    out, cache = relu_forward(x)
    outputs["relu out"], outputs["relu dx"] = out, relu_backward(x, cache)
    return outputs


def test_float32_in_float32_out():
    single, double = _every_output(np.float32), _every_output(np.float64)
    for name, value in single.items():
        assert value.dtype == np.float32, name
        assert rel_error(value, double[name]) < 1e-4, name


@pytest.mark.parametrize("x_dtype, param_dtype", [(np.float32, np.float64), (np.float64, np.float32)])
def test_mixed_dtypes_follow_x_and_each_parameter(x_dtype, param_dtype):
    x, w, b = conv_arrays({"N": 2, "C": 3, "H": 5, "W": 5, "F": 2, "HH": 3, "WW": 3}, seed=4)
    x, w, b = x.astype(x_dtype), w.astype(param_dtype), b.astype(param_dtype)
    out, cache = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    dx, dw, db = conv_backward_naive(np.ones(out.shape, dtype=param_dtype), cache)
    assert (out.dtype, dx.dtype, dw.dtype, db.dtype) == (x_dtype, x_dtype, param_dtype, param_dtype)
    for forward, backward in [
        (max_pool_forward_naive, max_pool_backward_naive),
        (avg_pool_forward_naive, avg_pool_backward_naive),
    ]:
        out, cache = forward(x, {"pool_height": 2, "pool_width": 2, "stride": 1})
        assert out.dtype == x_dtype
        assert backward(np.ones(out.shape, dtype=param_dtype), cache).dtype == x_dtype
    assert relu_backward(np.ones(x.shape, dtype=param_dtype), relu_forward(x)[1]).dtype == x_dtype


# --- Every documented ValueError.

@pytest.mark.parametrize("args", CONV_ERRORS.values(), ids=CONV_ERRORS.keys())
def test_conv_forward_rejects(args):
    with pytest.raises(ValueError):
        conv_forward_naive(*args)


@pytest.mark.parametrize("forward", [max_pool_forward_naive, avg_pool_forward_naive])
@pytest.mark.parametrize("args", POOL_ERRORS.values(), ids=POOL_ERRORS.keys())
def test_pool_forward_rejects(forward, args):
    with pytest.raises(ValueError):
        forward(*args)


def test_backward_rejects_dout_of_the_wrong_shape_or_dtype():
    _, conv_cache = conv_forward_naive(X, W, B, CONV)
    for bad in [np.zeros((2, 4, 5, 4)), np.zeros((2, 4, 5)), np.zeros((2, 4, 5, 5), dtype=int)]:
        with pytest.raises(ValueError):
            conv_backward_naive(bad, conv_cache)
    for forward, backward in [
        (max_pool_forward_naive, max_pool_backward_naive),
        (avg_pool_forward_naive, avg_pool_backward_naive),
    ]:
        _, cache = forward(X, POOL)
        for bad in [np.zeros((2, 3, 4, 3)), np.zeros((2, 3, 4)), np.zeros((2, 3, 4, 4), dtype=int)]:
            with pytest.raises(ValueError):
                backward(bad, cache)
    _, relu_cache = relu_forward(X)
    for bad in [np.zeros((2, 3, 5, 4)), np.zeros((2, 3, 5, 5), dtype=int)]:
        with pytest.raises(ValueError):
            relu_backward(bad, relu_cache)
    with pytest.raises(ValueError):
        relu_forward(X.astype(int))


def test_error_message_explains_a_filter_that_does_not_fit():
    with pytest.raises(ValueError, match=r"width.*\(6 - 3\) / 2 \+ 1 = 2\.50"):
        conv_forward_naive(np.zeros((1, 3, 5, 6)), W, B, {"stride": 2, "pad": 0})


# --- Each reference file is graded as a submission in a folder of its own.

# The modules of every part that forbids imports (torch and friends): numpy and the standard library only.
NUMPY_MODULES = [module for part in load_config().parts.values() if part.forbid_imports
                 for module, _ in part.contract]


@pytest.mark.parametrize("module", NUMPY_MODULES)
def test_reference_file_imports_only_numpy_and_the_standard_library(module):
    tree = ast.parse((REPO / "reference" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import in {module}.py"
            roots = [node.module.split(".")[0]]
        elif isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        else:
            continue
        for root in roots:
            assert root == "numpy" or root in sys.stdlib_module_names, f"{module}.py imports {root}"


def test_reference_files_import_from_a_bare_folder(tmp_path):
    for module in NUMPY_MODULES:
        shutil.copy(REPO / "reference" / f"{module}.py", tmp_path)
    # -I keeps PYTHONPATH and site-packages of the user out; numpy stays importable.
    code = (f"import os, sys; sys.path.insert(0, os.getcwd()); import {', '.join(NUMPY_MODULES)}; "
            f"print({NUMPY_MODULES[0]}.__file__)")
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent == tmp_path
