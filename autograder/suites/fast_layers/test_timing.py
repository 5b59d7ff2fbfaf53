"""Speed of the fast layers against the reference's, on CPU-sized batches, with tiered credit.

Each test first checks the student's result on the very inputs it times (a wrong result earns no
speed points, however fast), then times the student's function and the reference's, interleaved,
each in its own sandbox (``autograder/engine/timing.py``). The credit tiers are in
``autograder/thresholds.toml``, keyed by function name.

The shapes favour many output positions over a big batch: an implementation that loops over
output positions in Python is then 30x to 100x slower than the reference, far outside every tier,
while any vectorised one (im2col, or a loop over the kernel's few offsets) stays close to it.
Each grade draws the inputs from its secret seed (``hidden_rng``), as the other hidden tests do
(every timed run then gets an input of its own, ``engine.arena``); ``TIMED_CALLS``, fixed inputs
of the same shapes, is what ``grade calibrate`` times the reference on.
"""
import numpy as np
import pytest

MODULE = "fast_layers"
# Caches stay in each process behind a handle and only go back to that process's backward pass.
OPAQUE = {"conv_forward_fast": [1], "max_pool_forward_fast": [1]}


# Plain normal draws: a timed result is checked against the reference's on the same input, so
# no value needs keeping apart (and sorting 100,000 values per test would buy nothing).
def conv_inputs(rng: np.random.Generator) -> tuple:
    x, w, b = (rng.standard_normal(shape) for shape in ((4, 3, 64, 64), (8, 3, 3, 3), (8,)))
    return x, w, b, {"stride": 1, "pad": 1}


def pool_inputs(rng: np.random.Generator) -> tuple:
    return rng.standard_normal((4, 3, 96, 96)), {"pool_height": 2, "pool_width": 2, "stride": 2}


def backward_inputs(forward: str, forward_args: tuple, dout: np.ndarray):
    """Builder of a backward pass's inputs: each side runs its own forward pass for its cache."""

    def build(side) -> tuple:
        _, cache = getattr(side.module(MODULE, OPAQUE), forward)(*forward_args)
        return dout, cache

    return build


def _timed(function: str, args) -> dict:
    return dict(function=function, args=args, module=MODULE, opaque=OPAQUE)


def _timed_calls(rng: np.random.Generator) -> dict:
    """Item name (its key in thresholds.toml) -> keyword arguments of ``timing.compare``."""
    return {
        "conv_forward_fast": _timed("conv_forward_fast", conv_inputs(rng)),
        "conv_backward_fast": _timed("conv_backward_fast", backward_inputs(
            "conv_forward_fast", conv_inputs(rng), rng.standard_normal((4, 8, 64, 64)))),
        "max_pool_forward_fast": _timed("max_pool_forward_fast", pool_inputs(rng)),
        "max_pool_backward_fast": _timed("max_pool_backward_fast", backward_inputs(
            "max_pool_forward_fast", pool_inputs(rng), rng.standard_normal((4, 3, 48, 48)))),
    }


TIMED_CALLS = _timed_calls(np.random.default_rng(0))  # any inputs of these shapes time alike


def _compare(timing, item: str, rng: np.random.Generator) -> None:
    timing.compare(**_timed_calls(rng)[item], item=item)


@pytest.mark.points(1.5)
@pytest.mark.hint("Vectorise over the batch and the output positions: loop at most over the "
                  "kernel's offsets (HH * WW), or build an im2col matrix and use one matmul.")
def test_conv_forward_fast_speed(timing, hidden_rng):
    """conv_forward_fast: speed compared with the reference"""
    _compare(timing, "conv_forward_fast", hidden_rng)


@pytest.mark.points(1.5)
@pytest.mark.hint("Reuse what the forward pass cached (e.g. its im2col matrix); scatter the "
                  "gradient back with a loop over the kernel's offsets at most.")
def test_conv_backward_fast_speed(timing, hidden_rng):
    """conv_backward_fast: speed compared with the reference"""
    _compare(timing, "conv_backward_fast", hidden_rng)


@pytest.mark.points(0.5)
@pytest.mark.hint("Take the maximum over the pooling window with array operations (a reshape, "
                  "or a loop over the window's few offsets), never a loop over output positions.")
def test_max_pool_forward_fast_speed(timing, hidden_rng):
    """max_pool_forward_fast: speed compared with the reference"""
    _compare(timing, "max_pool_forward_fast", hidden_rng)


@pytest.mark.points(0.5)
@pytest.mark.hint("Route each window's gradient with a mask built by array operations; loop at "
                  "most over the window's offsets.")
def test_max_pool_backward_fast_speed(timing, hidden_rng):
    """max_pool_backward_fast: speed compared with the reference"""
    _compare(timing, "max_pool_backward_fast", hidden_rng)
