"""CIFAR-10 on disk: find it, load it safely, and fake it for tests (numpy only).

The on-disk format is torchvision's / the original "python version" layout::

    cifar-10-batches-py/
        data_batch_1 .. data_batch_5   50,000 training images (10,000 per file)
        test_batch                     10,000 test images
        batches.meta                   label names

Each batch file is a pickled dict with ``data`` (uint8 ndarray of shape (n, 3072); a row is
1024 red, then 1024 green, then 1024 blue values, each a row-major 32x32 plane) and
``labels`` (n ints in 0..9), plus ``batch_label`` and ``filenames``. The original files are
Python-2 pickles, so the keys may come back as ``bytes`` or ``str``; both are accepted.

Pickles can run arbitrary code when loaded, and a data directory is user-supplied input, so
every file goes through ``_RestrictedUnpickler``, which resolves only the handful of NumPy
globals needed to rebuild a uint8 array.

Images are returned channel-first, ``(N, 3, 32, 32)`` uint8, because that is the file's own
row order (a reshape, no copy) and what PyTorch convolutions take.

No torch here: the grader loads the test set with this module, and importing torch would add
about 200 MB to the trusted process (batching for training is ``cifar10_loader.py``).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np

CIFAR10_LABELS: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
BATCHES_DIRNAME = "cifar-10-batches-py"
ENV_VAR = "GRADE_CIFAR10_DIR"
DEFAULT_DIR = Path("data")

SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
META_FILE = "batches.meta"
ALL_FILES: tuple[str, ...] = SPLIT_FILES["train"] + SPLIT_FILES["test"] + (META_FILE,)

IMAGE_SHAPE = (3, 32, 32)
ROW_LENGTH = 3 * 32 * 32


class CIFAR10DataError(ValueError):
    """Base class: the CIFAR-10 files could not be found or read."""


class CIFAR10NotFoundError(CIFAR10DataError):
    """The directory does not hold the expected CIFAR-10 files."""


class CIFAR10CorruptError(CIFAR10DataError):
    """A CIFAR-10 file exists but is truncated, malformed, or not the expected shape."""


# --------------------------------------------------------------------------- finding the files


def find_data_dir(explicit: str | Path | None = None, split: str | None = None) -> Path:
    """Return the directory that directly holds the CIFAR-10 batch files.

    The first location that is *given* wins; a later one is never a silent fallback for a
    wrong earlier one:

    1. ``explicit`` (e.g. a ``--data-dir`` argument), if not None;
    2. the environment variable ``GRADE_CIFAR10_DIR``, if set and non-empty;
    3. ``./data`` (relative to the current working directory).

    Each may name either the parent directory (``data/``) or the ``cifar-10-batches-py``
    directory itself. All seven standard files must be present, or, with ``split``, that
    split's files only (grading reads ``test_batch`` alone, which is all a Gradescope
    package carries).

    Raises:
        CIFAR10NotFoundError: the chosen location lacks some of the files; the message names
            the directory searched, where it came from, and the missing files.
    """
    required = ALL_FILES if split is None else SPLIT_FILES[split]
    if explicit is not None:
        return _resolve_batches_dir(Path(explicit), required, source="the argument given")
    env_value = os.environ.get(ENV_VAR, "")
    if env_value:
        return _resolve_batches_dir(Path(env_value), required, source=f"${ENV_VAR}")
    return _resolve_batches_dir(DEFAULT_DIR, required, source="the default ./data")


def find_test_set(explicit: str | Path | None = None) -> Path:
    """The directory holding ``test_batch`` (found as ``find_data_dir`` does), checked to load:
    how the grader finds the cifar10 part's data before grading starts (its part.toml)."""
    folder = find_data_dir(explicit, "test")
    load_cifar10(folder, "test")
    return folder


def _resolve_batches_dir(root: Path, required: tuple[str, ...], source: str) -> Path:
    """Return ``root/cifar-10-batches-py`` or ``root`` itself, whichever holds ``required``."""
    for candidate in (root / BATCHES_DIRNAME, root):
        if all((candidate / name).is_file() for name in required):
            return candidate
    searched = root / BATCHES_DIRNAME if (root / BATCHES_DIRNAME).is_dir() else root
    missing = [name for name in required if not (searched / name).is_file()]
    raise CIFAR10NotFoundError(
        f"CIFAR-10 not found in {searched.resolve()} (from {source}): missing {', '.join(missing)}. "
        f"Expected the files {', '.join(required)} in that directory or in its "
        f"'{BATCHES_DIRNAME}' subdirectory (torchvision's on-disk layout). Pass the directory "
        f"explicitly or set ${ENV_VAR}."
    )


# --------------------------------------------------------------------------- safe unpickling


def _reconstruct() -> Callable[..., Any]:
    """NumPy's array-rebuilding function; it moved from numpy.core to numpy._core in NumPy 2."""
    try:
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def _scalar() -> Callable[..., Any]:
    """NumPy's scalar-rebuilding function (labels pickled as a list of np.int64)."""
    try:
        from numpy._core.multiarray import scalar as fn
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import scalar as fn
    return fn


def _frombuffer() -> Callable[..., Any]:
    """NumPy's rebuilding function for arrays pickled with protocol 5."""
    try:
        from numpy._core.numeric import _frombuffer as fn
    except ImportError:  # NumPy 1.x
        from numpy.core.numeric import _frombuffer as fn
    return fn


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """Python 3 pickles ``bytes`` at protocol 2 as ``_codecs.encode(text, 'latin1')``.

    Only that one use is allowed: other codecs are refused rather than looked up.
    """
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The complete list of globals a CIFAR-10 pickle may reference."""
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = _reconstruct()
        allowed[(f"{package}.multiarray", "scalar")] = _scalar()
        allowed[(f"{package}.numeric", "_frombuffer")] = _frombuffer()
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild NumPy arrays and nothing else callable.

    ``find_class`` is the only way a pickle reaches Python objects; refusing everything
    outside ``_allowed_globals`` means a crafted file cannot call ``os.system`` and the like.
    """

    _ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a CIFAR-10 file"
            ) from None


def _unpickle(path: Path) -> Any:
    """Load one pickle file safely; Python-2 ``str`` objects come back as ``bytes``."""
    with open(path, "rb") as f:
        return _RestrictedUnpickler(f, encoding="bytes").load()


# --------------------------------------------------------------------------- loading


def load_cifar10(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of CIFAR-10 from the on-disk batch files.

    Args:
        data_dir: the ``cifar-10-batches-py`` directory or its parent.
        split: ``"train"`` (data_batch_1..5, 50,000 images) or ``"test"`` (test_batch, 10,000).

    Returns:
        ``(images, labels)``: ``images`` uint8 of shape (N, 3, 32, 32), channel-first RGB in
        0..255; ``labels`` int64 of shape (N,) in 0..9, indexing ``CIFAR10_LABELS``.

    Raises:
        ValueError: ``split`` is not "train" or "test".
        CIFAR10NotFoundError: a batch file of the split is missing.
        CIFAR10CorruptError: a batch file is truncated, not a pickle, refers to a forbidden
            global, or holds data of the wrong type or shape.
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    batches_dir = _resolve_batches_dir(Path(data_dir), SPLIT_FILES[split], source="the argument given")
    parts = [_load_batch(batches_dir / name) for name in SPLIT_FILES[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return images, labels


def _load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file into ((n, 3, 32, 32) uint8, (n,) int64), validating everything."""
    try:
        batch = _unpickle(path)
    except Exception as exc:
        # Truncated files raise EOFError or UnpicklingError; garbage raises almost anything
        # (ValueError, KeyError, struct.error, OverflowError for a huge FRAME length, ...).
        raise CIFAR10CorruptError(
            f"{path} is not a readable CIFAR-10 batch file ({type(exc).__name__}: {exc}); "
            f"re-create or re-download it"
        ) from exc
    if not isinstance(batch, dict):
        raise CIFAR10CorruptError(f"{path} should hold a dict, found {type(batch).__name__}")
    data = _get(batch, "data", path)
    labels = _get(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != ROW_LENGTH:
        described = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) \
            else type(data).__name__
        raise CIFAR10CorruptError(
            f"{path}: 'data' should be a uint8 array of shape (n, {ROW_LENGTH}), found {described}"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise CIFAR10CorruptError(f"{path}: 'labels' should be a list of ints ({exc})") from exc
    if labels.shape != (len(data),):
        raise CIFAR10CorruptError(
            f"{path}: {len(data)} images but 'labels' has shape {labels.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CIFAR10_LABELS)):
        raise CIFAR10CorruptError(f"{path}: labels must lie in 0..9, found {labels.min()}..{labels.max()}")
    return data.reshape(len(data), *IMAGE_SHAPE), labels


def _get(batch: dict, key: str, path: Path) -> Any:
    """``batch[key]`` whether the pickle stored the key as bytes (Python 2) or str."""
    for k in (key.encode("ascii"), key):
        if k in batch:
            return batch[k]
    raise CIFAR10CorruptError(f"{path}: no '{key}' entry (keys: {sorted(map(repr, batch))})")


# --------------------------------------------------------------------------- fake data for tests


# Ten well-separated base colours, one per class, as RGB in 0..255.
_FAKE_COLOURS = np.array([
    [220, 40, 40], [40, 200, 40], [40, 60, 220], [230, 220, 50], [200, 50, 200],
    [50, 210, 210], [240, 140, 30], [120, 70, 20], [150, 150, 150], [20, 20, 20],
], dtype=np.float32)


def write_fake_cifar10(out_dir: str | Path, n_train_per_batch: int = 100, n_test: int = 100,
                       seed: int = 0) -> Path:
    """Write a small, valid, learnable CIFAR-10 look-alike in exactly the on-disk format.

    Class ``c`` is drawn as its own base colour plus a stripe pattern of class-specific
    orientation and frequency, with a random phase, brightness jitter and pixel noise, so a
    small CNN learns it within a few epochs but not after a single step. Labels are balanced
    (as far as the counts allow) and shuffled.

    The files are Python-2-style protocol-2 pickles like the originals, so they load with
    ``load_cifar10``, with ``pickle.load(f, encoding="bytes")`` and with torchvision.

    Args:
        out_dir: parent directory; the files go to ``out_dir/cifar-10-batches-py``.
        n_train_per_batch: images in each of data_batch_1..5.
        n_test: images in test_batch.
        seed: seed of the NumPy generator; the same arguments give the same bytes.

    Returns:
        The ``cifar-10-batches-py`` directory written.
    """
    rng = np.random.default_rng(seed)
    batches_dir = Path(out_dir) / BATCHES_DIRNAME
    batches_dir.mkdir(parents=True, exist_ok=True)
    names = SPLIT_FILES["train"] + SPLIT_FILES["test"]
    sizes = [n_train_per_batch] * len(SPLIT_FILES["train"]) + [n_test]
    for index, (name, n) in enumerate(zip(names, sizes)):
        labels = rng.permutation(np.arange(n) % len(CIFAR10_LABELS))
        images = _fake_images(labels, rng)
        batch_label = f"training batch {index + 1} of 5" if name != "test_batch" else "testing batch 1 of 1"
        _write_py2_pickle({
            _Py2Str(b"batch_label"): _Py2Str(batch_label.encode()),
            _Py2Str(b"labels"): [int(v) for v in labels],
            _Py2Str(b"data"): images.reshape(n, ROW_LENGTH),
            _Py2Str(b"filenames"): [_Py2Str(f"fake_{name}_{i:05d}.png".encode()) for i in range(n)],
        }, batches_dir / name)
    _write_py2_pickle({
        _Py2Str(b"num_cases_per_batch"): n_train_per_batch,
        _Py2Str(b"label_names"): [_Py2Str(label.encode()) for label in CIFAR10_LABELS],
        _Py2Str(b"num_vis"): ROW_LENGTH,
    }, batches_dir / META_FILE)
    return batches_dir


def _fake_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) labels -> (n, 3, 32, 32) uint8 images of class colour x class stripes + noise."""
    n = len(labels)
    yy, xx = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    angle = labels[:, None, None] * (np.pi / len(CIFAR10_LABELS))     # (n, 1, 1)
    freq = 0.25 + 0.1 * (labels[:, None, None] % 3)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    stripes = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)  # (n, 32, 32)
    brightness = rng.uniform(0.7, 1.1, size=(n, 1, 1, 1))
    colour = _FAKE_COLOURS[labels][:, :, None, None]                   # (n, 3, 1, 1)
    images = colour * brightness * (0.75 + 0.25 * stripes[:, None])    # (n, 3, 32, 32)
    images += rng.normal(0, 25, size=images.shape)
    return np.clip(images, 0, 255).astype(np.uint8)


class _Py2Str(bytes):
    """bytes written as a Python-2 ``str`` (BINSTRING), as in the original CIFAR-10 files."""


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes the layout of the original (Python 2 cPickle) files.

    ``_Py2Str`` becomes a Python-2 str, so ``encoding="bytes"`` gives bytes keys and
    ``encoding="latin1"`` (torchvision) gives str keys; uint8 arrays are rebuilt through
    ``numpy.core.multiarray._reconstruct``, which NumPy 1.x and 2.x both resolve. Only the
    pure-Python pickler (``pickle._Pickler``) lets us override how these types are written.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + bytes(obj))
        self.memoize(obj)

    def save_uint8_array(self, obj: np.ndarray) -> None:
        if obj.dtype != np.uint8:
            raise TypeError(f"only uint8 arrays are written, got {obj.dtype}")
        obj = np.ascontiguousarray(obj)
        write = self.write
        write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
        write(pickle.GLOBAL + b"numpy\nndarray\n")
        self.save((0,))
        self.save(_Py2Str(b"b"))
        write(pickle.TUPLE3 + pickle.REDUCE)
        # ndarray state: (version, shape, dtype, is_fortran, raw bytes)
        write(pickle.MARK)
        self.save(1)
        self.save(tuple(int(s) for s in obj.shape))
        write(pickle.GLOBAL + b"numpy\ndtype\n")
        self.save("u1")
        self.save(False)
        self.save(True)
        write(pickle.TUPLE3 + pickle.REDUCE)
        write(pickle.MARK)  # dtype state: (version, byte order, subarray, names, fields, ...)
        for value in (3, "|", None, None, None, -1, -1, 0):
            self.save(value)
        write(pickle.TUPLE + pickle.BUILD)
        self.save(False)
        self.save(_Py2Str(obj.tobytes()))
        write(pickle.TUPLE + pickle.BUILD)

    dispatch[_Py2Str] = save_py2str
    dispatch[np.ndarray] = save_uint8_array


def _write_py2_pickle(obj: Any, path: Path) -> None:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    path.write_bytes(buffer.getvalue())
