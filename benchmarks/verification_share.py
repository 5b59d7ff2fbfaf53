"""What share of a part's grading time goes to verifying what was measured (issue 14).

    python -m benchmarks.verification_share [PART ...]   # default: fast_layers layers

Grades the reference submission's parts in this process with the verification steps wrapped in
timers: writing the timed runs' inputs (arena fill), keeping the sampled runs' results, checking
them after the verdict, freezing and thawing the student's processes, reading CPU accounting, and
the purity checks' view probes. Prints each part's wall time and the verification's share of it
(the issue's bound: 20%). ``benchmarks.bench_verification`` compares whole grading times of two
revisions instead.
"""
from __future__ import annotations

import contextlib
import functools
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    _timed(arena.Arena, "fill", "arena fill")
    _timed(timing.SandboxedCall, "collect", "keeping sampled runs")
    _timed(timing, "check_timed_runs", "checking timed runs")
    _timed(guard.SandboxGuard, "cpu_seconds", "CPU accounting")
    _timed(proxy, "_views_of_inputs", "purity view probes")
    _timed_pause()
    for part in sys.argv[1:] or ["fast_layers", "layers"]:
        spent.clear()
        with tempfile.TemporaryDirectory() as scratch:
            folder = build_submission("reference", Path(scratch) / "submission")
            began = time.monotonic()
            result = grade_submission(folder, [part], load_config(), RunOptions())
            total = time.monotonic() - began
        extra = sum(spent.values())
        print(f"{part}: {total:.1f} s, score {result.score:.2f}; verification {extra:.2f} s = "
              f"{100 * extra / total:.1f}% (" + ", ".join(f"{k} {v:.2f} s" for k, v in spent.items()) + ")")


if __name__ == "__main__":
    main()
