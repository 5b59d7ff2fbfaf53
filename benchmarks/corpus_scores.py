"""Every test's score for every case of the buggy and hostile corpora of the numpy parts, to check
that a change to the engine leaves all scores as they were.

    python -m benchmarks.corpus_scores OUT.json           # grade the corpus with this checkout
    python -m benchmarks.corpus_scores --compare A.json B.json

To grade with another revision, run it from a checkout of that revision's tree:
``PYTHONPATH=OTHER_TREE python /path/to/benchmarks/corpus_scores.py OUT.json``. Timed tests on a
busy machine can differ between any two runs; the comparison names them apart.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

NUMPY_PARTS = {"shapes", "layers", "fast_layers"}


def grade_corpus() -> dict:
    """case name -> {test name: score} (or {"error": text} when grading it raised)."""
    from tests.corpus.buggy import ACCEPTED, BUGGY
    from tests.corpus.harness import grade_case
    from tests.corpus.hostile import HOSTILE

    found = {}
    for case in BUGGY + ACCEPTED + HOSTILE:
        if not set(case.parts) <= NUMPY_PARTS:
            continue
        with tempfile.TemporaryDirectory(prefix="corpus-scores-") as tmp:
            try:
                outcome = grade_case(case, Path(tmp))
                found[case.name] = {f"{row.part}: {row.name}": round(row.score, 6) for row in outcome.rows}
            except Exception as exc:  # noqa: BLE001 - recorded, and compared like a score
                found[case.name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        print(case.name, sum(v for v in found[case.name].values() if isinstance(v, float)), file=sys.stderr)
    return found


def compare(before: dict, after: dict) -> list:
    """One line per case whose scores differ (or that only one side graded)."""
    lines = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            a, b = before.get(name, {}), after.get(name, {})
            changed = sorted(t for t in set(a) | set(b) if a.get(t) != b.get(t))
            lines.append(f"{name}: " + "; ".join(f"{t}: {a.get(t)} -> {b.get(t)}" for t in changed))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", nargs="?", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        differ = compare(before, after)
        print(f"{len(set(before) | set(after))} cases, {len(differ)} with different scores")
        print("\n".join(differ))
        return
    args.output.write_text(json.dumps(grade_corpus(), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
