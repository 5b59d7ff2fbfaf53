"""How long the full ``grade audit`` takes, part by part, and what it finds.

    python -m benchmarks.bench_audit [--workers 2] [--part P ...] [--output audit.md]

Audits every numpy part (or those named) with all its mutants, one part after the other, and
prints per part: mutants, killed, triaged equivalent, untriaged survivors, grader errors, the
mutation score, the wall time and the CPU time of this process and every process it waited for
(the workers and the sandboxes): on a shared machine the wall time depends on the other jobs,
the CPU time much less. The issue's bound: all numpy parts in 15 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from autograder.audit.report import write_report
from autograder.audit.runner import audited_parts, load_triage, run_audit
from autograder.config import load_config


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--part", action="append", default=[])
    parser.add_argument("--output", type=Path, help="the full report (markdown for .md, else JSON)")
    args = parser.parse_args()
    console = Console(width=150)
    table = Table(title=f"grade audit, {args.workers} workers")
    for column in ("part", "mutants", "killed", "equivalent", "untriaged survivors", "errors",
                   "score", "wall s", "CPU s", "wall s / mutant"):
        table.add_column(column)
    scores, wall, cpu = [], 0.0, 0.0
    for part in audited_parts(load_config(), tuple(args.part)):
        began, began_cpu = time.monotonic(), cpu_seconds()
        [score] = run_audit([part], args.workers, None, 0)
        seconds, cpu_used = time.monotonic() - began, cpu_seconds() - began_cpu
        wall, cpu = wall + seconds, cpu + cpu_used
        scores.append(score)
        killed = sum(v.killed for v in score.verdicts)
        equivalent = sum(v.mutant.id in score.equivalent for v in score.verdicts if not v.killed)
        table.add_row(part.name, str(len(score.verdicts)), str(killed), str(equivalent),
                      str(len(score.unexplained)), str(len(score.errors)), f"{score.score:.1%}",
                      f"{seconds:.0f}", f"{cpu_used:.0f}", f"{seconds / len(score.verdicts):.2f}")
        for verdict in score.unexplained + score.errors:
            console.print(f"{part.name}: {verdict.mutant.id} {verdict.error or 'survived'}: "
                          f"{verdict.mutant.description}")
    table.add_row("all", str(sum(len(s.verdicts) for s in scores)), "", "", "", "", "",
                  f"{wall:.0f}", f"{cpu:.0f}", "")
    console.print(table)
    if args.output:
        write_report(args.output, scores, load_triage(), wall)
        console.print(f"report: {args.output}")


if __name__ == "__main__":
    main()
