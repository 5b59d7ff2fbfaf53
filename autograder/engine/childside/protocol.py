"""Wire format between the trusted grader and the sandboxed child. No pickle, ever.

A message is a JSON header followed by raw binary buffers. Values are encoded as a tree of JSON
scalars, lists and string-keyed dicts, with tagged nodes for what JSON cannot hold:

* ``{"$t": "tuple", "v": [...]}``                  a tuple
* ``{"$t": "nd", "b": i, "dtype": "<f8", "shape": [...]}``  a numeric ndarray, bytes in buffer i
* ``{"$t": "np", "dtype": "<i8", "b": i}``           a numpy scalar (a 0-d array on the wire)
* ``{"$t": "bytes", "b": i}``                        bytes
* ``{"$t": "float", "v": "nan" | "inf" | "-inf"}``   non-finite floats (JSON cannot hold them)
* ``{"$t": "handle", "id": n, "type": "Foo"}``       an object that stays in the child
* ``{"$t": "dict", "items": [[k, v], ...]}``         a dict with non-string keys

Decoding is strict: only whitelisted dtypes, shapes that match the byte count, bounded sizes and
depth. The decoder never calls anything the sender named, so a hostile sender can at worst make
decoding fail with ``ProtocolError``.
"""
from __future__ import annotations

import collections
import json
import math
import os
import re
import struct

import numpy as np

MAGIC = b"GRD1"
_PREFIX = struct.Struct("<4sII")  # magic, header length, buffer count
_BUFLEN = struct.Struct("<Q")
MAX_DEPTH = 32  # levels of values (lists, tuples, dicts) in one message
MAX_NDIM = 32  # dimensions of an array
# A value level takes up to three levels of JSON (a dict with non-string keys: the node, its
# items list, each pair), plus the reply's own envelope.
MAX_HEADER_DEPTH = 3 * (MAX_DEPTH + 1) + 4
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_BUFFERS = 100_000
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENERS, _CLOSERS = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)

# Numeric dtypes only: object, void and string arrays would need to run code or carry structure.
ALLOWED_DTYPES = frozenset(
    np.dtype(name).str
    for name in (
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "complex64", "complex128",
    )
) | frozenset(np.dtype(name).newbyteorder(">").str for name in ("int16", "int32", "int64",
                                                                    "float32", "float64"))


class ProtocolError(Exception):
    """The other side sent something that is not a valid message."""


class Handle:
    """A reference to an object that lives in the child (e.g. a layer's cache or a model).

    Only the child can resolve it; ``incarnation`` identifies the child process that made it,
    so a handle that outlived a restart is reported instead of silently misused.
    """

    __slots__ = ("id", "type_name", "incarnation")

    def __init__(self, id: int, type_name: str, incarnation: int = 0) -> None:
        self.id = id
        self.type_name = type_name
        self.incarnation = incarnation

    def __repr__(self) -> str:
        return f"<{self.type_name} object kept in the sandbox (handle {self.id})>"


class Unencodable(TypeError):
    """A value has no wire form (and may not be kept as a handle here)."""


def encode(value, buffers: list, to_handle=None, _depth: int = 0):
    """Encode ``value`` into a JSON-able tree, appending binary payloads to ``buffers``.

    ``to_handle(obj) -> Handle`` is called for objects with no wire form; without it they raise
    ``Unencodable`` naming the type.
    """
    if _depth > MAX_DEPTH:
        raise Unencodable("value is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"$t": "float", "v": repr(value)}
    if isinstance(value, Handle):
        return {"$t": "handle", "id": value.id, "type": value.type_name}
    if isinstance(value, np.ndarray):
        arr = np.asarray(value)  # drops ndarray subclasses and their overridden operators
        if arr.dtype.str not in ALLOWED_DTYPES:
            raise Unencodable(f"array of dtype {arr.dtype} (only numeric arrays can be returned)")
        if arr.ndim > MAX_NDIM:
            raise Unencodable(f"array with {arr.ndim} dimensions (the grader cannot read more "
                              f"than {MAX_NDIM})")
        buffers.append(np.ascontiguousarray(arr).tobytes())
        return {"$t": "nd", "b": len(buffers) - 1, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if isinstance(value, np.generic):
        arr = np.asarray(value)
        if arr.dtype.str not in ALLOWED_DTYPES:
            raise Unencodable(f"numpy scalar of dtype {arr.dtype}")
        buffers.append(arr.tobytes())
        return {"$t": "np", "b": len(buffers) - 1, "dtype": arr.dtype.str}
    if type(value) is bytes:
        buffers.append(value)
        return {"$t": "bytes", "b": len(buffers) - 1}
    if type(value) in (list, tuple):
        items = [encode(v, buffers, to_handle, _depth + 1) for v in value]
        return items if type(value) is list else {"$t": "tuple", "v": items}
    if type(value) is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: encode(v, buffers, to_handle, _depth + 1) for k, v in value.items()}
        return {"$t": "dict", "items": [[encode(k, buffers, to_handle, _depth + 1),
                                         encode(v, buffers, to_handle, _depth + 1)]
                                        for k, v in value.items()]}
    if to_handle is not None:
        return encode(to_handle(value), buffers)
    raise Unencodable(f"object of type {type(value).__name__}")


def decode(tree, buffers: list, make_handle=None, _depth: int = 0):
    """Rebuild a value from ``encode``'s output. Strict: anything unexpected is a ProtocolError.

    ``make_handle(id, type_name)`` turns a handle node into whatever the receiver uses for it.
    """
    if _depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if tree is None or type(tree) in (bool, int, float, str):
        return tree
    if type(tree) is list:
        return [decode(v, buffers, make_handle, _depth + 1) for v in tree]
    if type(tree) is not dict:
        raise ProtocolError(f"unexpected node of type {type(tree).__name__}")
    tag = tree.get("$t")
    if tag is None:
        return {k: decode(v, buffers, make_handle, _depth + 1) for k, v in tree.items()}
    if tag == "tuple":
        return tuple(decode(v, buffers, make_handle, _depth + 1) for v in _field(tree, "v", list))
    if tag == "dict":
        out = {}
        for pair in _field(tree, "items", list):
            if type(pair) is not list or len(pair) != 2:
                raise ProtocolError("malformed dict item")
            key = decode(pair[0], buffers, make_handle, _depth + 1)
            try:
                out[key] = decode(pair[1], buffers, make_handle, _depth + 1)
            except TypeError as exc:  # unhashable key
                raise ProtocolError(f"bad dict key: {exc}") from None
        return out
    if tag == "float":
        text = _field(tree, "v", str)
        if text not in ("nan", "inf", "-inf"):
            raise ProtocolError(f"bad float {text!r}")
        return float(text)
    if tag == "bytes":
        return bytes(_buffer(tree, buffers))
    if tag in ("nd", "np"):
        dtype_str = _field(tree, "dtype", str)
        if dtype_str not in ALLOWED_DTYPES:
            raise ProtocolError(f"dtype {dtype_str!r} is not allowed")
        dtype = np.dtype(dtype_str)
        data = _buffer(tree, buffers)
        shape = () if tag == "np" else tuple(_field(tree, "shape", list))
        if len(shape) > MAX_NDIM or not all(type(n) is int and n >= 0 for n in shape):
            raise ProtocolError(f"bad shape {shape!r}")
        if math.prod(shape) * dtype.itemsize != len(data):
            raise ProtocolError(f"shape {shape} and dtype {dtype} do not match {len(data)} bytes")
        arr = np.frombuffer(bytearray(data) if type(data) is bytes else data, dtype=dtype).reshape(shape)
        return arr[()] if tag == "np" else arr
    if tag == "handle":
        ident, type_name = _field(tree, "id", int), _field(tree, "type", str)
        return make_handle(ident, type_name[:200]) if make_handle else Handle(ident, type_name[:200])
    raise ProtocolError(f"unknown tag {tag!r}")


def _field(tree: dict, key: str, kind: type):
    value = tree.get(key)
    if type(value) is not kind:
        raise ProtocolError(f"field {key!r} should be {kind.__name__}")
    return value


def _buffer(tree: dict, buffers: list):
    """The node's buffer, taken out of ``buffers``: arrays are built on buffers without a copy,
    so a buffer named twice would make two values share memory."""
    index = _field(tree, "b", int)
    if not 0 <= index < len(buffers):
        raise ProtocolError(f"buffer index {index} out of range")
    if buffers[index] is None:
        raise ProtocolError(f"buffer {index} used twice")
    data, buffers[index] = buffers[index], None
    return data


# --- framing -------------------------------------------------------------------------------

def pack(header: dict, buffers: list) -> list:
    """Frame a message as a list of byte chunks (header JSON, then each buffer with its length)."""
    head = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    chunks = [_PREFIX.pack(MAGIC, len(head), len(buffers)), head]
    for buf in buffers:
        chunks.append(_BUFLEN.pack(len(buf)))
        chunks.append(buf)
    return chunks


def write_message(fd: int, header: dict, buffers: list) -> None:
    """Blocking write of one message (used by the child, which has nothing else to do)."""
    for chunk in pack(header, buffers):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


class MessageReader:
    """Incremental parser: feed bytes, get whole messages.

    Never holds more than ``max_bytes`` of one message (plus the chunk being fed): every length
    the sender declares (header, buffer count, each buffer) is checked against the cap as soon as
    it arrives, before any room is made for what it announces, so a 500 MB reply is refused after
    its first few bytes. Each buffer is filled in place, never copied again. The header's JSON
    nesting is measured before it is parsed, so no header can make the parser recurse deeply.
    ``max_bytes`` may be changed between messages (the grader sets it per call).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._messages: collections.deque = collections.deque()
        self._begin()

    def _begin(self) -> None:
        self._stage, self._target, self._filled = "prefix", bytearray(_PREFIX.size), 0
        self._header, self._buffers, self._count, self._declared = None, [], 0, 0

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            n = min(len(self._target) - self._filled, len(view))
            self._target[self._filled:self._filled + n] = view[:n]
            self._filled += n
            view = view[n:]
            while self._filled == len(self._target):  # a piece may be empty: step over it too
                self._advance()

    def take(self):
        """Return (header, buffers) if a whole message has arrived, else None."""
        return self._messages.popleft() if self._messages else None

    def _advance(self) -> None:
        piece = bytes(self._target) if self._stage != "body" else self._target
        if self._stage == "prefix":
            magic, head_len, self._count = _PREFIX.unpack(piece)
            if magic != MAGIC or head_len > MAX_HEADER_BYTES or self._count > MAX_BUFFERS:
                raise ProtocolError("bad message prefix")
            self._expect("header", head_len)
        elif self._stage == "header":
            self._header = parse_header(piece)
            self._next_buffer_or_done()
        elif self._stage == "length":
            (size,) = _BUFLEN.unpack(piece)
            self._expect("body", size)
        else:
            self._buffers.append(piece)
            self._next_buffer_or_done()

    def _expect(self, stage: str, size: int) -> None:
        self._declared += size
        if self._declared > self.max_bytes:
            raise ProtocolError(f"message larger than the limit of {_size(self.max_bytes)} "
                                f"(it announces at least {_size(self._declared)})")
        self._stage, self._target, self._filled = stage, bytearray(size), 0

    def _next_buffer_or_done(self) -> None:
        if len(self._buffers) < self._count:
            self._stage, self._target, self._filled = "length", bytearray(_BUFLEN.size), 0
        else:
            self._messages.append((self._header, self._buffers))
            self._begin()


def parse_header(raw: bytes) -> dict:
    """The header's JSON object; its nesting is bounded first (``json`` recurses per level)."""
    depth = json_depth(raw)
    if depth > MAX_HEADER_DEPTH:
        raise ProtocolError(f"value nested too deeply ({depth} levels of JSON, at most "
                            f"{MAX_HEADER_DEPTH})")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"bad header: {str(exc)[:200]}") from None
    if type(header) is not dict:
        raise ProtocolError("header is not an object")
    return header


def json_depth(raw: bytes) -> int:
    """How deeply brackets nest in JSON text, strings left out; found without recursion."""
    codes = np.frombuffer(_JSON_STRING.sub(b"", raw), dtype=np.uint8)
    steps = np.isin(codes, _OPENERS).astype(np.int64) - np.isin(codes, _CLOSERS)
    return int(np.cumsum(steps).max()) if steps.size else 0


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size} bytes"


def read_message(fd: int, max_bytes: int):
    """Blocking read of one message (used by the child). Returns None at end of stream."""
    reader = MessageReader(max_bytes)
    while True:
        message = reader.take()
        if message is not None:
            return message
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return None
        reader.feed(chunk)
