"""The grader's own peak memory over a batch of hostile submissions (issue 13: at most 300 MiB).

Grades every case of the hostile corpora (``tests/corpus``) one after another in this process,
as ``grade run`` would, and prints this process's peak resident set (``VmHWM``, the kernel's
high-water mark; the sandboxed children are other processes and are not counted) and how many
results.json are valid against the Gradescope schema and carry exactly the case's expected credit.

    python -m benchmarks.bench_grader_rss                 # every case (minutes)
    python -m benchmarks.bench_grader_rss --case reply_announces_500mb --case zip_lying_entry_count
    CORPUS_CIFAR10=1 python -m benchmarks.bench_grader_rss   # with the cifar10 cases

The harness (pytest, hypothesis, jsonschema, the corpora) is loaded in this process too, so the
number is an upper bound of what ``grade run`` itself holds.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import jsonschema

from tests.corpus import harness, hostile
from tests.corpus import test_hostile_isolation, test_hostile_output, test_hostile_protocol
from tests.corpus import test_hostile_trusted

BOUND_MIB = 300


def all_cases() -> list:
    return (hostile.HOSTILE + test_hostile_protocol.CASES + test_hostile_isolation.CASES
            + test_hostile_output.HOSTILE_OUTPUT + test_hostile_trusted.CASES)


def peak_rss_mib() -> float:
    """This process's peak resident set, from /proc/self/status (its children not counted)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="grade only these cases (repeatable)")
    args = parser.parse_args()
    cases = [c for c in all_cases() if not harness.skipped_here(c) and (not args.case or c.name in args.case)]
    missing = set(args.case or ()) - {c.name for c in cases}
    assert not missing, f"no such case here: {sorted(missing)}"
    validator = jsonschema.Draft202012Validator(json.loads(harness.SCHEMA_PATH.read_text()))
    valid = exact = 0
    started = time.monotonic()
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
            outcome = harness.grade_case(case, Path(tmp))
        problems = []
        for name, check in (("invalid", harness.check_valid_result), ("credit", harness.check_credit)):
            try:
                check(outcome, validator) if name == "invalid" else check(outcome)
            except AssertionError as exc:
                problems.append(f"{name}: {str(exc).splitlines()[0][:100]}")
        valid += not any(p.startswith("invalid") for p in problems)
        exact += not problems
        print(f"{case.name:45s} {outcome.seconds:6.1f} s  peak {peak_rss_mib():6.1f} MiB  "
              f"{'; '.join(problems) or 'ok'}", flush=True)
    peak = peak_rss_mib()
    print(f"\n{len(cases)} cases in {time.monotonic() - started:.0f} s: {valid} valid results.json, "
          f"{exact} with exactly the expected credit")
    print(f"grader peak RSS: {peak:.1f} MiB (bound {BOUND_MIB} MiB: {'ok' if peak <= BOUND_MIB else 'OVER'})")


if __name__ == "__main__":
    main()
