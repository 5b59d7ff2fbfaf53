"""CPU time per submission of ``grade batch`` (parts shapes, layers, fast_layers), in this checkout
and, with ``--before REV``, in another revision checked out in a temporary git worktree.

    python -m benchmarks.bench_submission_cpu [--students 30] [--before REV]

Each revision grades the same generated class (``benchmarks.make_class``: reference copies, one-bug
submissions, unfinished and hostile ones) with one worker, inside a cgroup of its own: the CPU
time is the kernel's count for the batch and everything it started (Dask, the grader processes,
every sandbox), divided by the number of submissions. ``getrusage(RUSAGE_CHILDREN)`` would miss
the sandboxes, whose namespace wrappers are killed rather than waited for. Needs cgroups (root).
The gradebooks' scores must be equal, submission by submission; the script says which differ.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.engine import cgroups
from autograder.run import PROJECT_ROOT
from benchmarks.make_class import make_class

PARTS = ("shapes", "layers", "fast_layers")
# The whole batch's cgroup: no limit of its own (the sandboxes inside keep theirs).
NO_LIMIT_BYTES, NO_LIMIT_PIDS = 1 << 40, 100_000
BATCH = """
import sys
from pathlib import Path
from autograder.batch.command import BatchOutputs, run_batch
from autograder.batch.grade import BatchSettings
run_batch(Path(sys.argv[1]), BatchSettings(parts={parts!r}, jobs=1), BatchOutputs(gradebook=Path(sys.argv[2])))
"""


def batch_cpu(tree: Path, class_dir: Path, gradebook: Path) -> tuple:
    """(CPU seconds, wall seconds) of a one-worker batch run from the checkout at ``tree``."""
    group = cgroups.Cgroup.create(NO_LIMIT_BYTES, NO_LIMIT_PIDS)
    if group is None:
        sys.exit("this benchmark needs cgroups (run it as root)")
    try:
        started = time.perf_counter()
        subprocess.run(group.enter_command([sys.executable, "-c", BATCH.format(parts=PARTS),
                                            str(class_dir), str(gradebook)]),
                       cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True,
                       stderr=subprocess.DEVNULL)
        return group.cpu_seconds(), time.perf_counter() - started
    finally:
        group.close()


def scores(gradebook: Path) -> dict:
    with open(gradebook, newline="") as f:
        return {row["student"]: (row["status"], *(row[p] for p in PARTS)) for row in csv.DictReader(f)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--before", help="a git revision to measure too (e.g. main~5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        tmp = Path(tmp)
        make_class(tmp / "class", args.students)
        trees = {"this checkout": PROJECT_ROOT}
        if args.before:
            subprocess.run(["git", "worktree", "add", "--detach", str(tmp / "before"), args.before],
                           cwd=PROJECT_ROOT, check=True, capture_output=True)
            trees = {f"before ({args.before})": tmp / "before", **trees}
        try:
            # a folder each: a batch keeps its cache next to its gradebook
            measured = {name: (batch_cpu(tree, tmp / "class", tmp / f"out{i}" / "gradebook.csv"),
                               scores(tmp / f"out{i}" / "gradebook.csv"))
                        for i, (name, tree) in enumerate(trees.items())}
        finally:
            if args.before:
                subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "before")],
                               cwd=PROJECT_ROOT, check=False)
    print(f"{args.students} generated submissions, parts {', '.join(PARTS)}, one worker")
    for name, ((cpu, wall), _) in measured.items():
        print(f"{name:32s} {cpu / args.students:6.2f} CPU s per submission  ({wall:.0f} s wall)")
    if len(measured) == 2:
        (before, before_scores), (after, after_scores) = measured.values()
        print(f"{before[0] / after[0]:.2f}x less CPU time per submission")
        differ = sorted(s for s in before_scores if before_scores[s] != after_scores.get(s))
        print("scores identical, submission by submission" if not differ else
              "scores differ: " + "; ".join(f"{s}: {before_scores[s]} -> {after_scores.get(s)}" for s in differ))


if __name__ == "__main__":
    main()
