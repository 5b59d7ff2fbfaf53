"""Render a ``GradeResult`` for people: a rich terminal report and a Markdown feedback file."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from autograder.engine.results import GradeResult


def print_report(result: GradeResult, console: Console | None = None, show_passed: bool = False) -> None:
    """Per-part tables, then what went wrong in each failed test."""
    console = console or Console()
    table = Table(title="Grade report", show_lines=False)
    for column, justify in (("#", "right"), ("Test", "left"), ("Score", "right"), ("", "center")):
        table.add_column(column, justify=justify)
    for test in result.tests:
        mark = "[green]PASS[/]" if test.status == "passed" else (
            "[yellow]PART[/]" if test.score > 0 else "[red]FAIL[/]")
        table.add_row(test.number, test.name, f"{test.score:.2f} / {test.max_score:.2f}", mark)
    console.print(table)
    for test in result.tests:
        if (test.status == "failed" or show_passed) and test.output:
            console.rule(f"{test.number} {test.name}", style="dim")
            console.print(test.output, markup=False, highlight=False)
    console.rule(style="dim")
    for part in result.parts:
        line = f"{part.name}: {part.score:.2f} / {part.max_score:.2f}  ({part.seconds:.1f} s)"
        console.print(line + (f"  [dim]{part.message}[/]" if part.message else ""))
    for note in result.notes:
        console.print(f"[yellow]Note:[/] {note}", highlight=False)
    console.print(f"[bold]Total: {result.score:.2f} / {result.max_score:.2f}[/]   "
                  f"[dim]graded in {result.execution_time:.1f} s; isolation: {result.isolation}[/]")
    for error in result.grader_errors:
        console.print(f"[red]grader error (instructor only):[/] {error}", highlight=False)


def feedback_markdown(result: GradeResult, student: str = "") -> str:
    """A student's feedback file: the same content as the report, as Markdown."""
    title = f"# Feedback{f' for {student}' if student else ''}"
    lines = [title, "", f"**Total: {result.score:.2f} / {result.max_score:.2f}**", "",
             "| # | Test | Score |", "|---|---|---|"]
    lines += [f"| {t.number} | {t.name} | {t.score:.2f} / {t.max_score:.2f} |" for t in result.tests]
    for test in result.tests:
        if test.status == "failed" and test.output:
            lines += ["", f"## {test.number} {test.name}", "", "```", test.output, "```"]
    lines += [""] + [f"> Note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"
