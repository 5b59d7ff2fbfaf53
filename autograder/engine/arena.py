"""Memory the grader owns and the sandboxed child maps: the inputs and outputs of timed runs.

A timed request runs the function ``repeat`` times; run ``r`` reads slot ``r``'s input and writes
its results into slot ``r``'s outputs. The grader fills every input before the request (a whole
new array per run, drawn from a generator seeded by a secret that never leaves this process) and
fills every output with NaN, so a run that wrote nothing cannot match anything. When the reply
comes the grader copies the outputs of the runs that it will check, chosen by the same secret,
and only then sends anything else: outputs written later (by a thread that kept working after
the reply) come too late, and which runs are checked cannot be known in advance, so every run
must do its work.

The arena is a file in the sandbox's scratch folder, which the child sees at the same path; in
the namespace modes nothing else can see it. Its size is bounded by ``max_bytes`` (the timing
plan's ``arena_mb``), which caps the repeats of a timed request.
"""
from __future__ import annotations

import contextlib
import dataclasses
import mmap
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .childside.protocol import Handle

# An 8-bit image: any value in [0, 255]; every other varied dtype is floating-point.
_IMAGE_DTYPE = np.dtype(np.uint8)


@dataclasses.dataclass(frozen=True)
class Slot:
    """One array of a run's slot: where it sits (bytes from the slot's start), its shape, dtype."""

    offset: int
    shape: tuple
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def wire(self) -> dict:
        return {"offset": self.offset, "shape": list(self.shape), "dtype": self.dtype.str}


def varied_position(args: tuple) -> int | None:
    """The argument that gets a whole new value in every run: the first floating-point or uint8
    (image) array. Integer arrays other than images (labels) are left alone: a random label
    may be invalid."""
    return next((i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.size
                 and (a.dtype.kind == "f" or a.dtype == _IMAGE_DTYPE)), None)


def output_layout(value, at: tuple = ()) -> list:
    """(path, shape, dtype) of every array and number in a result (paths index into tuples and
    lists); handles (objects kept in the child), strings and None are not compared."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return [(at, tuple(value.shape), value.dtype)]
    if isinstance(value, (float, int, np.number)) and not isinstance(value, bool):
        return [(at, (), np.dtype(np.float64))]
    if isinstance(value, (tuple, list)) and not isinstance(value, Handle):
        return [entry for i, item in enumerate(value) for entry in output_layout(item, at + (i,))]
    return []


class Arena:
    """Slots for up to ``capacity`` runs of one timed call: an input like ``template`` (argument
    ``position``) and outputs laid out like ``sample`` (a result of the same call)."""

    def __init__(self, folder: Path, owner: int | None, position: int, template: np.ndarray,
                 sample, max_bytes: int) -> None:
        self.position, self.template = position, template
        self.input = Slot(0, tuple(template.shape), template.dtype)
        offset, self.outputs = _aligned(self.input.nbytes), []
        for path, shape, dtype in output_layout(sample):
            self.outputs.append((path, Slot(offset, shape, np.dtype(dtype))))
            offset = _aligned(offset + self.outputs[-1][1].nbytes)
        self.slot_bytes = max(offset, 64)
        self.capacity = max(1, max_bytes // self.slot_bytes)
        self._pool = None  # drawn at the first fill (it needs the secret generator)
        self.path = Path(folder) / f"arena-{secrets.token_hex(8)}"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if owner is not None:  # the child runs as a uid of its own
                os.fchown(fd, owner, owner)
            os.ftruncate(fd, self.capacity * self.slot_bytes)
            self._map = mmap.mmap(fd, self.capacity * self.slot_bytes)
        finally:
            os.close(fd)

    def fill(self, rng: np.random.Generator, repeat: int) -> None:
        """A fresh input in each of the first ``repeat`` slots, NaN (or zero) in their outputs."""
        if self._pool is None:
            self._pool = _random_values(self.template.dtype, 2 * self.template.size, rng)
        for run in range(repeat):
            _fill_from_pool(self._view(run, self.input).reshape(-1), self._pool, rng)
            for _, slot in self.outputs:
                self._view(run, slot)[...] = np.nan if slot.dtype.kind == "f" else 0

    def input_of(self, run: int) -> np.ndarray:
        return self._view(run, self.input).copy()

    def outputs_of(self, run: int) -> list:
        """(path, a copy of the array) of every output of slot ``run``."""
        return [(path, self._view(run, slot).copy()) for path, slot in self.outputs]

    def request(self) -> dict:
        """What the child needs to use the arena (the ``timed`` field of a call request)."""
        return {"path": str(self.path), "slot_bytes": self.slot_bytes, "arg": self.position,
                "input": self.input.wire(),
                "outputs": [{"at": list(path), **slot.wire()} for path, slot in self.outputs]}

    def close(self) -> None:
        try:
            self._map.close()
        except BufferError:  # a view still exported: the map goes when it does
            pass
        self.path.unlink(missing_ok=True)

    def _view(self, run: int, slot: Slot) -> np.ndarray:
        return np.frombuffer(self._map, dtype=slot.dtype, count=int(np.prod(slot.shape, dtype=np.int64)),
                             offset=run * self.slot_bytes + slot.offset).reshape(slot.shape)


def _aligned(offset: int) -> int:
    return (offset + 63) // 64 * 64


def _random_values(dtype: np.dtype, count: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 images anywhere in [0, 255]; floats standard normal."""
    if dtype == _IMAGE_DTYPE:
        return rng.integers(0, 256, size=count, dtype=np.uint8)
    return rng.standard_normal(count).astype(dtype)


def _fill_from_pool(flat: np.ndarray, pool: np.ndarray, rng: np.random.Generator) -> None:
    """A whole new input at the cost of a copy: a window of the secret pool at a random offset,
    every element then changed at random in the same pass (floats: a scale of either sign;
    images: a random non-zero byte XORed in). Drawing fresh values for every element costs
    several times the timed work of a fast function; a second pass (a shift as well) cost
    0.14 s of the fast_layers part's 5.5 s and hid nothing more (layers carry a shift through
    as they carry a scale)."""
    window = pool[int(rng.integers(len(pool) - flat.size + 1)):][:flat.size]
    if flat.dtype == _IMAGE_DTYPE:
        np.bitwise_xor(window, np.uint8(rng.integers(1, 256)), out=flat)
        return
    scale = rng.uniform(0.5, 2.0) * rng.choice((-1.0, 1.0))
    np.multiply(window, flat.dtype.type(scale), out=flat)


def with_outputs(value, outputs: list):
    """``value`` (a result of the call) with the arrays at ``outputs``' paths replaced: a timed
    run's result, rebuilt for comparison. Items the arena does not hold (handles) stay."""
    if not outputs:
        return value
    replaced = dict(outputs)
    if () in replaced:
        return replaced[()] if isinstance(value, np.ndarray) else float(replaced[()])

    def rebuild(item, at: tuple):
        if at in replaced:
            array = replaced[at]
            return array if isinstance(item, np.ndarray) else float(array)
        if isinstance(item, (tuple, list)):
            return type(item)(rebuild(v, at + (i,)) for i, v in enumerate(item))
        return item

    return rebuild(value, ())


class SharedArgs:
    """The array arguments of one call, placed in memory the grader owns, for the purity
    checks: after the call the grader reads them there (``changed``), and overwrites one at a
    time (``scrambled``) to see whether a returned array follows it (a view of that input).
    The child's own word on either is never asked."""

    def __init__(self, folder: Path, owner: int | None, args: tuple) -> None:
        self.copies = {i: np.array(a) for i, a in enumerate(args)
                       if isinstance(a, np.ndarray) and a.size and a.dtype.kind in "fiub"}
        self.slots, offset = {}, 0
        for position, array in self.copies.items():
            self.slots[position] = Slot(offset, tuple(array.shape), array.dtype)
            offset = _aligned(offset + array.nbytes)
        self.path = Path(folder) / f"args-{secrets.token_hex(8)}"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if owner is not None:
                os.fchown(fd, owner, owner)
            os.ftruncate(fd, max(offset, 64))
            self._map = mmap.mmap(fd, max(offset, 64))
        finally:
            os.close(fd)
        for position, array in self.copies.items():
            self._view(position)[...] = array

    def request(self) -> dict:
        """The ``shared`` field of a call request: where each array argument lies."""
        return {"path": str(self.path),
                "args": [{"position": p, **slot.wire()} for p, slot in self.slots.items()]}

    def changed(self) -> list:
        """Positions of the arguments whose memory no longer holds what the grader put there."""
        return [p for p, array in self.copies.items()
                if not np.array_equal(self._view(p), array, equal_nan=array.dtype.kind == "f")]

    @contextlib.contextmanager
    def scrambled(self, position: int) -> Iterator[None]:
        """Argument ``position`` holds other values inside the block (every element changed),
        then what it held before."""
        view, saved = self._view(position), self._view(position).copy()
        view[...] = ~saved if saved.dtype.kind in "iub" else saved + (np.abs(saved) + 1)
        try:
            yield
        finally:
            view[...] = saved

    def close(self) -> None:
        try:
            self._map.close()
        except BufferError:
            pass
        self.path.unlink(missing_ok=True)

    def _view(self, position: int) -> np.ndarray:
        slot = self.slots[position]
        return np.frombuffer(self._map, dtype=slot.dtype, count=int(np.prod(slot.shape, dtype=np.int64)),
                             offset=slot.offset).reshape(slot.shape)
