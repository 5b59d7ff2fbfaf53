"""Hostile submissions aimed at the grader's own process: the shape of what is handed in (class 1
of issue 13), reply frames it cannot read (2), replies and uploads sized to exhaust its memory (5),
and time (8). Each gets its exact credit, a valid result, within its time, contained.

Also fuzzing, time-bounded: random frames (random bytes, random nesting, random declared lengths)
into the grader's reader and decoder, and random zips into the loader: never an exception other
than the one that says "refused", never a hang.
"""
from __future__ import annotations

import json
import os
import socket
import stat
import struct
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from autograder.config import load_config
from autograder.engine.childside import protocol
from autograder.engine.submission import MAX_ENTRIES, SubmissionError, load_submission
from autograder.run import RunOptions, expected_functions, grade_submission

from . import AllOf, Case, Fails, Remove, Write
from .build import PROJECT_ROOT, zipped
from .harness import grade_and_check, params
from .hostile import (RELU_LOST, SAME_PADDING_LOST, all_of, any_test_mentions, layers, mentions,
                      note_mentions, once, shapes, wrap_relu_forward, wrap_same_padding)
from . import suite_index

S = "shapes.py"

# --- class 1: the submission's shape ------------------------------------------------------------


def _with_special_files(folder: Path, ctx) -> Path:
    """The folder as handed in, plus a fifo, a unix socket, a symlinked folder (the reference)
    and a file whose name is not UTF-8."""
    os.mkfifo(folder / "pipe")
    previous = Path.cwd()
    os.chdir(folder)  # a socket's path may hold at most 107 bytes: bind it by its short name
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind("sock")
    finally:
        os.chdir(previous)
    os.symlink(PROJECT_ROOT / "reference", folder / "reference")
    (folder / os.fsdecode(b"caf\xe9.py")).write_text("x = 1\n")
    return folder


DEEP = "/".join(["d"] * 40)
LONG = "x" * 300
LONG_PATH = "/".join(["y" * 200] * 25)

SHAPE_CASES = [
    shapes("zip_file_and_folder_clash", "the zip holds layers.py and layers.py/extra.py (a file "
           "and a folder of the same name): the later one is left out with a note",
           fails={}, package=zipped(("layers.py/extra.py", b"x = 1\n")),
           check=note_mentions("'layers.py/extra.py': a file and a folder of the same name")),
    Case("zip_shapes_is_a_folder", ("shapes",), "the zip holds shapes.py/README first, then "
         "shapes.py: shapes.py is a folder, so the file is missing; graded through the CLI, "
         "exit 0", edits=(Remove(S),), via_cli=True, fails_all=(AllOf("shapes"),),
         package=zipped(("shapes.py/README", b"x"), ("shapes.py", b"def same_padding(k):\n    return 0\n")),
         check=all_of(note_mentions("'shapes.py': a file and a folder of the same name"),
                      mentions("shapes::test_same_padding", "missing from the submission: shapes.py"))),
    shapes("zip_long_and_deep_names", "members with a 300-byte name, a 5,000-byte path and 40 "
           "nested folders are left out with notes; the honest shapes.py is graded",
           fails={}, package=zipped((f"{LONG}/a.py", b"x"), (f"{LONG_PATH}/b.py", b"x"),
                                    (f"{DEEP}/shapes.py", b"raise SystemExit\n"),
                                    ("esc\x1b[2J.py", b"x")),
           check=note_mentions("its name is too long (at most 255 bytes a name, 4096 in all)",
                               "nested more than 32 folders deep", "holds control characters")),
    shapes("folder_special_files", "a folder holding a fifo, a unix socket, a symlink to the "
           "reference folder and a non-UTF-8 name: all left out with notes, nothing blocks",
           fails={}, package=_with_special_files,
           check=note_mentions("ignored pipe: not a regular file", "ignored sock: not a regular file",
                               "ignored reference: not a regular file", "non-UTF-8")),
]

# --- class 2: frames the grader cannot read -----------------------------------------------------

# Student code writes its own frame into the reply pipe (its number is on the child's command
# line), then waits, so that the grader reads the forged frame as the reply.
FORGE = """
import json, os, struct, sys, time
fd = json.loads(sys.argv[-1])["fds"][1]
def send(head, *buffers):
    frame = b"GRD1" + struct.pack("<II", len(head), len(buffers)) + head
    for buf in buffers:
        frame += struct.pack("<Q", len(buf)) + buf
    view = memoryview(frame)
    while view:
        view = view[os.write(fd, view):]
"""


def forge(attack: str):
    """same_padding(1) runs ``attack`` (with FORGE's ``send``); other calls fail fast."""
    return wrap_same_padding(once(FORGE + textwrap.dedent(attack)))

FRAME_CASES = [
    shapes("reply_nested_100000_deep", "same_padding forges a reply nested 100,000 lists deep "
           "(once a RecursionError in the grader): refused before parsing, the child killed",
           forge("""
               send(b'{"ok":true,"value":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
               time.sleep(60)
           """), fails=SAME_PADDING_LOST,
           check=mentions("shapes::test_same_padding", "your function returned something the "
                          "grader cannot read (value nested too deeply (100001 levels of JSON")),
    shapes("reply_array_33_dims_forged", "same_padding forges a whole reply holding an array of "
           "33 dimensions (the child's encoder refuses to send one): refused, the child killed",
           forge("""
               send(json.dumps({"ok": True, "value": {"$t": "nd", "b": 0, "dtype": "<f8",
                                                      "shape": [1] * 33}}).encode(), bytes(8))
           """), fails=SAME_PADDING_LOST,
           check=mentions("shapes::test_same_padding", "cannot read (bad shape (1, 1")),
    shapes("return_nested_1000_deep", "same_padding returns a list nested 1,000 deep: the "
           "child's encoder refuses it, a failed test",
           wrap_same_padding("""
               value = []
               for _ in range(1000):
                   value = [value]
               return value
           """), fails=SAME_PADDING_LOST,
           check=mentions("shapes::test_same_padding", "nested too deeply")),
]

# --- class 5: replies and uploads sized for the grader's memory ---------------------------------


def _zip_with_directories(count: int, lie: bool = False):
    """The folder's files in a zip, plus ``count`` folder entries with long names; with ``lie``
    the end record claims 5 entries (zipfile would still parse the whole directory)."""
    def package(folder: Path, ctx) -> Path:
        target = zipped()(folder, ctx)
        with zipfile.ZipFile(target, "a") as archive:
            for i in range(count):
                archive.writestr(zipfile.ZipInfo(f"{'folder' * 20}{i}/"), b"")
        if lie:
            data = bytearray(target.read_bytes())
            at = data.rfind(b"PK\x05\x06")
            data[at + 8:at + 12] = struct.pack("<HH", 5, 5)
            target.write_bytes(bytes(data))
        return target
    return package


SIZE_CASES = [
    shapes("reply_announces_500mb", "same_padding forges a reply announcing a 500 MiB buffer and "
           "starts sending it: refused at the announcement (the call's cap is 64 MiB), nothing "
           "of it buffered, the child killed",
           forge("""
               head = b'{"ok":true,"value":{"$t":"bytes","b":0}}'
               os.write(fd, b"GRD1" + struct.pack("<II", len(head), 1) + head
                        + struct.pack("<Q", 500 * 2**20))
               for _ in range(500):
                   os.write(fd, bytes(2**20))
           """), fails=SAME_PADDING_LOST,
           check=mentions("shapes::test_same_padding", "larger than the limit of 64.0 MiB (it "
                          "announces at least 500.0 MiB)")),
    layers("reply_100mb_for_7_numbers", "relu_forward returns 100 MiB for a 7-element input (the "
           "old fixed cap of 512 MiB took it, and the grader held 3 copies): over the call's cap",
           wrap_relu_forward("""
               import numpy
               if numpy.ndim(x) == 1:
                   return numpy.zeros(100 * 2**17, numpy.float64), x
           """), fails=dict(test_relu_forward_values=Fails(1, "x of shape (7,)"),
                            test_relu_backward_values=Fails(1, "x of shape (7,)")),
           check=mentions("layers::test_relu_forward_values", "larger than the limit of 64.0 MiB")),
    Case("zip_20000_entries", ("shapes",), "a zip with 20,000 folder entries beside an honest "
         "shapes.py: refused from its end record, before zipfile lists them",
         package=_zip_with_directories(20_000), fails_all=(AllOf("shapes"),),
         check=mentions("shapes::test_same_padding", "could not be read",
                        f"at most {MAX_ENTRIES} entries")),
    Case("zip_lying_entry_count", ("shapes",), "a zip whose end record claims 5 entries over a "
         "central directory of 40,000 (zipfile parses the directory, not the count): refused "
         "by the directory's size", package=_zip_with_directories(40_000, lie=True),
         fails_all=(AllOf("shapes"),),
         check=mentions("shapes::test_same_padding", "holds 5 entries in a directory of")),
]

# --- class 8: time ------------------------------------------------------------------------------


def _hang_everything(part: str) -> Write:
    """The part's file with every function of the handout looping forever."""
    (name, functions), = expected_functions(load_config().parts[part]).items()
    return Write(name, "".join(f"def {f}(*args, **kwargs):\n    while True:\n        pass\n\n\n"
                               for f in functions))


# The reserve the budget keeps for the grader's own work is sized for an idle machine; under the
# load of a test run the grader may overrun it by a few seconds (2.1 s seen with 2 cores shared).
LOADED_MACHINE_S = 3.0


def _same_as_output_file(outcome) -> None:
    assert json.loads(outcome.ctx.output.read_text()) == json.loads(outcome.cli_stdout)


TIME_CASES = [
    layers("relu_forward_hangs", "relu_forward loops forever: its first call costs the call "
           "limit, every later call in the part fails at once saying why",
           wrap_relu_forward("while True:\n    pass"), fails=RELU_LOST, call_timeout=3.0,
           max_seconds=60,
           check=all_of(any_test_mentions("relu_forward() in layers.py did not finish within 3.0 s"),
                        any_test_mentions("relu_forward timed out earlier in this part (3 s limit); "
                                          "not called again"))),
    Case("every_function_hangs", ("shapes", "layers"), "every function of shapes.py and layers.py "
         "loops forever: every test is reported within the grade's budget of 30 s",
         (_hang_everything("shapes"), _hang_everything("layers")), base="empty",
         fails_all=(AllOf("shapes"), AllOf("layers")), call_timeout=2.0, budget=30.0,
         max_seconds=30.0 + LOADED_MACHINE_S, check=note_mentions("of the grade's time budget of 30 s")),
    Case("every_function_hangs_cli", ("shapes",), "the same through `grade run --budget 12`: "
         "exit 0, the results file written", (_hang_everything("shapes"),), base="empty",
         fails_all=(AllOf("shapes"),), call_timeout=2.0, budget=12.0, via_cli=True,
         max_seconds=12.0 + LOADED_MACHINE_S, check=_same_as_output_file),
]


CASES = SHAPE_CASES + FRAME_CASES + SIZE_CASES + TIME_CASES


@pytest.mark.parametrize("case", params(CASES))
def test_hostile_submission(case, tmp_path, validator):
    grade_and_check(case, tmp_path, validator)


def test_results_so_far_are_handed_over_after_each_part(tmp_path):
    """What keeps results.json current: after each part but the last, the results so far."""
    folder = tmp_path / "hangs"
    folder.mkdir()
    for part in ("shapes", "layers"):
        edit = _hang_everything(part)
        (folder / edit.file).write_text(edit.content)
    partial = []
    result = grade_submission(folder, ["shapes", "layers"],
                              options=RunOptions(call_timeout=1.0, budget=16.0),
                              on_part=partial.append)
    assert len(partial) == 1
    assert len(partial[0].tests) == len(suite_index.test_ids("shapes"))
    assert "Not graded yet when this was written: layers." in partial[0].notes
    assert len(result.tests) == len(suite_index.test_ids("shapes")) + len(suite_index.test_ids("layers"))
    assert result.execution_time < 16.0 + LOADED_MACHINE_S and "budget of 16 s" in result.summary_text()


# --- fuzzing ------------------------------------------------------------------------------------

FUZZ = settings(deadline=None, derandomize=True, database=None, max_examples=40,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CAP = 1 << 20
# Each fuzz test is bounded by its number of examples; a hang fails it instead of stalling CI.
NEVER_HANGS = pytest.mark.timeout(120)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
    | st.sampled_from([{"$t": "nd", "b": 0, "dtype": "<f8", "shape": [1]}, {"$t": "bytes", "b": 1},
                       {"$t": "float", "v": "nan"}, {"$t": "handle", "id": 1, "type": "x"},
                       {"$t": "tuple", "v": []}, {"$t": "dict", "items": [[1, 2]]}]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=30)


def _read(frame: bytes, cuts: list) -> None:
    """Feed ``frame`` in pieces and decode what comes out; only ProtocolError may escape."""
    reader = protocol.MessageReader(CAP)
    try:
        for start, end in zip([0] + cuts, cuts + [len(frame)]):
            reader.feed(frame[start:end])
            while (message := reader.take()) is not None:
                header, buffers = message
                protocol.decode(header.get("value"), buffers)
    except protocol.ProtocolError:
        pass


@NEVER_HANGS
@FUZZ
@given(value=JSON_VALUES, depth=st.integers(0, 400), flips=st.lists(st.integers(0, 10**6), max_size=3),
       cuts=st.lists(st.integers(0, 10**6), max_size=4))
def test_fuzz_frames_random_nesting_and_bytes(value, depth, flips, cuts):
    head = (b'{"ok":true,"value":' + b"[" * depth + json.dumps(value).encode() + b"]" * depth
            + b"}")
    frame = bytearray(b"GRD1" + struct.pack("<II", len(head), 2) + head)
    frame += struct.pack("<Q", 8) + bytes(8) + struct.pack("<Q", 2) + b"ab"
    for at in flips:
        frame[at % len(frame)] ^= 0xFF
    _read(bytes(frame), sorted(c % len(frame) for c in cuts))


@NEVER_HANGS
@FUZZ
@given(head_len=st.integers(0, 2**32 - 1), count=st.integers(0, 2**32 - 1),
       lengths=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=3), tail=st.binary(max_size=64))
def test_fuzz_frames_random_declared_lengths(head_len, count, lengths, tail):
    """Lengths up to 2**64 are refused as they arrive: never a MemoryError, never a hang."""
    head = b"{}"[:head_len]
    frame = b"GRD1" + struct.pack("<II", head_len, count) + head
    frame += b"".join(struct.pack("<Q", n) for n in lengths) + tail
    _read(frame, [])


NAMES = st.one_of(
    st.sampled_from(["shapes.py", "a", "a/b.py", "a/", "shapes.py/x", "x" * 300, "/".join("d" * 40),
                     "/".join(["y" * 200] * 25), "../up.py", "/abs.py", "esc\x1b.py", "sub/shapes.py",
                     "__MACOSX/shapes.py", ".", "a//b", "C:\\x.py", "nul\x00.py"]),
    st.text(min_size=1, max_size=20))


@NEVER_HANGS
@FUZZ
@given(members=st.lists(st.tuples(NAMES, st.binary(max_size=50), st.booleans()), max_size=8))
def test_fuzz_loader_random_zips(members, tmp_path_factory):
    """Clashes, long and deep names, odd characters, symlink flags: a loaded folder of regular
    files, or SubmissionError; nothing else, and nothing outside the destination."""
    tmp = tmp_path_factory.mktemp("zips")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the test
        with zipfile.ZipFile(tmp / "upload.zip", "w") as archive:
            for name, data, symlink in members:
                info = zipfile.ZipInfo(name)
                if symlink:
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, data)
    started = time.monotonic()
    try:
        loaded = load_submission(tmp / "upload.zip", tmp / "out", ["shapes.py"], CAP, 20)
    except SubmissionError:
        return
    assert time.monotonic() - started < 30
    assert sorted(p.name for p in tmp.iterdir()) == ["out", "upload.zip"]
    for path in loaded.root.rglob("*"):
        assert path.is_dir() or stat.S_ISREG(path.lstat().st_mode)
