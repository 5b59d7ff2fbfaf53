"""The audit's report: a table per part and every untriaged survivor's diff, for the terminal
(rich) and for a file (markdown for ``.md``, JSON otherwise)."""
from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table


def print_report(console: Console, scores: list, triage: dict, seconds: float) -> None:
    table = Table(title=f"Mutation score ({seconds:.0f} s)")
    for column in ("part", "mutants", "killed", "equivalent", "survivors to kill", "grader errors",
                   "score"):
        table.add_column(column)
    for part in scores:
        table.add_row(part.part, str(len(part.verdicts)), str(sum(v.killed for v in part.verdicts)),
                      str(sum(v.mutant.id in part.equivalent for v in part.survivors)),
                      str(len(part.unexplained)), str(len(part.errors)), f"{part.score:.1%}")
    console.print(table)
    for part in scores:
        for verdict in part.errors:
            console.print(f"[red]grader error[/red] on {verdict.mutant.id}: {verdict.error}")
        for verdict in part.survivors:
            mutant = verdict.mutant
            console.print(f"[bold]survivor {mutant.id}[/bold] ({mutant.operator}: {mutant.description}); "
                          f"passed all {len(verdict.passed)} tests of {part.part} that reach it; "
                          f"triage: {triage.get(mutant.id, 'none')}")
            if mutant.id not in part.equivalent:
                console.print(Syntax(mutant.diff(), "diff"))


def report_data(scores: list, triage: dict, seconds: float) -> dict:
    return {"seconds": round(seconds, 1), "parts": [{
        "part": part.part, "mutants": len(part.verdicts), "score": part.score,
        "killed": sum(v.killed for v in part.verdicts),
        "equivalent": sum(v.mutant.id in part.equivalent for v in part.survivors),
        "untriaged": len(part.unexplained), "grader_errors": len(part.errors),
        "verdicts": [{"id": v.mutant.id, "operator": v.mutant.operator, "line": v.mutant.line,
                      "description": v.mutant.description, "killed": v.killed,
                      "seconds": round(v.seconds, 2), "failed_tests": list(v.failed),
                      "error": v.error,
                      **({} if v.killed else {"diff": v.mutant.diff(), "passed_tests": list(v.passed),
                                              "triage": triage.get(v.mutant.id)})}
                     for v in part.verdicts]} for part in scores]}


def write_report(path: Path, scores: list, triage: dict, seconds: float) -> None:
    data = report_data(scores, triage, seconds)
    if path.suffix != ".md":
        path.write_text(json.dumps(data, indent=1) + "\n")
        return
    lines = [f"# grade audit ({data['seconds']} s)", "",
             "| part | mutants | killed | equivalent | untriaged survivors | grader errors | score |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {p['part']} | {p['mutants']} | {p['killed']} | {p['equivalent']} | {p['untriaged']} "
              f"| {p['grader_errors']} | {p['score']:.1%} |" for p in data["parts"]]
    for part in data["parts"]:
        for verdict in (v for v in part["verdicts"] if not v["killed"] and not v["error"]):
            lines += ["", f"## {verdict['id']} ({part['part']}, {verdict['operator']})", "",
                      f"{verdict['description']}", "", f"Triage: {verdict['triage'] or 'none'}", "",
                      f"Passed: {', '.join(verdict['passed_tests'])}", "", "```diff", verdict["diff"].rstrip(), "```"]
    path.write_text("\n".join(lines) + "\n")
