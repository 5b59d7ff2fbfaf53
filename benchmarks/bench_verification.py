"""What verifying the measured values costs: a part's grading time, before and after.

    python -m benchmarks.bench_verification [--before REV] [--after REV] [--parts ...] [--runs 3]

Grades the reference submission's parts with the commits ``--before`` and ``--after`` (default:
this checkout), each checked out into a temporary git worktree, alternating, ``--runs`` times each, every grading in
a fresh process, and prints each part's median wall time on both sides and the increase. The
default ``--before`` is main before issue 14 (timed runs on staged inputs with one element
changed, purity checks from the child's reply). Timed parts dominate: the timing budget, not the
verification, sets how long they take, so expect the increase to stay within the noise of a
busy machine (the issue's bound is 20%). Revisions before 4912100 may stop with a
FileNotFoundError from cgroups.detect while other graders start (a race fixed there); then
``benchmarks.verification_share`` measures the verification's share within one revision.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
# The submission lives in the checkout (some revisions hid /tmp from the child, and so a
# submission there).
GRADE_ONE = """
import json, sys, tempfile, time
from pathlib import Path
from autograder.config import load_config
from autograder.examples import build_submission
from autograder.run import RunOptions, grade_submission
folder = build_submission("reference", Path(tempfile.mkdtemp(dir=".")) / "submission")
began = time.monotonic()
result = grade_submission(folder, [sys.argv[1]], load_config(), RunOptions())
print(json.dumps({"seconds": time.monotonic() - began, "score": result.score}))
"""


def grade_seconds(tree: Path, part: str) -> tuple[float, float]:
    """(wall seconds, score) of grading ``part`` of the reference with the checkout ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", GRADE_ONE, part], cwd=tree, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"grading {part} with {tree} failed:\n{done.stderr[-2000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return row["seconds"], row["score"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="df31373", help="commit to compare with")
    parser.add_argument("--after", default=None, help="commit to measure (default: this checkout)")
    parser.add_argument("--parts", nargs="+", default=["fast_layers", "layers"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"before": _checkout(Path(scratch) / "before", args.before),
                 "after": _checkout(Path(scratch) / "after", args.after) if args.after else HERE}
        try:
            for part in args.parts:
                times: dict = {"before": [], "after": []}
                scores: dict = {"before": set(), "after": set()}
                for _ in range(args.runs):
                    for side, tree in trees.items():
                        seconds, score = grade_seconds(tree, part)
                        times[side].append(round(seconds, 1))
                        scores[side].add(round(score, 2))
                old, new = statistics.median(times["before"]), statistics.median(times["after"])
                print(f"{part}: before {old:.1f} s, after {new:.1f} s (medians of {args.runs}; "
                      f"runs {times}; scores {scores}), change {100 * (new / old - 1):+.0f}%")
        finally:
            for tree in trees.values():
                if tree != HERE:
                    subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force",
                                    str(tree)], capture_output=True)


def _checkout(folder: Path, revision: str) -> Path:
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(folder), revision],
                   check=True, capture_output=True)
    return folder


if __name__ == "__main__":
    main()
