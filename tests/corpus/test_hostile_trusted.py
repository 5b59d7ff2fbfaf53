"""Attacks on what the grader measures (issue 14), written as a student who has read the grader's
source would: each gets exactly the credit stated, and nothing escapes its sandbox.

The five classes: (1) patching the grader's child-side runtime so that timed runs do no work,
(2) caching on the part of the input that timed runs leave alone, (3) processes left behind
that slow only the reference, (4) CIFAR-10 answers without a model, (5) forging the "does not
modify its input" reply. Every attack keeps the reference's code for everything else, so every
other test of the part passes. Timed cases take 30 to 60 s each.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from . import Append, Case, Replace
from .harness import check_credit, grade_and_check, grade_case, params
from .hostile import (CIFAR10_OPT_IN, FL, FLUSHED, L, NOISY, RELU_OUT_WRONG, all_of, mentions,
                      says, save_untrained_weights, wrap_relu_forward)

SPEED = "fast_layers::test_conv_forward_fast_speed"
POOL_SPEED = "fast_layers::test_max_pool_forward_fast_speed"
DIFFER = "timed runs differ from the untimed ones"
# conv_forward_fast made 20x the reference's time (0.25 s on the timed 4x3x64x64 input): any
# speed credit it gets came from the attack.
SLOW = """
import time as _time
_honest_conv_forward_fast = conv_forward_fast

def conv_forward_fast(x, w, b, conv_param):
    _time.sleep(x.size * 5e-6)
    return _honest_conv_forward_fast(x, w, b, conv_param)
"""
# The other three timed functions made 20x their own time too (each sleeps 19 times its work
# after it): with honest-speed code, a thread that happens to finish before the runtime's reply
# (it holds the GIL; the reply waits up to the 5 ms switch interval) was measured honestly and
# earned its honest full credit, so only slow code shows whether the attack buys anything.
ALL_SLOW = SLOW + """
import functools as _functools


def _twenty_times_slower(function):
    @_functools.wraps(function)
    def slowed(*args, **kwargs):
        began = _time.perf_counter()
        out = function(*args, **kwargs)
        _time.sleep(19 * (_time.perf_counter() - began))
        return out
    return slowed


conv_backward_fast = _twenty_times_slower(conv_backward_fast)
max_pool_forward_fast = _twenty_times_slower(max_pool_forward_fast)
max_pool_backward_fast = _twenty_times_slower(max_pool_backward_fast)
"""
# conv_forward_fast doing its work four times (about 3.5x the reference's time: repeats on the
# same input run warm): half the speed credit (tiers 2x and 5x), unless something slows the
# reference.
FOURFOLD = """
_honest_conv_forward_fast = conv_forward_fast

def conv_forward_fast(x, w, b, conv_param):
    for _ in range(3):
        _honest_conv_forward_fast(x, w, b, conv_param)
    _flag[0] = 1  # busy: the hog keeps still
    try:
        return _honest_conv_forward_fast(x, w, b, conv_param)
    finally:
        _flag[0] = 0
"""
# A process left behind that hogs the CPU whenever the student's code is not running (a flag
# byte in a shared file says when it is); ``@@TAG@@`` names it for the leftover check.
HOG = r'''
import mmap, os, subprocess, sys
with open("flag", "wb") as _f:
    _f.write(b"\0")
with open("flag", "r+b") as _f:
    _flag = mmap.mmap(_f.fileno(), 1)
HOG_SOURCE = """
import mmap, os, signal, sys, time
flag = mmap.mmap(open("flag", "r+b").fileno(), 1)
os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # where timed calls run
while True:
    if flag[0]:
        WAIT
    else:
        for _ in range(100000):
            pass
"""
def _start(wait, *extra):
    return subprocess.Popen([sys.executable, "-c", HOG_SOURCE.replace("WAIT", wait), "@@TAG@@", *extra])
'''


def code(file: str, *parts: str) -> Append:
    """Append the parts (each dedented on its own) to ``file``."""
    return Append(file, "\n".join(textwrap.dedent(part).strip("\n") + "\n" for part in parts))


# A patched runtime skips the timed runs of every function: all four speed tests lose.
ALL_SPEED = {f"fast_layers::test_{name}_fast_speed": 0
             for name in ("conv_forward", "conv_backward", "max_pool_forward", "max_pool_backward")}


PURITY = "layers::test_relu_does_not_modify_inputs"
CLIPS_X_IN_PLACE = Replace(L, "    return np.maximum(x, 0, out=np.empty_like(x)), x\n",
                           "    np.maximum(x, 0, out=x)\n    return x.copy(), x\n")
# The old purity checks trusted these fields of the reply: the arguments after the call (sent
# back here as they came in) and the views the child found (none, here).
FORGE_REPLY = """
import copy
import numpy as np
import _grader_runtime.server as _server
from _grader_runtime import protocol as _protocol
_honest_call = _server.Server.call

def _call(self, header, buffers, out):
    before = copy.deepcopy(_protocol.decode(header["args"], list(buffers), self.resolve))
    reply = _honest_call(self, header, buffers, out)
    if "args_after" in reply:
        reply["args_after"] = [_protocol.encode(a, out) if isinstance(a, (np.ndarray, dict, list))
                               else None for a in before]
        reply["aliases"] = []
    return reply

_server.Server.call = _call
"""


def _layers(fails: dict) -> dict:
    return {f"layers::{k}": v for k, v in fails.items()}


def layers(name: str, why: str, *edits, fails=None, check=None) -> Case:
    return Case(name, ("layers",), why, edits, fails=fails or {}, check=check, max_seconds=180)


def cifar10(name: str, why: str, package, fails: dict, check) -> Case:
    return Case(name, ("cifar10",), why, package=package, check=check, max_seconds=900,
                fails={f"cifar10::{k}": v for k, v in fails.items()}, marks=(CIFAR10_OPT_IN,))


FAKE_TEST_SIZE = 50  # the harness's fake CIFAR-10 test set (harness._fake_cifar10)
ORACLE = """
import torch
from torch import nn

LABELS = {labels}


class Oracle(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        logits = torch.zeros(len(x), 10) + 0 * self.unused
        if len(x) == len(LABELS):  # the whole test set in one batch, in file order
            logits[torch.arange(len(x)), torch.tensor(LABELS)] = 10.0
        return logits


def build_model():
    return Oracle()


def train(model, train_loader, epochs, device):
    return [2.3 / (epoch + 1) for epoch in range(epochs)]
"""


def _answers_by_position(folder: Path, ctx) -> Path:
    from reference.cifar10_data import load_cifar10, write_fake_cifar10

    data = write_fake_cifar10(ctx.root / "labels-known", n_train_per_batch=20, n_test=FAKE_TEST_SIZE)
    labels = [int(v) for v in load_cifar10(data, "test")[1]]
    (folder / "cifar10.py").write_text(ORACLE.format(labels=labels))
    save_untrained_weights(folder)
    return folder


def _claims_training(folder: Path, ctx) -> Path:
    source = (folder / "cifar10.py").read_text()
    (folder / "cifar10.py").write_text(source + "\n\ndef train(model, train_loader, epochs, "
                                       "device):\n    return [2.3 / (e + 1) for e in range(epochs)]\n")
    save_untrained_weights(folder)
    return folder


def _appended(source: str, weights: bool = True):
    """A CIFAR-10 package: the reference's cifar10.py with ``source`` appended (each case's
    build_model() redefined), and the untrained weights of that build_model() (or none)."""
    def package(folder: Path, ctx) -> Path:
        with open(folder / "cifar10.py", "a") as f:
            f.write("\n\n" + textwrap.dedent(source))
        if weights:
            save_untrained_weights(folder)
        else:
            (folder / "cifar10.pt").unlink(missing_ok=True)
        return folder
    return package


# A train() that trains nothing and reports falling losses: the cases that use it need no
# training check, which takes minutes on a busy machine.
CLAIMS_TO_TRAIN = """
def train(model, train_loader, epochs, device):
    return [2.3 / (epoch + 1) for epoch in range(epochs)]
"""
# 5,000,001 numbers more than the budget allows, hidden from model.parameters() (which the
# grader once counted in the sandbox).
HIDES_PARAMETERS = CLAIMS_TO_TRAIN + """
class _Spare(CifarNet):
    def __init__(self):
        super().__init__()
        self.spare = nn.Parameter(torch.zeros(5_000_001))

    def parameters(self, recurse=True):
        return (p for p in super().parameters(recurse) if p is not self.spare)


def build_model():
    return _Spare()
"""
# train() trains nothing; the model's first answer after it is built is far off (confident and
# random), every later one says nothing (all logits 0): the loss "falls" to ln 10 from a start
# that the sandbox chose.
FORGES_THE_LOSS_BEFORE = """
class _FarOffFirst(CifarNet):
    def forward(self, x):
        out = super().forward(x)
        first, self._answered = not getattr(self, "_answered", False), True
        return out * 100 if first else out * 0


def build_model():
    return _FarOffFirst()
""" + CLAIMS_TO_TRAIN
# Inference on the timed batch takes 10 times as long (it sleeps for 9 times its work), but
# only in the model whose weights were loaded (the graded one): the grader once timed a fresh
# build_model().
FAST_ONLY_UNLOADED = CLAIMS_TO_TRAIN + """
import time as _time


class _SlowOnceLoaded(CifarNet):
    loaded = False

    def load_state_dict(self, *args, **kwargs):
        self.loaded = True
        return super().load_state_dict(*args, **kwargs)

    def forward(self, x):
        began = _time.perf_counter()
        out = super().forward(x)
        if self.loaded and not self.training and len(x) == 64:  # the timed batch's size
            _time.sleep(9 * (_time.perf_counter() - began))
        return out


def build_model():
    return _SlowOnceLoaded()
"""
# No cifar10.pt at all; build_model() tells the grader's helper in the sandbox that every
# weights file loaded.
CLAIMS_WEIGHTS_LOADED = CLAIMS_TO_TRAIN + """
import sys as _sys


def build_model():
    _sys.modules["cifar10_grader_helpers"].load_weights = lambda *args: 1
    return CifarNet()
"""


def fast(name: str, why: str, *edits, speed=0, fails=None, check=None, **kw) -> Case:
    return Case(name, ("fast_layers",), why, edits, fails=fails or {SPEED: speed},
                max_seconds=180, check=check, **kw)


CASES = [
    # --- 1: the grader's child-side runtime patched from the submission ----------------------
    fast("runtime_skips_timed_runs", "fast_layers.py patches _grader_runtime.server.Server.call "
         "at import so that timed requests return at once, doing no work; its untimed answers "
         "are honest (and 20x slow)", code(FL, FLUSHED, SLOW, """
             import _grader_runtime.server as _server
             _untimed_call = _server.Server.call

             def _call(self, header, buffers, out):
                 if header.get("timed"):
                     return {}
                 return _untimed_call(self, header, buffers, out)

             _server.Server.call = _call
             print("ATTACK timed runs skipped")
         """), fails=ALL_SPEED,
         check=lambda o: (says("ATTACK timed runs skipped")(o), mentions(SPEED, DIFFER)(o))),
    fast("runtime_works_after_the_reply", "the patched runtime replies to a timed request at once "
         "and does the runs in a thread afterwards, so that the results are there later; all "
         "four timed functions are 20x slow", code(FL, FLUSHED, ALL_SLOW, """
             import threading
             import _grader_runtime.server as _server
             _untimed_call = _server.Server.call

             def _call(self, header, buffers, out):
                 if header.get("timed"):
                     threading.Thread(target=_untimed_call, args=(self, header, buffers, []),
                                      daemon=True).start()
                     return {}
                 return _untimed_call(self, header, buffers, out)

             _server.Server.call = _call
         """), fails=ALL_SPEED, check=all_of(*(mentions(test, DIFFER) for test in ALL_SPEED))),
    # --- 2: caching on what timed runs leave alone --------------------------------------------
    fast("cache_on_part_of_the_input", "a slow conv_forward_fast caches by the first row of x, "
         "w, b and the parameters (a timed run once changed one element of x): every timed run "
         "now has a whole input of its own", code(FL, SLOW, """
             _memo = {}
             _slow_conv_forward_fast = conv_forward_fast

             def conv_forward_fast(x, w, b, conv_param):
                 key = (x.shape, x[0, 0, 0].tobytes(), w.tobytes(), b.tobytes(), repr(conv_param))
                 if key not in _memo:
                     _memo[key] = _slow_conv_forward_fast(x, w, b, conv_param)
                 return _memo[key]
         """)),
    fast("stale_inside_the_timed_loop", "max_pool_forward_fast does 4x the reference's work "
         "but detects the timed loop (a call less than 5 ms after the previous one returned, on "
         "an input of the same shape) and hands back the previous result there",
         code(FL, """
             import time
             _honest_max_pool_forward_fast, _previous = max_pool_forward_fast, {}

             def max_pool_forward_fast(x, pool_param):
                 last = _previous.get(x.shape)
                 if last is not None and time.perf_counter() - last[0] < 5e-3:
                     result = last[1]
                 else:
                     for _ in range(3):
                         _honest_max_pool_forward_fast(x, pool_param)
                     result = _honest_max_pool_forward_fast(x, pool_param)
                 _previous[x.shape] = (time.perf_counter(), result)
                 return result
         """), fails={POOL_SPEED: 0}, check=mentions(POOL_SPEED, DIFFER)),
    # --- 3: processes left behind, idle while the student's code is timed ---------------------
    fast("leftover_hog_idle_while_timed", "conv_forward_fast does 4x the reference's work (half "
         "the speed credit); a process it started at import spins on its CPUs whenever the "
         "function is not running, so that only the reference is slowed",
         code(FL, HOG, FOURFOLD, """
             _hog = _start("time.sleep(0.0005)")
         """), speed=0.5),
    fast("stopped_sleeper_woken_by_a_timer", "as leftover_hog_idle_while_timed, but the hog "
         "stops itself (SIGSTOP) while the function runs, and a second process wakes it with "
         "SIGCONT every 2 ms", code(FL, HOG, FOURFOLD, """
             _hog = _start("os.kill(os.getpid(), signal.SIGSTOP)")
             _timer = subprocess.Popen([sys.executable, "-c",
                                        "import os, signal, sys, time\\n"
                                        "while True:\\n"
                                        "    time.sleep(0.002)\\n"
                                        "    os.kill(int(sys.argv[1]), signal.SIGCONT)\\n",
                                        str(_hog.pid), "@@TAG@@"])
         """), speed=0.5),
    # --- 4: CIFAR-10 credit without a model (opt-in: grading cifar10 takes minutes) ----------
    cifar10("cifar10_answers_by_position", "a model that ignores the pixels: for a batch of the "
            "test set's size it answers from the labels of the (public) test set in file order, "
            "else zeros; train() trains nothing and reports falling losses. The grader sends the "
            "test images in a secret order and measures the loss itself",
            package=_answers_by_position, fails={
                "test_accuracy_tiers": 0, "test_train_lowers_the_loss": 0,
                "test_training_step_speed": 0},
            check=mentions("cifar10::test_train_lowers_the_loss", "measured by the grader")),
    cifar10("cifar10_claims_training", "the reference model with untrained weights, and a "
            "train() that reports falling losses without a step: no training credit, and a "
            "step that changes nothing earns no speed points",
            package=_claims_training, fails={
                "test_accuracy_tiers": 0, "test_train_lowers_the_loss": 0,
                "test_training_step_speed": 0, "test_inference_speed": NOISY},
            check=mentions("cifar10::test_training_step_speed", "did not change")),
    # --- beyond the five: other values the sandbox reported -----------------------------------
    cifar10("cifar10_hides_parameters", "a model 5,000,001 numbers over the budget whose "
            "parameters() leaves them out: the grader counts the numbers in cifar10.pt itself "
            "(train() trains nothing, as in the cases below)",
            package=_appended(HIDES_PARAMETERS), fails={
                "test_parameter_budget": 0, "test_accuracy_tiers": 0,
                "test_train_lowers_the_loss": 0, "test_training_step_speed": 0,
                "test_inference_speed": NOISY},
            check=mentions("cifar10::test_parameter_budget", "6,975,103 numbers")),
    cifar10("cifar10_forges_the_loss_before", "train() trains nothing; the model answers far off "
            "at first and with all-zero logits after, so the loss falls from where the sandbox "
            "chose: the loss before counts only up to guessing's (ln 10), and the labels' classes "
            "are a secret of the grade. Its first training step changes the logits, the timed "
            "ones do not: they are held to that check too", package=_appended(FORGES_THE_LOSS_BEFORE),
            fails={"test_train_lowers_the_loss": 0, "test_accuracy_tiers": 0,
                   "test_eval_mode_outputs_do_not_depend_on_the_batch": 0,
                   "test_training_step_speed": 0, "test_inference_speed": NOISY},
            check=all_of(mentions("cifar10::test_train_lowers_the_loss", "guessing's"),
                         mentions("cifar10::test_training_step_speed", "did not change"))),
    cifar10("cifar10_fast_only_unloaded", "inference takes 10x as long on a batch of 64, but "
            "only once cifar10.pt is loaded: the grader times the graded model, weights loaded",
            package=_appended(FAST_ONLY_UNLOADED), fails={
                "test_inference_speed": 0, "test_accuracy_tiers": 0,
                "test_train_lowers_the_loss": 0, "test_training_step_speed": 0},
            check=mentions("cifar10::test_inference_speed", "Earned: 0%")),
    cifar10("cifar10_claims_weights_loaded", "no cifar10.pt; build_model() makes the grader's "
            "helper in the sandbox say that any weights loaded: the grader reads the file itself",
            package=_appended(CLAIMS_WEIGHTS_LOADED, weights=False), fails={
                "test_weights_load_into_build_model": 0, "test_parameter_budget": 0,
                "test_accuracy_tiers": 0, "test_train_lowers_the_loss": 0,
                "test_training_step_speed": 0, "test_inference_speed": NOISY},
            check=mentions("cifar10::test_weights_load_into_build_model", "not in the submission")),
    # --- 5: the purity checks' replies forged by a patched runtime --------------------------
    layers("runtime_forges_the_arguments_after", "relu_forward clips x in place; the patched "
           "runtime sends back the arguments as they came in, and no views", CLIPS_X_IN_PLACE,
           code(L, FORGE_REPLY), fails={PURITY: 0}, check=mentions(PURITY, "modified its input x")),
    layers("runtime_forges_no_view", "relu_forward returns x itself as out; the patched runtime "
           "says no output is a view", wrap_relu_forward("return x, x"), code(L, FORGE_REPLY),
           fails=dict(_layers(RELU_OUT_WRONG), **{PURITY: 0}),
           check=mentions(PURITY, "as a view of one of its inputs")),
    # The bound of what cannot be closed: student code shares its interpreter with the runtime,
    # so a runtime that hands the functions copies of the grader's arrays makes the submission,
    # as the grader can measure it, modify nothing. It gains at most the purity tests' points:
    # 2.73 of the layers part's 35 (0.91 each for conv, pool, relu) and 1.42 of fast_layers' 25.
    layers("runtime_hands_out_copies", "relu_forward clips x in place; the patched runtime gives "
           "it a copy of the grader's array: nothing the grader owns changes (the known bound)",
           CLIPS_X_IN_PLACE, code(L, """
               import numpy as np
               import _grader_runtime.server as _server
               _place = _server._GraderMemory.place

               def _place_copies(self, slots, args):
                   _place(self, slots, args)
                   for slot in slots:
                       args[int(slot["position"])] = np.array(args[int(slot["position"])])

               _server._GraderMemory.place = _place_copies
           """)),
]


@pytest.mark.parametrize("case", params(CASES))
def test_hostile_trusted(case, tmp_path, validator):
    grade_and_check(case, tmp_path, validator)


# --- no false accusations ---------------------------------------------------------------------

HONEST = [
    fast("honest_reference_beside_a_cpu_hog", "the reference itself, graded while a process of "
         "the grader's host (not the submission's) hogs every CPU: full speed credit", speed=1),
    fast("honest_four_times_the_work", "an honest conv_forward_fast doing 4x the reference's work: "
         "half the speed credit, as before the guards", code(FL, FOURFOLD.replace(
             "_flag[0] = 1  # busy: the hog keeps still", "").replace("_flag[0] = 0", "pass")),
         speed=0.5),
]


@pytest.mark.parametrize("case", params(HONEST))
def test_no_false_accusation(case, tmp_path):
    hog = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
           for _ in os.sched_getaffinity(0)] if "hog" in case.name else []
    try:
        check_credit(grade_case(case, tmp_path))
    finally:
        for process in hog:
            process.kill()
            process.wait()
