"""The wire format: round trips, and strictness against a hostile sender."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from autograder.engine.childside import protocol
from autograder.engine.childside.protocol import Handle, ProtocolError, Unencodable


def roundtrip(value):
    buffers = []
    tree = protocol.encode(value, buffers)
    message = b"".join(protocol.pack({"v": tree}, buffers))
    reader = protocol.MessageReader(1 << 30)
    reader.feed(message)
    header, bufs = reader.take()
    return protocol.decode(header["v"], bufs)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "uint8", "bool", "complex128"])
def test_arrays_round_trip_with_dtype_and_shape(dtype):
    arr = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    out = roundtrip(arr)
    assert out.dtype == arr.dtype and out.shape == arr.shape and np.array_equal(out, arr)
    assert out.flags.writeable


def test_non_contiguous_and_subclass_arrays_become_plain_arrays():
    class Sneaky(np.ndarray):
        def __eq__(self, other):
            return True

    arr = np.arange(12.0).reshape(3, 4)[:, ::2].view(Sneaky)
    out = roundtrip(arr)
    assert type(out) is np.ndarray
    assert np.array_equal(out, np.asarray(arr))


def test_nested_values_and_special_floats():
    value = {"a": (1, 2.5, None, True), "b": [b"xy", "text"], "c": float("nan"), "d": -math.inf,
             "e": np.float32(1.5), 3: "int key"}
    out = roundtrip(value)
    assert out["a"] == (1, 2.5, None, True) and out["b"] == [b"xy", "text"]
    assert math.isnan(out["c"]) and out["d"] == -math.inf and out[3] == "int key"
    assert out["e"].dtype == np.float32 and out["e"] == 1.5


def test_objects_without_wire_form_are_refused_or_become_handles():
    with pytest.raises(Unencodable, match="object of type object"):
        protocol.encode(object(), [])
    with pytest.raises(Unencodable, match="dtype object"):
        protocol.encode(np.array([object()]), [])
    tree = protocol.encode([object()], [], to_handle=lambda obj: Handle(7, "object"))
    assert tree == [{"$t": "handle", "id": 7, "type": "object"}]


@pytest.mark.parametrize("tree, buffers, match", [
    ({"$t": "nd", "b": 0, "dtype": "|O", "shape": [1]}, [b"12345678"], "not allowed"),
    ({"$t": "nd", "b": 0, "dtype": "<f8", "shape": [3]}, [b"12345678"], "do not match"),
    ({"$t": "nd", "b": 5, "dtype": "<f8", "shape": [1]}, [b"12345678"], "out of range"),
    ({"$t": "nd", "b": 0, "dtype": "<f8", "shape": [-1]}, [b"12345678"], "bad shape"),
    ({"$t": "float", "v": "1e400"}, [], "bad float"),
    ({"$t": "exec", "v": "import os"}, [], "unknown tag"),
    ({"$t": "dict", "items": [[[1], 2]]}, [], "bad dict key"),
])
def test_decoder_rejects_malformed_trees(tree, buffers, match):
    with pytest.raises(ProtocolError, match=match):
        protocol.decode(tree, buffers)


def test_reader_enforces_size_limit_and_magic():
    reader = protocol.MessageReader(max_bytes=100)
    with pytest.raises(ProtocolError, match="larger than the limit"):
        for chunk in protocol.pack({}, [b"x" * 1000]):
            reader.feed(chunk)
            reader.take()
    reader = protocol.MessageReader(max_bytes=100)
    with pytest.raises(ProtocolError, match="prefix"):
        reader.feed(b"EVIL" + b"\0" * 20)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_reader(data):
    reader = protocol.MessageReader(max_bytes=1 << 16)
    try:
        reader.feed(protocol.MAGIC + data)
        message = reader.take()
        if message is not None:
            protocol.decode(message[0].get("v"), message[1])
    except ProtocolError:
        pass
