"""Inputs and expected values of the visible layer tests, computed once with torch and stored.

The visible tests ship to students, so their expected values cannot come from reference/. They
come from torch.nn.functional in float64, an independent oracle; but calling torch while grading
would load it (about 200 MB) into the grader process, which must stay small (Gradescope gives
the whole container 768 MB, and the CIFAR-10 part already runs two torch children). So the
arrays are computed by ``python -m autograder.suites.visible_cases`` and stored, inputs included
(no numpy version's random stream can then move an input away from its expected value), in
``visible_cases.npz``. ``tests/suites/test_visible_cases.py`` recomputes every array with torch
and fails if the file is stale.
"""
from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from autograder.suites.checks import linspace_array, random_array

STORE = Path(__file__).with_name("visible_cases.npz")


@dataclasses.dataclass(frozen=True)
class VisibleCase:
    """One visible check: its parameters (conv_param or pool_param) and its named arrays."""
    params: dict
    arrays: dict

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def gradients(self) -> dict:
        """The expected gradients, in a backward pass's return order: dx (, dw, db)."""
        return {name: self.arrays[name] for name in ("dx", "dw", "db") if name in self.arrays}


def _conv(p: dict, a: dict) -> dict:
    return torch_conv(a["x"], a["w"], a["b"], p, a.get("dout"))


def _pool(kind: str) -> Callable[[dict, dict], dict]:
    return lambda p, a: torch_pool(kind, a["x"], p, a.get("dout"))


POOL_2x2 = {"pool_height": 2, "pool_width": 2, "stride": 2}

# name -> (params, the inputs, the oracle that maps (params, inputs) to the expected arrays)
DEFINITIONS: dict[str, tuple[dict, Callable[[], dict], Callable[[dict, dict], dict]]] = {
    # CS231n's own conv forward check.
    "conv_forward_cs231n": (
        {"stride": 2, "pad": 1},
        lambda: {"x": linspace_array((2, 3, 4, 4), -0.1, 0.5),
                 "w": linspace_array((3, 3, 4, 4), -0.2, 0.3),
                 "b": linspace_array((3,), -0.1, 0.2)},
        _conv),
    "conv_small": (
        {"stride": 1, "pad": 1},
        lambda: {"x": random_array((4, 3, 5, 5), 1), "w": random_array((2, 3, 3, 3), 2),
                 "b": random_array((2,), 3), "dout": random_array((4, 2, 5, 5), 4)},
        _conv),
    "max_pool_cs231n": (
        POOL_2x2,
        lambda: {"x": linspace_array((2, 3, 4, 4), -0.3, 0.4)},
        _pool("max")),
    "max_pool_small": (
        POOL_2x2,
        lambda: {"x": random_array((3, 2, 8, 8), 5), "dout": random_array((3, 2, 4, 4), 6)},
        _pool("max")),
    "avg_pool_small": (
        POOL_2x2,
        lambda: {"x": random_array((2, 3, 6, 6), 7), "dout": random_array((2, 3, 3, 3), 8)},
        _pool("avg")),
    "conv_cifar_sized": (
        {"stride": 1, "pad": 1},
        lambda: {"x": random_array((2, 3, 32, 32), 1), "w": random_array((8, 3, 3, 3), 2),
                 "b": random_array((8,), 3), "dout": random_array((2, 8, 32, 32), 4)},
        _conv),
    "max_pool_cifar_sized": (
        POOL_2x2,
        lambda: {"x": random_array((2, 8, 32, 32), 5), "dout": random_array((2, 8, 16, 16), 6)},
        _pool("max")),
}


def visible_case(name: str) -> VisibleCase:
    """The stored case ``name`` (a key of ``DEFINITIONS``)."""
    params = DEFINITIONS[name][0]
    prefix = f"{name}/"
    return VisibleCase(dict(params), {key[len(prefix):]: value for key, value in _stored().items()
                                      if key.startswith(prefix)})


@functools.cache
def _stored() -> dict:
    with np.load(STORE, allow_pickle=False) as store:
        return {key: store[key] for key in store.files}


def compute_all() -> dict:
    """Every case's inputs and torch's expected values, as the flat ``name/array`` dict stored."""
    flat = {}
    for name, (params, inputs, oracle) in DEFINITIONS.items():
        arrays = inputs()
        arrays.update(oracle(params, arrays))
        flat.update({f"{name}/{key}": value for key, value in arrays.items()})
    return flat


# --- torch as the oracle (only when computing the store; never while grading) -------------

def _torch_leaf(a: np.ndarray):
    import torch

    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def torch_conv(x, w, b, conv_param: dict, dout=None) -> dict:
    """out (and dx, dw, db for ``dout``) of torch's float64 conv2d."""
    import torch.nn.functional as F

    xt, wt, bt = _torch_leaf(x), _torch_leaf(w), _torch_leaf(b)
    out = F.conv2d(xt, wt, bt, stride=conv_param["stride"], padding=conv_param["pad"])
    return _with_gradients(out, dout, dx=xt, dw=wt, db=bt)


def torch_pool(kind: str, x, pool_param: dict, dout=None) -> dict:
    """out (and dx for ``dout``) of torch's float64 max_pool2d / avg_pool2d."""
    import torch.nn.functional as F

    xt = _torch_leaf(x)
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    out = pool(xt, (pool_param["pool_height"], pool_param["pool_width"]), pool_param["stride"])
    return _with_gradients(out, dout, dx=xt)


def _with_gradients(out, dout, **leaves) -> dict:
    """``out``, and, for an upstream gradient ``dout``, the gradient of each named leaf."""
    import torch

    result = {"out": out.detach().numpy()}
    if dout is not None:
        out.backward(torch.as_tensor(dout, dtype=torch.float64))
        result.update({name: leaf.grad.numpy() for name, leaf in leaves.items()})
    return result


def main() -> None:
    flat = compute_all()
    np.savez_compressed(STORE, **flat)
    print(f"wrote {len(flat)} arrays of {len(DEFINITIONS)} cases to {STORE} "
          f"({STORE.stat().st_size / 1024:.0f} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
