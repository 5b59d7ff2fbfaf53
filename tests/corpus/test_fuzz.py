"""Fuzzing the submission loader and the proxy (bounded: well under a minute in all).

* Random bytes and random zips as uploads: ``grade_submission`` never raises, never reports a
  grader error, and always returns a result that validates as a Gradescope results.json.
* Random return values from a student function (nested lists, tuples and dicts of numbers, NaN,
  huge ints, strings, bytes, numpy arrays and scalars of every dtype, objects): through the proxy
  the grader gets exactly what the wire can carry (equal to the value, NaN for NaN), or a
  ``BadReturnValue`` when it cannot; never any other exception, never a non-plain object.
"""
from __future__ import annotations

import json
import math
import stat
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from autograder.engine.childside import protocol
from autograder.engine.proxy import BadReturnValue, Session, StudentCodeError, StudentModule
from autograder.engine.sandbox import Limits, Sandbox, detect_isolation
from autograder.run import RunOptions, grade_submission

from .build import PROJECT_ROOT

FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _graded_result_is_valid(path, validator):
    result = grade_submission(path, ["shapes"], options=RunOptions(call_timeout=3.0))
    assert result.grader_errors == []
    data = result.to_gradescope()
    errors = list(validator.iter_errors(data))
    assert not errors, errors[0].message
    json.dumps(data, allow_nan=False)
    assert len(result.tests) > 0 and 0 <= result.score <= result.max_score + 1e-9
    return result


# --- uploads ------------------------------------------------------------------------------------

@settings(FUZZ, max_examples=8)
@given(data=st.one_of(st.binary(max_size=2000),
                      st.binary(max_size=500).map(lambda b: b"PK\x03\x04" + b),
                      st.binary(max_size=500).map(lambda b: b"PK\x05\x06" + b)))
def test_random_bytes_as_an_upload(data, tmp_path_factory, validator):
    path = tmp_path_factory.mktemp("bytes") / "upload.zip"
    path.write_bytes(data)
    result = _graded_result_is_valid(path, validator)
    assert result.score == 0


HONEST_SAME_PADDING = "def same_padding(k):\n    return (k - 1) // 2\n"
MEMBER_NAMES = st.one_of(
    st.sampled_from(["shapes.py", "../shapes.py", "/tmp/shapes.py", "sub/shapes.py", "a/b/../shapes.py",
                     "__MACOSX/shapes.py", "C:\\shapes.py", "sh\u00e9pes.py", "shapes.py/x", ".",
                     "shapes.ipynb", "layers.py"]),
    st.text(min_size=1, max_size=12))
MEMBER_DATA = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([HONEST_SAME_PADDING.encode(), b"def broken(:\n", b"import os\nos._exit(0)\n",
                     b"", b"\xff\xfe\x00not python", b"raise SystemExit(3)\n"]))


@settings(FUZZ, max_examples=6)
@given(members=st.lists(st.tuples(MEMBER_NAMES, MEMBER_DATA, st.booleans(), st.booleans()),
                        min_size=0, max_size=5))
def test_random_zips_as_an_upload(members, tmp_path_factory, validator):
    """Names with ../, absolute paths, odd characters, duplicates, symlink flags, any content."""
    path = tmp_path_factory.mktemp("zips") / "upload.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the test
        with zipfile.ZipFile(path, "w") as archive:
            for name, data, deflate, symlink in members:
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
                if symlink:
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, data)
    _graded_result_is_valid(path, validator)


# --- return values ------------------------------------------------------------------------------

DTYPES = ["<f8", "<f4", "<f2", ">f8", "<i8", "|i1", "<u8", "|b1", "<c16", ">i4", "<U3", "|S2",
          "|O", "<M8[s]", "|V4"]
ODD_VALUES = [
    "np.array([1, 'a'], dtype=object)", "np.array(['x', 'yz'])", "np.float32('nan')",
    "np.int8(-3)", "np.uint64(2**64 - 1)", "np.datetime64('2020-01-01')", "np.str_('s')",
    "np.array([1 + 2j])", "complex(1, 2)", "{1, 2}", "frozenset()", "range(3)", "object()",
    "Ellipsis", "np.zeros((2, 3)).T", "np.arange(10.0)[::3]", "np.ma.masked_array([1, 2], [0, 1])",
    "np.zeros(2, dtype=[('a', 'f8')])", "np.bool_(True)", "type", "len", "(lambda: 0)",
    "bytearray(b'ab')", "memoryview(b'ab')", "True", "10**400", "-(2**63)", "2**64",
    "float('-inf')", "-0.0", "1e308 * 10", "'\\x00\\uffff'", "b'\\x00' * 1000",
    # (np.ones((1,) * 33) is left to hostile.py's array_with_33_dims: an engine bug)
    "np.empty((0, 3))", "np.ones((1,) * 32)", "[" * 33 + "]" * 33,
    "[" * 34 + "]" * 34, "((1,),) * 3",
    "{'$t': 'nd', 'b': 0}", "{'$t': 'handle', 'id': 1, 'type': 'x'}", "{1: 'int key', (2, 3): 'tuple key'}",
    "{None: 1}", "{'k': float('nan')}",
]


def _array(dtype_and_shape) -> str:
    dtype, shape = dtype_and_shape
    return f"np.ones({tuple(shape)!r}, dtype={dtype!r})"


LEAVES = st.one_of(
    st.none().map(repr), st.booleans().map(repr), st.integers().map(repr),
    st.floats().map(lambda f: f"float({str(f)!r})"),
    st.text(max_size=10).map(repr), st.binary(max_size=10).map(repr),
    st.tuples(st.sampled_from(DTYPES), st.lists(st.integers(0, 3), max_size=3)).map(_array),
    st.sampled_from(ODD_VALUES))
RECIPES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.lists(inner, max_size=4).map(lambda xs: "(" + "".join(x + ", " for x in xs) + ")"),
    st.dictionaries(st.text(max_size=4), inner, max_size=3).map(
        lambda d: "{" + ", ".join(f"{k!r}: {v}" for k, v in d.items()) + "}"),
    st.dictionaries(st.integers(-3, 3), inner, max_size=3).map(
        lambda d: "{" + ", ".join(f"{k!r}: {v}" for k, v in d.items()) + "}"),
), max_leaves=10)

MAKER = """
import numpy as np
import warnings
warnings.simplefilter("ignore")

def make(recipe):
    return eval(recipe, {"np": np})
"""


@pytest.fixture(scope="module")
def maker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("maker")
    (folder / "mod.py").write_text(MAKER)
    sandbox = Sandbox(folder, Limits(call_timeout=10.0), detect_isolation(), hidden_paths=(PROJECT_ROOT,))
    yield StudentModule(Session(sandbox, 600.0), "mod")
    sandbox.close()


def _expected(recipe: str):
    """What the wire carries for the value (made here too), or BadReturnValue."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = eval(recipe, {"np": np})
    buffers: list = []
    try:
        # Through JSON, as on the wire: encode leaves a str subclass such as np.str_ in the tree,
        # and only the JSON text turns it into the plain str the grader receives.
        tree = json.loads(json.dumps(protocol.encode(value, buffers), allow_nan=False))
    except protocol.Unencodable:
        return BadReturnValue
    try:
        return protocol.decode(tree, buffers)
    except protocol.ProtocolError:  # what the grader refuses to decode is a bad return value too
        return BadReturnValue


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(
            a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and (a == b or (np.isnan(a) and np.isnan(b)))
    return a == b


def _plain(value) -> bool:
    if value is None or type(value) in (bool, int, float, str, bytes):
        return True
    if isinstance(value, np.ndarray):
        return type(value) is np.ndarray and value.dtype.str in protocol.ALLOWED_DTYPES
    if isinstance(value, np.generic):
        return np.asarray(value).dtype.str in protocol.ALLOWED_DTYPES
    if type(value) in (list, tuple):
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return False


def _check_through_the_proxy(recipe: str, maker) -> None:
    expected = _expected(recipe)
    try:
        got = maker.make(recipe)
    except StudentCodeError as error:
        assert expected is BadReturnValue and isinstance(error, BadReturnValue), (
            f"{recipe}: {type(error).__name__}: {error}")
        return
    assert expected is not BadReturnValue, f"{recipe} came back as {got!r}"
    assert _plain(got), f"{recipe} came back as a non-plain {type(got).__name__}"
    assert _same(got, expected), f"{recipe}: got {got!r}, expected {expected!r}"


@pytest.mark.parametrize("recipe", ODD_VALUES)
def test_every_odd_value_through_the_proxy(recipe, maker):
    """Each odd value on its own, every run: which of them a random draw reaches depends on the
    hypothesis version, so none is left to chance."""
    _check_through_the_proxy(recipe, maker)


@settings(FUZZ, max_examples=150)
@given(recipe=RECIPES)
def test_random_return_values_through_the_proxy(recipe, maker):
    _check_through_the_proxy(recipe, maker)
