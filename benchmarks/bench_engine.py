"""What the grading engine costs: per-call overhead, and grading a whole submission on one CPU.

    python -m benchmarks.bench_engine [--calls 200]

Prints, measured in one run, with this process and every process it starts pinned to one CPU:

* the engine's per-call overhead for a small and a large array: a direct call in this process,
  a proxy call into the sandbox (the array shipped there and back), and a timed request on an
  input staged in the child (what the timing harness measures around the student's code);
* the wall time and the peak memory, summed over every process of the grader (this process, the
  student's sandbox, the reference's sandbox, anything they start), of grading the whole
  reference submission part by part as ``grade run`` does, against Gradescope's defaults
  (768 MB, 10 minutes), with each process's share at the peak.

Memory is sampled from /proc every 20 ms: the sum of resident sizes (RSS, counts shared library
pages once per process, so an upper bound) and of proportional sizes (PSS, shared pages split
among their users: what the processes take together).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from autograder.config import load_config
from autograder.data import DataError, find_data
from autograder.engine.proxy import Session, StudentModule, TimingRequest
from autograder.engine.sandbox import Limits, Sandbox, detect_isolation
from autograder.examples import build_submission
from autograder.run import PROJECT_ROOT, grade_submission

GRADESCOPE_MEMORY_MB, GRADESCOPE_SECONDS = 768, 600
ECHO_SOURCE = "def identity(x):\n    return x\n"
ARRAYS = {"small (10 floats)": np.ones(10), "large (1M floats, 8 MB)": np.ones(1_000_000)}


def median_seconds(function, calls: int) -> float:
    times = []
    for _ in range(calls):
        began = time.perf_counter_ns()
        function()
        times.append(time.perf_counter_ns() - began)
    return statistics.median(times) / 1e9


def call_overheads(calls: int) -> dict:
    """Row label -> {array label: median seconds per call}."""
    rows = {"direct call in this process": {}, "proxy call (array shipped there and back)": {},
            "timed request on a staged input": {}}
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        (Path(tmp) / "echo.py").write_text(ECHO_SOURCE)
        sandbox = Sandbox(Path(tmp), Limits(), detect_isolation(), hidden_paths=(PROJECT_ROOT,))
        try:
            session = Session(sandbox, part_timeout=3600)
            echo = StudentModule(session, "echo").identity
            namespace: dict = {}
            exec(ECHO_SOURCE, namespace)
            for label, array in ARRAYS.items():
                staged = session.stage(array)
                echo(array)  # imports echo.py; the first call is not measured
                rows["direct call in this process"][label] = median_seconds(
                    lambda: namespace["identity"](array), calls)
                rows["proxy call (array shipped there and back)"][label] = median_seconds(
                    lambda: echo(array), calls)
                rows["timed request on a staged input"][label] = median_seconds(
                    lambda: echo.call((staged,), timing=TimingRequest(discard=True)), calls)
        finally:
            sandbox.close()
    return rows


class MemorySampler(threading.Thread):
    """Peak, over samples, of the summed RSS and PSS (kB) of this process and all its
    descendants, and each process's PSS in the sample with the highest sum."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_rss = self.peak_pss = 0
        self.at_peak: dict = {}  # pid -> (PSS kB, what the process is)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            pids = _descendants(os.getpid()) | {os.getpid()}
            sample = {pid: _memory_kb(pid) for pid in pids}
            rss = sum(r for r, _ in sample.values())
            pss = sum(p for _, p in sample.values())
            self.peak_rss = max(self.peak_rss, rss)
            if pss > self.peak_pss:
                self.peak_pss = pss
                # Named right away, while the processes still exist.
                self.at_peak = {pid: (p, _describe_process(pid)) for pid, (_, p) in sample.items()}
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _descendants(root: int) -> set:
    children: dict = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _describe_process(pid: int) -> str:
    if pid == os.getpid():
        return "the grader (pytest, suites)"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return "exited"
    if any(b"_grader_runtime" in a for a in argv):
        return "sandboxed child (student or reference)"
    return os.path.basename(argv[0]).decode(errors="replace") or "exited"


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; (0, 0) if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            fields = dict(line.split()[:2] for line in f if line.split()[0] in ("Rss:", "Pss:"))
        return int(fields.get("Rss:", 0)), int(fields.get("Pss:", 0))
    except (OSError, ValueError):
        return 0, 0


def grade_reference() -> list:
    """(part, seconds, sampler, result) for grading the reference submission, part by part
    (as one ``grade run`` does), so that each part's peak shows; a part whose data is not on
    this machine (CIFAR-10 without ./data or its variable) is left out, and said so."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        submission = build_submission("reference", Path(tmp) / "reference")
        for name, part in load_config().parts.items():
            try:
                if part.data is not None:
                    find_data(part, None)
            except DataError as exc:
                print(f"{name} left out: {exc}")
                continue
            sampler = MemorySampler()
            sampler.start()
            began = time.monotonic()
            try:
                result = grade_submission(submission, [name])
            finally:
                elapsed = time.monotonic() - began
                sampler.stop()
            rows.append((name, elapsed, sampler, result))
    return rows


def _duration(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per overhead measurement")
    args = parser.parse_args(argv)
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # inherited by every process started from here on
    print(f"all on CPU {cpu} of {os.cpu_count()}; isolation: {detect_isolation().describe()}\n")

    overheads = call_overheads(args.calls)
    print(f"{'engine per-call overhead (median of %d)' % args.calls:<44}"
          + "".join(f"{label:>26}" for label in ARRAYS))
    for row, values in overheads.items():
        print(f"{row:<44}" + "".join(f"{_duration(values[label]):>26}" for label in ARRAYS))

    rows = grade_reference()
    print("\ngrading the whole reference submission, part by part; peak memory summed over "
          "every process of the grader")
    print(f"{'part':<13}{'score':>12}{'wall':>9}{'peak PSS':>11}{'peak RSS':>11}   "
          "PSS by process at the peak")
    for part, elapsed, sampler, result in rows:
        score = f"{sum(p.score for p in result.parts):g}/{sum(p.max_score for p in result.parts):g}"
        by_process = ", ".join(f"{what} {kb / 1024:.0f}" for kb, what in
                               sorted(sampler.at_peak.values(), reverse=True) if kb >= 1024)
        errors = [t.name for t in result.tests if t.grader_error]
        print(f"{part:<13}{score:>12}{elapsed:>8.1f}s{sampler.peak_pss / 1024:>8.0f} MB"
              f"{sampler.peak_rss / 1024:>8.0f} MB   {by_process}"
              + (f"; grader errors: {errors}" if errors else ""))
    total = sum(elapsed for _, elapsed, _, _ in rows)
    peak_mb = max(sampler.peak_pss for _, _, sampler, _ in rows) / 1024
    print(f"{'all parts':<13}{'':>12}{total:>8.1f}s{peak_mb:>8.0f} MB")
    verdicts = [f"time {'fits' if total < GRADESCOPE_SECONDS else 'DOES NOT FIT'}",
                f"memory {'fits' if peak_mb < GRADESCOPE_MEMORY_MB else 'DOES NOT FIT'} (by PSS)"]
    print(f"Gradescope defaults ({GRADESCOPE_MEMORY_MB} MB, {GRADESCOPE_SECONDS // 60} minutes): "
          + "; ".join(verdicts))


if __name__ == "__main__":
    main()
