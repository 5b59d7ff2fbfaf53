"""Speed of the reference numpy convolution against torch's, forward + backward, on the CPU.

    python -m benchmarks.bench_conv [--repeats 15] [--naive-repeats 3]

For x of (64, 3, 32, 32) and (64, 64, 16, 16), 64 filters of 3x3, stride 1, pad 1,
in float32 and float64, it times one forward and one backward pass of:
- torch.nn.functional.conv2d with autograd (the bar a fast student solution is held to),
- reference.fast_layers (im2col),
- reference.layers (naive loops, fewer repetitions as it is slow).
Repetitions of the implementations are interleaved, so a slow spell of the machine
hits all of them alike, and each time is the median of its repetitions.
"""

import argparse
import os
import statistics
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from reference.fast_layers import conv_backward_fast, conv_forward_fast
from reference.layers import conv_backward_naive, conv_forward_naive

INPUT_SHAPES = [(64, 3, 32, 32), (64, 64, 16, 16)]
DTYPES = [np.float32, np.float64]
NUM_FILTERS, KERNEL, STRIDE, PAD = 64, 3, 1, 1


def _numpy_pass(forward: Callable, backward: Callable, x, w, b, dout) -> Callable[[], None]:
    conv_param = {"stride": STRIDE, "pad": PAD}

    def run() -> None:
        _, cache = forward(x, w, b, conv_param)
        backward(dout, cache)

    return run


def _torch_pass(x, w, b, dout) -> Callable[[], None]:
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    dout_t = torch.tensor(dout)

    def run() -> None:
        for leaf in (xt, wt, bt):
            leaf.grad = None  # fresh gradients each time, as in a training step
        F.conv2d(xt, wt, bt, stride=STRIDE, padding=PAD).backward(dout_t)

    return run


def _seconds(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_case(shape: tuple[int, ...], dtype: type, repeats: int, naive_repeats: int) -> dict:
    """Median forward + backward times (ms) of torch, fast and naive on one input, and their ratios."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((NUM_FILTERS, shape[1], KERNEL, KERNEL)).astype(dtype)
    b = rng.standard_normal(NUM_FILTERS).astype(dtype)
    dout = rng.standard_normal((shape[0], NUM_FILTERS, shape[2], shape[3])).astype(dtype)
    passes = {
        "torch": _torch_pass(x, w, b, dout),
        "fast": _numpy_pass(conv_forward_fast, conv_backward_fast, x, w, b, dout),
        "naive": _numpy_pass(conv_forward_naive, conv_backward_naive, x, w, b, dout),
    }
    for run in passes.values():
        run()  # warm-up: first-call allocations and thread-pool start-up are not timed
    times: dict[str, list[float]] = {name: [] for name in passes}
    for rep in range(repeats):
        for name, run in passes.items():
            if name != "naive" or rep < naive_repeats:
                times[name].append(_seconds(run))
    ms = {name: 1e3 * statistics.median(values) for name, values in times.items()}
    return {
        "shape": shape,
        "dtype": np.dtype(dtype).name,
        "torch_ms": ms["torch"],
        "fast_ms": ms["fast"],
        "naive_ms": ms["naive"],
        "fast_over_torch": ms["fast"] / ms["torch"],
        "naive_over_fast": ms["naive"] / ms["fast"],
    }


def main(repeats: int = 15, naive_repeats: int = 3, verbose: bool = True) -> list[dict]:
    """Benchmark every input shape and dtype; print a table when verbose; return one dict per row.

    Each row has shape, dtype, torch_ms, fast_ms, naive_ms (medians of forward +
    backward), fast_over_torch (> 1: the numpy im2col is slower than torch) and
    naive_over_fast (how many times im2col beats the naive loops).
    """
    load_before = os.getloadavg()[0]
    rows = [bench_case(shape, dtype, repeats, naive_repeats) for shape in INPUT_SHAPES for dtype in DTYPES]
    if verbose:
        print(
            f"conv forward+backward, {NUM_FILTERS} filters {KERNEL}x{KERNEL}, stride {STRIDE}, pad {PAD}; "
            f"CPU, torch {torch.__version__} with {torch.get_num_threads()} threads, numpy {np.__version__}; "
            f"median of {repeats} interleaved runs ({naive_repeats} for naive)"
        )
        # Other processes skew every timing; the load average says how much to trust this run.
        print(f"{os.cpu_count()} CPUs, 1-minute load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
        print(f"{'input':>18} {'dtype':>8} {'torch ms':>9} {'fast ms':>9} {'naive ms':>9} {'fast/torch':>11} {'naive/fast':>11}")
        for row in rows:
            print(
                f"{str(row['shape']):>18} {row['dtype']:>8} {row['torch_ms']:9.2f} {row['fast_ms']:9.2f} "
                f"{row['naive_ms']:9.1f} {row['fast_over_torch']:10.2f}x {row['naive_over_fast']:10.1f}x"
            )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of torch and fast per case")
    parser.add_argument("--naive-repeats", type=int, default=3, help="timed runs of the slow naive layers")
    args = parser.parse_args()
    main(args.repeats, args.naive_repeats)
