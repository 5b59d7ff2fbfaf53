"""``grade audit``: the click command (the work is in ``runner`` and ``report``)."""
from __future__ import annotations

import time
from pathlib import Path

import click


@click.command()
@click.option("--part", "parts", multiple=True,
              help="Audit only this part (repeatable); default: every numpy part of the configuration.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Mutants graded at once, each in its own process and sandbox.")
@click.option("--sample", type=click.IntRange(min=1),
              help="Grade only this many mutants per part, drawn at random (see --seed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Which mutants --sample draws.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report here: markdown for a .md name, JSON otherwise.")
def command(parts: tuple, workers: int, sample: int | None, seed: int, output: Path | None) -> None:
    """Grade mutants of the reference solutions with the hidden suites: the mutation score per
    part, and each surviving mutant's diff (triaged in autograder/audit/triage.toml)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from autograder.audit.report import print_report, write_report
    from autograder.audit.runner import audited_parts, load_triage, run_audit
    from autograder.config import load_config
    from autograder.run import GraderError

    config = load_config()
    selected = audited_parts(config, parts)
    unknown = set(parts) - {p.name for p in selected}
    if unknown:
        raise GraderError(f"cannot audit part(s) {sorted(unknown)}; the numpy parts are "
                          f"{[p.name for p in audited_parts(config)]}")
    console = Console()
    started = time.monotonic()
    with Progress(TextColumn("grading mutants"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[killed]} killed"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("audit", total=None, killed=0)
        killed = 0

        def advance(verdict) -> None:
            nonlocal killed
            killed += verdict.killed
            bar.update(task, advance=1, killed=killed)

        scores = run_audit(selected, workers, sample, seed, on_verdict=advance,
                           on_start=lambda total: bar.update(task, total=total))
    seconds = time.monotonic() - started
    triage = load_triage()
    print_report(console, scores, triage, seconds)
    if output:
        write_report(output, scores, triage, seconds)
        console.print(f"Report written to {output}")
