"""Render a ``GradeResult`` for people: a rich terminal report and a Markdown feedback file.

Both tell each cause of lost points once (``GradeResult.causes``: a file that did not import,
a function that raised the same error in every test) with the tests it cost, then the failures
that are each test's own. Text from student code is already clean (``engine.student_text``);
here it is only ever printed as ``rich.text.Text`` (never parsed as markup) or escaped for
Markdown.
"""
from __future__ import annotations

import re

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autograder.engine.results import GradeResult, cause_verdict

# The terminal report of any submission stays short enough to read: the table (one line per
# test) and the footer always, then causes and per-test details (as wrapped at the terminal's
# width) while lines are left. The rest is in results.json (`grade run --output`) and the
# feedback files. Under 150 with room for the lines a command prints before the report.
MAX_REPORT_LINES = 140
CAUSE_LINES = 2  # after a cause's error line: where it happened, and the fix
TEST_DETAIL_LINES = 6  # a test's own failing cases and its hint
MAX_FOOTER_ITEMS = 5  # notes, and grader errors, each


def print_report(result: GradeResult, console: Console | None = None) -> None:
    """What went wrong (each cause once), the per-test table, each test's own failures, totals."""
    console = console or Console()
    table = _table(result, console.width)
    footer = _footer(result, console.width)
    # Kept for the always-shown lines: the heading of the causes and the line saying how
    # many failures were left out (two lines when wrapped).
    budget = MAX_REPORT_LINES - _height(console, [table, *footer]) - 3
    causes, budget, causes_left = _within(console, _cause_blocks(result), budget)
    details, budget, details_left = _within(console, _detail_blocks(result), budget)
    if causes:
        _lines(console, [Text("What went wrong", style="bold")] + causes)
    console.print(table)
    _lines(console, details)
    if causes_left or details_left:
        _lines(console, [Text(f"({causes_left + details_left} more failure(s) not shown here: see "
                              "results.json from `grade run --output`, or grade one part with "
                              "--part)", style="dim")])
    _lines(console, footer)


def _within(console: Console, blocks: list, budget: int) -> tuple:
    """The lines of ``blocks`` (each a full form and a one-line form, or None) that fit in
    ``budget`` terminal lines as wrapped at the console's width: first a line for each block
    that has one, so that none goes unnamed, then full forms in order while they fit. Returns
    the lines, the budget left, and how many blocks were left out."""
    chosen: list = [None] * len(blocks)
    for i, (_, short) in enumerate(blocks):
        if short is not None and budget >= 1:
            chosen[i], budget = [short], budget - 1
    for i, (block, _) in enumerate(blocks):
        extra = _height(console, block) - len(chosen[i] or ())
        if extra <= budget:
            chosen[i], budget = block, budget - extra
    return [line for lines in chosen if lines for line in lines], budget, chosen.count(None)


def _height(console: Console, renderables: list) -> int:
    """Terminal lines that ``renderables`` take at the console's width."""
    return sum(len(console.render_lines(r, pad=False)) for r in renderables)


def _lines(console: Console, lines: list) -> None:
    for line in lines:  # a one-line form (no_wrap) is cut, as _height measured it
        console.print(line, highlight=False, no_wrap=line.no_wrap, overflow=line.overflow)


def _table(result: GradeResult, width: int) -> Table:
    """One line per test: the name is cut to what the number, score and mark leave of ``width``."""
    table = Table(title="Grade report", show_lines=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Test", no_wrap=True, overflow="ellipsis", max_width=max(10, width - 36))
    table.add_column("Score", justify="right", no_wrap=True)
    table.add_column("", justify="center", no_wrap=True)
    for test in result.tests:
        mark = (Text("PASS", style="green") if test.status == "passed" else
                Text("PART", style="yellow") if test.score > 0 else Text("FAIL", style="red"))
        table.add_row(test.number, Text(test.name), f"{test.score:.2f} / {test.max_score:.2f}", mark)
    return table


def _cause_blocks(result: GradeResult) -> list:
    blocks = []
    for cause, numbers in result.causes:
        rest = cause.detail.split("\n")[1:]
        verdict = cause_verdict(cause, numbers)
        block = [Text(cause.summary, style="bold red")]
        block += [Text(line) for line in rest[-CAUSE_LINES:]]
        block.append(Text(f"  {verdict}", style="dim"))
        short = Text.assemble((verdict.split(" test")[0] + ": ", "dim"), (cause.summary, "red"),
                              no_wrap=True, overflow="ellipsis")
        blocks.append((block, short))
    return blocks


def _detail_blocks(result: GradeResult) -> list:
    """Each failed test whose failures are its own (not only the causes told above)."""
    blocks = []
    for test in result.tests:
        if test.output and test.status == "failed" and not test.explained:
            lines = test.output.split("\n")
            block = [Text(f"-- {test.number} {test.name}", style="dim")]
            block += [Text(line) for line in lines[:TEST_DETAIL_LINES]]
            if len(lines) > TEST_DETAIL_LINES:
                block.append(Text(f"   ... {len(lines) - TEST_DETAIL_LINES} more line(s) in "
                                  "results.json", style="dim"))
            blocks.append((block, None))
    return blocks


def _footer(result: GradeResult, width: int) -> list:
    """Part scores (one line each, cut at the terminal's width: a part's message is also told
    as a cause), notes and grader errors (each at most about three lines), and the total."""
    parts = [Text("-" * 20, style="dim")]
    for part in result.parts:
        line = Text(f"{part.name}: {part.score:.2f} / {part.max_score:.2f}  ({part.seconds:.1f} s)",
                    no_wrap=True, overflow="ellipsis")
        if part.message:
            line.append(f"  {part.message}", style="dim")
        parts.append(line)
    notes = _capped([Text.assemble(("Note: ", "yellow"), _cut(note, width))
                     for note in result.notes], "notes")
    total = Text.assemble((f"Total: {result.score:.2f} / {result.max_score:.2f}", "bold"),
                          (f"   graded in {result.execution_time:.1f} s; isolation: "
                           f"{result.isolation}", "dim"))
    errors = _capped([Text.assemble(("grader error (instructor only): ", "red"), _cut(error, width))
                      for error in result.grader_errors], "grader errors")
    seed = [Text(seed_line(result.seed), style="dim")] if result.seed is not None else []
    return parts + notes + [total] + errors + seed


def seed_line(seed: int) -> str:
    """The seed of a grade's hidden inputs, told in the terminal report only: on Gradescope that
    is the autograder's output, which students never see (results.json says
    ``stdout_visibility: hidden``), while results.json is theirs to read."""
    return f"hidden inputs: seed {seed} (instructor only; `grade run --seed {seed}` reproduces this grade)"


def _cut(text: str, width: int) -> str:
    """At most about three terminal lines of ``text``."""
    limit = 2 * width
    return text if len(text) <= limit else text[:limit] + " [...]"


def _capped(lines: list, what: str) -> list:
    if len(lines) <= MAX_FOOTER_ITEMS:
        return lines
    return lines[:MAX_FOOTER_ITEMS] + [Text(f"... and {len(lines) - MAX_FOOTER_ITEMS} more {what} "
                                            "in results.json", style="dim")]


def feedback_markdown(result: GradeResult, student: str = "") -> str:
    """A student's feedback file: each cause once, the table, then each test's own failures."""
    title = f"# Feedback{f' for {_md(student)}' if student else ''}"
    lines = [title, "", f"**Total: {result.score:.2f} / {result.max_score:.2f}**", ""]
    if result.causes:
        lines += ["## What went wrong", ""]
        for cause, numbers in result.causes:
            lines += [f"**{_md(cause_verdict(cause, numbers))}**", "", *_fenced(cause.detail), ""]
    lines += ["| # | Test | Score |", "|---|---|---|"]
    lines += [f"| {t.number} | {_md(t.name)} | {t.score:.2f} / {t.max_score:.2f} |" for t in result.tests]
    for test in result.tests:
        if test.status == "failed" and test.output:
            lines += ["", f"## {test.number} {_md(test.name)}", "", *_fenced(test.output)]
    lines += [""] + [f"> Note: {_md(note)}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text shown as itself in Markdown: no links, emphasis, HTML or table breaks from it."""
    return re.sub(r"([\\`*_\[\]<>|#!~&])", r"\\\1", text.replace("\n", " "))


def _fenced(text: str) -> list:
    """A code block whose fence is longer than any run of backticks inside it."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return [fence, text, fence]
