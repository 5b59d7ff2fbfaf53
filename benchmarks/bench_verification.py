"""What verifying the measured values costs: a part's grading time, before and after.

    python -m benchmarks.bench_verification [--before df31373] [--parts fast_layers layers] [--runs 3]

Grades the reference submission's parts with this checkout and with the commit ``--before``
(checked out into a temporary git worktree), alternating, ``--runs`` times each, every grading in
a fresh process, and prints each part's median wall time on both sides and the increase. The
default ``--before`` is main before issue 14 (timed runs on staged inputs with one element
changed, purity checks from the child's reply). Timed parts dominate: the timing budget, not the
verification, sets how long they take, so expect the increase to stay within the noise of a
busy machine (the issue's bound is 20%).
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
GRADE_ONE = """
import json, sys, tempfile, time
from pathlib import Path
from autograder.config import load_config
from autograder.examples import build_submission
from autograder.run import RunOptions, grade_submission
folder = build_submission("reference", Path(tempfile.mkdtemp()) / "submission")
began = time.monotonic()
result = grade_submission(folder, [sys.argv[1]], load_config(), RunOptions())
print(json.dumps({"seconds": time.monotonic() - began, "score": result.score}))
"""


def grade_seconds(tree: Path, part: str) -> tuple[float, float]:
    """(wall seconds, score) of grading ``part`` of the reference with the checkout ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", GRADE_ONE, part], cwd=tree, env=env,
                          capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return row["seconds"], row["score"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="df31373", help="commit to compare with")
    parser.add_argument("--parts", nargs="+", default=["fast_layers", "layers"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        before = Path(scratch) / "before"
        subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(before),
                        args.before], check=True, capture_output=True)
        try:
            for part in args.parts:
                times: dict = {"before": [], "after": []}
                scores: dict = {"before": set(), "after": set()}
                for _ in range(args.runs):
                    for side, tree in (("before", before), ("after", HERE)):
                        seconds, score = grade_seconds(tree, part)
                        times[side].append(round(seconds, 1))
                        scores[side].add(round(score, 2))
                old, new = statistics.median(times["before"]), statistics.median(times["after"])
                print(f"{part}: before {old:.1f} s, after {new:.1f} s (medians of {args.runs}; "
                      f"runs {times}; scores {scores}), change {100 * (new / old - 1):+.0f}%")
        finally:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(before)],
                           capture_output=True)


if __name__ == "__main__":
    main()
