"""Tests of reference/cifar10_data.py on small fake data sets (never the real CIFAR-10)."""

from __future__ import annotations

import codecs
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from reference.cifar10_data import (
    ALL_FILES,
    BATCHES_DIRNAME,
    CIFAR10_LABELS,
    ENV_VAR,
    SPLIT_FILES,
    CIFAR10CorruptError,
    CIFAR10DataError,
    CIFAR10NotFoundError,
    find_data_dir,
    load_cifar10,
    write_fake_cifar10,
)

N_TRAIN_PER_BATCH = 20
N_TEST = 30


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Parent directory of a fake cifar-10-batches-py (shared, never modified)."""
    root = tmp_path_factory.mktemp("fake_cifar10")
    write_fake_cifar10(root, n_train_per_batch=N_TRAIN_PER_BATCH, n_test=N_TEST, seed=0)
    return root


@pytest.fixture
def fake_copy(fake_root: Path, tmp_path: Path) -> Path:
    """A private, modifiable copy of the fake batches directory."""
    return Path(shutil.copytree(fake_root / BATCHES_DIRNAME, tmp_path / BATCHES_DIRNAME))


# --------------------------------------------------------------------------- round trip


def test_fake_data_round_trip(fake_root: Path) -> None:
    images, labels = load_cifar10(fake_root, "train")
    assert images.shape == (5 * N_TRAIN_PER_BATCH, 3, 32, 32) and images.dtype == np.uint8
    assert labels.shape == (5 * N_TRAIN_PER_BATCH,) and labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == [10] * 10
    test_images, test_labels = load_cifar10(fake_root, "test")
    assert test_images.shape == (N_TEST, 3, 32, 32) and test_labels.shape == (N_TEST,)
    assert set(test_labels.tolist()) == set(range(10))
    assert images.std() > 10, "fake images should not be flat"


def test_fake_writer_is_deterministic(tmp_path: Path) -> None:
    a = write_fake_cifar10(tmp_path / "a", n_train_per_batch=5, n_test=5, seed=3)
    b = write_fake_cifar10(tmp_path / "b", n_train_per_batch=5, n_test=5, seed=3)
    for name in ALL_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_fake_files_match_original_format(fake_root: Path) -> None:
    """Python-2-style pickles: bytes keys with encoding='bytes', str keys with 'latin1'."""
    path = fake_root / BATCHES_DIRNAME / "data_batch_1"
    as_bytes = pickle.loads(path.read_bytes(), encoding="bytes")
    assert set(as_bytes) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert as_bytes[b"data"].dtype == np.uint8 and as_bytes[b"data"].shape == (N_TRAIN_PER_BATCH, 3072)
    as_str = pickle.loads(path.read_bytes(), encoding="latin1")  # what torchvision does
    assert set(as_str) == {"batch_label", "labels", "data", "filenames"}
    meta = pickle.loads((fake_root / BATCHES_DIRNAME / "batches.meta").read_bytes(), encoding="latin1")
    assert tuple(meta["label_names"]) == CIFAR10_LABELS


def test_row_layout_is_rgb_planes(tmp_path: Path) -> None:
    """A row is 1024 R, 1024 G, 1024 B values; images come back (N, 3, 32, 32)."""
    batches = write_fake_cifar10(tmp_path, n_train_per_batch=2, n_test=2)
    raw = pickle.loads((batches / "test_batch").read_bytes(), encoding="bytes")[b"data"]
    images, _ = load_cifar10(batches, "test")
    np.testing.assert_array_equal(images[1, 2].ravel(), raw[1, 2048:])  # blue plane of image 1


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_loads_modern_pickles_with_str_keys(tmp_path: Path, protocol: int) -> None:
    """Files re-pickled by Python 3 / NumPy (str keys, np.int64 labels) load too."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
    labels = np.array([0, 3, 9, 1])
    for name in ("test_batch",):
        with open(tmp_path / name, "wb") as f:
            pickle.dump({"data": data, "labels": list(labels), b"batch_label": b"x"}, f, protocol=protocol)
    images, loaded = load_cifar10(tmp_path, "test")
    np.testing.assert_array_equal(images.reshape(4, 3072), data)
    np.testing.assert_array_equal(loaded, labels)


def test_accepts_parent_or_batches_dir(fake_root: Path) -> None:
    via_parent = load_cifar10(fake_root, "test")[1]
    via_batches = load_cifar10(str(fake_root / BATCHES_DIRNAME), "test")[1]
    np.testing.assert_array_equal(via_parent, via_batches)


def test_unknown_split(fake_root: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        load_cifar10(fake_root, "validation")


# --------------------------------------------------------------------------- errors


def test_error_hierarchy() -> None:
    assert issubclass(CIFAR10NotFoundError, CIFAR10DataError)
    assert issubclass(CIFAR10CorruptError, CIFAR10DataError)


def test_missing_file_names_file_and_directory(fake_copy: Path) -> None:
    (fake_copy / "data_batch_3").unlink()
    with pytest.raises(CIFAR10NotFoundError) as info:
        load_cifar10(fake_copy, "train")
    message = str(info.value)
    assert "data_batch_3" in message and str(fake_copy.resolve()) in message
    load_cifar10(fake_copy, "test")  # the other split is still fine


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(CIFAR10NotFoundError, match="test_batch"):
        load_cifar10(tmp_path, "test")


@pytest.mark.parametrize("keep_fraction", [0.0, 0.01, 0.5, 0.999])
def test_truncated_file(fake_copy: Path, keep_fraction: float) -> None:
    path = fake_copy / "test_batch"
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * keep_fraction)])
    with pytest.raises(CIFAR10CorruptError, match="test_batch"):
        load_cifar10(fake_copy, "test")


@pytest.mark.parametrize("garbage", [
    np.random.default_rng(seed).bytes(5000) for seed in range(5)] + [
    b"\x80\x04\x95" + b"\xff" * 8,  # a FRAME longer than memory can hold (OverflowError)
])
def test_garbage_file(fake_copy: Path, garbage: bytes) -> None:
    (fake_copy / "test_batch").write_bytes(garbage)
    with pytest.raises(CIFAR10CorruptError, match="test_batch"):
        load_cifar10(fake_copy, "test")


def _write_batch(path: Path, obj: object) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


@pytest.mark.parametrize("batch, complaint", [
    ([1, 2, 3], "dict"),
    ({b"labels": [0]}, "data"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "labels"),
    ({b"data": np.zeros((2, 1000), np.uint8), b"labels": [0, 1]}, "shape"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "uint8"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]}, "labels"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "0..9"),
])
def test_wrong_content(tmp_path: Path, batch: object, complaint: str) -> None:
    _write_batch(tmp_path / "test_batch", batch)
    with pytest.raises(CIFAR10CorruptError, match=complaint):
        load_cifar10(tmp_path, "test")


class _WritesMarkerWithOpen:
    """Unpickling calls open(marker, "w"), which creates the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


class _WritesMarkerWithOsSystem:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


@pytest.mark.parametrize("payload_type", [_WritesMarkerWithOpen, _WritesMarkerWithOsSystem])
def test_malicious_pickle_does_not_run(tmp_path: Path, payload_type: type) -> None:
    probe_marker = tmp_path / "probe_marker"
    # The payload really works when loaded with an unrestricted unpickler ...
    pickle.loads(pickle.dumps(payload_type(probe_marker), protocol=2))
    assert probe_marker.exists()
    # ... but not through load_cifar10.
    marker = tmp_path / "marker"
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"evil": payload_type(marker)}
    _write_batch(tmp_path / "test_batch", batch)
    with pytest.raises(CIFAR10CorruptError, match="not allowed"):
        load_cifar10(tmp_path, "test")
    assert not marker.exists()


class _CodecsCall:
    """Unpickles as codecs.encode(text, encoding), written as the global _codecs.encode."""

    def __init__(self, text: str, encoding: str) -> None:
        self.args = (text, encoding)

    def __reduce__(self):
        return codecs.encode, self.args


def test_codecs_encode_only_latin1(tmp_path: Path) -> None:
    """_codecs.encode is allowed (protocol-2 bytes), but only with the latin1 codec."""
    _write_batch(tmp_path / "test_batch", {"data": _CodecsCall("\x01" * 3072, "latin1"), "labels": [0]})
    with pytest.raises(CIFAR10CorruptError, match="data"):  # bytes, not an array: but no refusal
        load_cifar10(tmp_path, "test")
    _write_batch(tmp_path / "test_batch", {"data": _CodecsCall("abc", "rot13"), "labels": [0]})
    with pytest.raises(CIFAR10CorruptError, match="refusing"):
        load_cifar10(tmp_path, "test")


# --------------------------------------------------------------------------- find_data_dir


def test_find_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write_fake_cifar10(tmp_path / "explicit", 1, 1)
    from_env = write_fake_cifar10(tmp_path / "env", 1, 1)
    default = write_fake_cifar10(tmp_path / "cwd" / "data", 1, 1)
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert find_data_dir(tmp_path / "explicit") == explicit
    assert find_data_dir(explicit) == explicit  # the batches directory itself is fine too
    assert find_data_dir(None) == from_env
    monkeypatch.setenv(ENV_VAR, "")
    assert find_data_dir(None).resolve() == default.resolve()
    monkeypatch.delenv(ENV_VAR)
    assert find_data_dir().resolve() == default.resolve()


def test_find_data_dir_does_not_fall_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong explicit directory is an error even when $GRADE_CIFAR10_DIR is valid."""
    write_fake_cifar10(tmp_path / "env", 1, 1)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    (tmp_path / "wrong").mkdir()
    with pytest.raises(CIFAR10NotFoundError) as info:
        find_data_dir(tmp_path / "wrong")
    message = str(info.value)
    assert str((tmp_path / "wrong").resolve()) in message
    assert all(name in message for name in ALL_FILES)
    assert "argument" in message


def test_find_data_dir_env_error_names_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(CIFAR10NotFoundError, match=ENV_VAR):
        find_data_dir(None)


def test_find_data_dir_needs_all_files(fake_copy: Path) -> None:
    (fake_copy / "batches.meta").unlink()
    with pytest.raises(CIFAR10NotFoundError, match="batches.meta"):
        find_data_dir(fake_copy)




def test_find_data_dir_for_one_split_needs_only_its_files(fake_copy: Path) -> None:
    for name in SPLIT_FILES["train"] + ("batches.meta",):
        (fake_copy / name).unlink()
    assert find_data_dir(fake_copy, "test") == fake_copy
    with pytest.raises(CIFAR10NotFoundError, match="data_batch_1"):
        find_data_dir(fake_copy, "train")
