"""``grade batch`` from start to end: find the submissions, grade them with a progress bar, write
the gradebook, the feedback and the summary."""
from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from autograder.batch.class_results import FILE_NAME, ClassResults, write_class_results
from autograder.batch.discover import discover
from autograder.batch.grade import BatchError, BatchSettings, check_settings, grade_class
from autograder.batch.gradebook import write_feedback, write_gradebook
from autograder.batch.summary import summary_markdown, write_histogram
from autograder.engine.sandbox import detect_isolation


@dataclasses.dataclass(frozen=True)
class BatchOutputs:
    gradebook: Path
    feedback_dir: Path | None = None
    cache_dir: Path | None = None  # None: .grade-cache next to the gradebook

    @property
    def folder(self) -> Path:
        return Path(self.gradebook).resolve().parent

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else self.folder / ".grade-cache"

    @property
    def summary(self) -> Path:
        return self.folder / "summary.md"

    @property
    def histogram(self) -> Path:
        return self.folder / "score_histogram.png"

    @property
    def class_results(self) -> Path:
        return self.folder / FILE_NAME


@dataclasses.dataclass
class BatchReport:
    outcomes: list
    warnings: list  # for the instructor: entries that are not submissions, weak isolation
    summary: str  # Markdown


def run_batch(class_dir: Path, settings: BatchSettings, outputs: BatchOutputs,
              console: Console | None = None) -> BatchReport:
    _check_outputs_outside(class_dir, outputs)
    roster = discover(class_dir)
    if not roster.submissions:
        raise BatchError(f"no submissions (folders, .zip files or notebooks) in {class_dir}")
    config = check_settings(settings)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console or Console(stderr=True)) as progress, _sigterm_as_interrupt():
        task = progress.add_task("grading", total=len(roster.submissions))
        outcomes = grade_class(roster.submissions, settings, outputs.cache, hidden_paths(class_dir, outputs),
                               on_done=lambda outcome: progress.advance(task))
    points = {name: config.parts[name].points for name in (settings.parts or config.parts)}
    write_gradebook(outputs.gradebook, outcomes, list(points))
    write_class_results(outputs.class_results, ClassResults(outcomes, points, Path(class_dir).resolve()))
    if outputs.feedback_dir:
        write_feedback(outputs.feedback_dir, outcomes)
    totals = [o.result.score for o in outcomes if o.result is not None]
    try:
        write_histogram(outputs.histogram, totals, sum(points.values()))
        summary = summary_markdown(outcomes, points, outputs.histogram.name)
    except ModuleNotFoundError:  # matplotlib is optional; the gradebook is what matters
        summary = summary_markdown(outcomes, points, None) + \
            "\n_No histogram: matplotlib is not installed (pip install \"cnn-autograder[train]\")._\n"
    outputs.summary.write_text(summary, encoding="utf-8")
    warnings = [f"ignored {entry}" for entry in roster.ignored] + _isolation_warnings(class_dir)
    return BatchReport(outcomes, warnings, summary)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """A batch stopped with SIGTERM (kill, timeout, a job scheduler) stops its workers as Ctrl-C
    does, instead of leaving them to run on, orphaned, in their own sessions."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_outputs_outside(class_dir: Path, outputs: BatchOutputs) -> None:
    """Outputs inside the class folder would be taken for submissions by the next run."""
    class_dir = Path(class_dir).resolve()
    for path in (outputs.folder, outputs.cache.resolve(),
                 *([Path(outputs.feedback_dir).resolve()] if outputs.feedback_dir else [])):
        if path == class_dir or class_dir in path.parents:
            raise BatchError(f"{path} is inside the class folder {class_dir}; write the gradebook, "
                             "feedback and cache somewhere else")


def _isolation_warnings(class_dir: Path) -> list:
    """Without namespaces nothing is hidden: only file permissions keep submissions apart."""
    isolation = detect_isolation()
    if isolation.namespaces:
        return []
    if isolation.switch_user:
        return [f"no namespaces here: student code runs as an unprivileged user and can read "
                f"whatever others may read, so make {class_dir} and the outputs readable by their "
                f"owner only (chmod -R go-rwx)"]
    return [f"no namespaces here and not root: student code runs as you and can read the other "
            f"submissions in {class_dir} and the outputs"]


def hidden_paths(class_dir: Path, outputs: BatchOutputs) -> tuple:
    """What no submission's sandbox may see: the class (everyone else's work) and the outputs."""
    paths = {Path(class_dir).resolve(), outputs.folder, outputs.cache.resolve()}
    if outputs.feedback_dir:
        paths.add(Path(outputs.feedback_dir).resolve())
    return tuple(sorted(str(p) for p in paths if p != Path("/")))  # hiding / would hide everything
