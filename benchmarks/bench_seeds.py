"""The reference and every buggy case of the corpus under five seeds, graded in full (issue 16).

    python -m benchmarks.bench_seeds [--seeds 5]

Grades each case of ``tests/corpus/buggy.py`` and the reference (shapes, layers, fast_layers)
with the corpus harness, in the sandbox, under each seed, every test but the timed ones (their
credit is the machine's, not the seed's), and checks the exact expected credit each time. Prints
one line per case and the total time; exits 1 if any case lost or gained credit under a seed.
CI runs a cheaper cut of this (``tests/suites/test_seeds.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from autograder.run import SUITES_DIR
from tests.corpus import Case
from tests.corpus.buggy import BUGGY
from tests.corpus.harness import check_credit, grade_case

PARTS = ("shapes", "layers", "fast_layers")
SEEDS = (1, 2**63 + 5, 271828, 31415926, 2**64 - 1)
UNTIMED = tuple(f"{path.parent.name}/{path.name}" for part in PARTS
                for path in sorted((SUITES_DIR / part).glob("test_*.py")) if path.name != "test_timing.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="how many of the five seeds")
    seeds = SEEDS[:parser.parse_args().seeds]
    cases = [Case("reference", PARTS, "the reference solutions")] + BUGGY
    started, failures = time.monotonic(), 0
    for case in cases:
        began, problems = time.monotonic(), []
        for seed in seeds:
            graded = dataclasses.replace(case, seed=seed, tests=tuple(
                t for t in UNTIMED if t.split("/")[0] in case.parts))
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    check_credit(grade_case(graded, Path(tmp)))
                except AssertionError as exc:
                    problems.append(f"seed {seed}: {str(exc)[:500]}")
        failures += bool(problems)
        print(f"{case.name}: {len(seeds) - len(problems)}/{len(seeds)} seeds with its exact credit "
              f"({(time.monotonic() - began) / len(seeds):.1f} s a grade)", flush=True)
        for problem in problems:
            print(f"    {problem}", flush=True)
    print(f"{len(cases)} cases x {len(seeds)} seeds in {time.monotonic() - started:.0f} s; "
          f"{failures} case(s) changed with the seed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
