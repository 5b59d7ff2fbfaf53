"""Are the timing verdicts stable? Grade two submissions again and again next to a CPU hog.

    python -m benchmarks.flakiness [--runs 20] [--hogs 1] [--slowdown 4]

Grades the fast_layers part of a reference-speed submission and of one whose fast layers do
``--slowdown`` times the reference's work (each call runs the reference function that many
times), ``--runs`` times each, alternating, while ``--hogs`` busy-looping processes compete for
the CPUs. A timing test passes when it earns full credit. Stable verdicts mean: the reference-
speed submission passes every timing test in every run, and the slowed one fails every timing
test in every run, always with the same credit.
"""
from __future__ import annotations

import argparse
import collections
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.examples import build_submission
from autograder.run import grade_submission

PART = "fast_layers"
TIMED_FUNCTIONS = ("conv_forward_fast", "conv_backward_fast", "max_pool_forward_fast",
                   "max_pool_backward_fast")
SLOWED_SOURCE = '''"""The reference fast layers, {n}x slower: each call does the reference's work {n} times."""
import _reference_fast_layers as _reference


def _slowed(function):
    def slowed(*args, **kwargs):
        for _ in range({n} - 1):
            function(*args, **kwargs)
        return function(*args, **kwargs)
    return slowed


{assignments}
'''
RATIO = re.compile(r"took ([0-9.]+)x the reference")


def build_slowed_submission(dest: Path, slowdown: int) -> Path:
    """The reference submission, with fast_layers.py replaced by a slowed wrapper of it."""
    build_submission("reference", dest)
    (dest / "fast_layers.py").rename(dest / "_reference_fast_layers.py")
    assignments = "\n".join(f"{name} = _slowed(_reference.{name})" for name in TIMED_FUNCTIONS)
    (dest / "fast_layers.py").write_text(SLOWED_SOURCE.format(n=slowdown, assignments=assignments))
    return dest


def timing_results(submission: Path) -> dict:
    """Timed function -> (credit fraction, measured ratio, output) from one grading of the part;
    the ratio is NaN when the test reached no verdict (its output says why)."""
    result = grade_submission(submission, [PART])
    found = {}
    for test in result.tests:
        name = next((f for f in TIMED_FUNCTIONS if test.name.startswith(f"{PART}: {f}: speed")), None)
        if name is not None:
            ratio = RATIO.search(test.output)
            found[name] = (round(test.score / test.max_score, 3) if test.max_score else 0.0,
                           float(ratio.group(1)) if ratio else float("nan"), test.output)
    missing = set(TIMED_FUNCTIONS) - set(found)
    if missing:
        raise RuntimeError(f"no timing test found for {sorted(missing)} in the {PART} suite")
    return found


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hogs", type=int, default=1, help="busy-looping processes beside the grader")
    parser.add_argument("--slowdown", type=int, default=4)
    args = parser.parse_args(argv)

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="flakiness-") as tmp:
            submissions = {
                "reference speed": build_submission("reference", Path(tmp) / "reference"),
                f"{args.slowdown}x slowed": build_slowed_submission(Path(tmp) / "slowed", args.slowdown),
            }
            runs = collections.defaultdict(list)  # label -> one {function: (credit, ratio)} per run
            for run in range(args.runs):
                for label, path in submissions.items():
                    runs[label].append(timing_results(path))
                # every run's credits as they come, so a run stopped early still says something
                credits = "; ".join(f"{label}: " + " ".join(f"{r[f][0]:g}" for f in TIMED_FUNCTIONS)
                                    for label, r in ((k, v[-1]) for k, v in runs.items()))
                print(f"run {run + 1}/{args.runs} done ({time.monotonic() - started:.0f} s): "
                      f"credits {credits}", flush=True)
                for function, (credit, _, output) in runs["reference speed"][-1].items():
                    if credit < 1.0:  # a false accusation: what the verdict said, to study it
                        print(f"  reference speed, {function}: {output}", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    print(f"\n{args.runs} gradings of each submission ({PART} part), {args.hogs} CPU hog(s) running "
          f"beside them, {os.cpu_count()} CPUs, {time.monotonic() - started:.0f} s in all")
    for label, results in runs.items():
        passed_all = sum(all(r[f][0] == 1.0 for f in TIMED_FUNCTIONS) for r in results)
        failed_all = sum(all(r[f][0] < 1.0 for f in TIMED_FUNCTIONS) for r in results)
        print(f"\n{label}: every timing test passed in {passed_all}/{len(results)} runs, "
              f"every timing test failed in {failed_all}/{len(results)} runs")
        for function in TIMED_FUNCTIONS:
            credits = collections.Counter(r[function][0] for r in results)
            ratios = [r[function][1] for r in results if not math.isnan(r[function][1])]
            spread = ", ".join(f"credit {c:g} in {n}/{len(results)}" for c, n in sorted(credits.items()))
            print(f"  {function:<24} {spread}; ratio {min(ratios, default=math.nan):.2f} to "
                  f"{max(ratios, default=math.nan):.2f}")
            for output in {r[function][2] for r in results if math.isnan(r[function][1])}:
                print(f"    no verdict: {output.splitlines()[0] if output else '(no output)'}")


if __name__ == "__main__":
    main()
