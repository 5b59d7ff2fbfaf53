"""What verifying the measured values costs a part's grading (issue 14), in one run.

    python -m benchmarks.verification_share [--runs 3] [PART ...]   # default: fast_layers layers

Grades the reference submission's parts in this process, alternating, with verification on and
off, ``--runs`` times each:

* on: as graded. The verification steps are wrapped in timers: writing each timed run's input
  (arena fill), keeping the sampled runs' results, checking them after the verdict, freezing
  and thawing the other side, reading CPU accounting, and the purity checks' view probes.
* off: those steps do nothing (each arena is filled once, every run reuses its input; nothing
  is kept, checked, frozen or probed), which is the grader without them.

Prints, per part, the median wall time with and without, their difference, and the timers' sum
as a share of the grading time (the issue's bound: 20%). The timers' share is the sharper
number: a timed part's length is set by how many rounds its ratios need to settle, which load
on the machine moves by more than the verification costs. ``benchmarks.bench_verification``
compares whole grading times of two revisions instead.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from autograder.config import load_config
from autograder.engine import arena, guard, proxy, timing
from autograder.examples import build_submission
from autograder.run import RunOptions, grade_submission

spent: dict = {}


def _timed(owner, name: str, key: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - began

    setattr(owner, name, wrapper)


def _timed_pause() -> None:
    original = guard.SandboxGuard.paused

    @contextlib.contextmanager
    def paused(self):
        began = time.perf_counter()
        context = original(self)
        context.__enter__()
        spent["freeze"] = spent.get("freeze", 0.0) + time.perf_counter() - began
        try:
            yield
        finally:
            began = time.perf_counter()
            context.__exit__(None, None, None)
            spent["thaw"] = spent.get("thaw", 0.0) + time.perf_counter() - began

    guard.SandboxGuard.paused = paused


def _fill_once(fill):
    def fill_first_time(self, rng, repeat):
        if getattr(self, "_filled", 0) < repeat:  # only runs not filled before get an input
            fill(self, rng, repeat)
            self._filled = repeat
    return fill_first_time


@contextlib.contextmanager
def verification_off():
    """The grader without the verification steps (see the module's docstring)."""
    with contextlib.ExitStack() as stack:
        for owner, name, replacement in [
                (arena.Arena, "fill", _fill_once(arena.Arena.fill)),
                (timing.SandboxedCall, "collect", lambda self, repeat: None),
                (timing, "check_timed_runs", lambda *args, **kwargs: None),
                (guard.SandboxGuard, "paused", lambda self: contextlib.nullcontext()),
                (guard.SandboxGuard, "cpu_seconds", lambda self: None),
                (proxy, "_views_of_inputs", lambda *args: [])]:
            stack.enter_context(mock.patch.object(owner, name, replacement))
        yield


def grade_once(part: str) -> tuple[float, float, dict]:
    """(wall seconds, score, seconds each verification step's timer counted) of one grading."""
    spent.clear()
    with tempfile.TemporaryDirectory() as scratch:
        folder = build_submission("reference", Path(scratch) / "submission")
        began = time.monotonic()
        result = grade_submission(folder, [part], load_config(), RunOptions())
        return time.monotonic() - began, result.score, dict(spent)


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["fast_layers", "layers"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    _timed(arena.Arena, "fill", "arena fill")
    _timed(timing.SandboxedCall, "collect", "keeping sampled runs")
    _timed(timing, "check_timed_runs", "checking timed runs")
    _timed(guard.SandboxGuard, "cpu_seconds", "CPU accounting")
    _timed(proxy, "_views_of_inputs", "purity view probes")
    _timed_pause()
    for part in args.parts:
        on, off, shares, steps, scores = [], [], [], [], set()
        for _ in range(args.runs):
            seconds, score, verifying = grade_once(part)
            on.append(seconds)
            shares.append(sum(verifying.values()) / seconds)
            steps.append(verifying)
            scores.add(round(score, 2))
            with verification_off():
                seconds, score, _ = grade_once(part)
            off.append(seconds)
            scores.add(round(score, 2))
        with_, without = statistics.median(on), statistics.median(off)
        print(f"{part}: verification on {with_:.1f} s, off {without:.1f} s (medians of "
              f"{args.runs}: on {[round(s, 1) for s in on]}, off {[round(s, 1) for s in off]}), "
              f"difference {100 * (with_ / without - 1):+.1f}%; the verification's own steps "
              f"{100 * statistics.median(shares):.1f}% of the grading time (median); scores "
              f"{sorted(scores)}", flush=True)
        print("  per step (median s): " + ", ".join(
            f"{key} {statistics.median(run.get(key, 0.0) for run in steps):.2f}"
            for key in dict.fromkeys(k for run in steps for k in run)), flush=True)


if __name__ == "__main__":
    main()
