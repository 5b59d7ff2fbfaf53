"""Grade mutants with the hidden suites, in parallel, and sum up the mutation score per part.

Each mutant is a submission like any other: the reference's files with the part's file replaced,
graded by ``grade_submission`` in the usual sandbox, one sandbox start a mutant. It is killed by
the first test that loses points; it runs only the untimed tests that reach its change, cheapest
first (``selection``), as measured once on the reference.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import multiprocessing
import random
import shutil
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Callable

from autograder.audit.mutants import Mutant, mutants_of
from autograder.audit.selection import TestPicker, reached_functions, reaching_tests
from autograder.config import GradingConfig, load_config
from autograder.examples import REFERENCE_DIR

TRIAGE_FILE = Path(__file__).with_name("triage.toml")
# The hidden inputs' seed of every audit grade: the reference's coverage and every mutant's
# verdict on the same inputs, the same in every audit, so that a verdict and the triage reproduce.
INPUTS_SEED = 0


@dataclasses.dataclass(frozen=True)
class Verdict:
    mutant: Mutant
    failed: tuple  # the test that lost points (a mutant stops at its first), by name
    passed: tuple  # the tests it ran and passed: those that reach its change
    seconds: float = 0.0
    error: str = ""  # the grader itself failed on this mutant: neither killed nor survived

    @property
    def killed(self) -> bool:
        return not self.error and bool(self.failed)


@dataclasses.dataclass(frozen=True)
class PartScore:
    part: str
    verdicts: tuple
    equivalent: dict  # mutant id -> why it cannot be told from the reference

    @property
    def survivors(self) -> list:
        return [v for v in self.verdicts if not v.killed and not v.error]

    @property
    def errors(self) -> list:
        return [v for v in self.verdicts if v.error]

    @property
    def unexplained(self) -> list:
        """Survivors not triaged as equivalent: each needs a test (or a reason)."""
        return [v for v in self.survivors if v.mutant.id not in self.equivalent]

    @property
    def countable(self) -> int:
        return sum(1 for v in self.verdicts if v.mutant.id not in self.equivalent and not v.error)

    @property
    def score(self) -> float:
        """Killed mutants over the mutants that are not triaged as equivalent."""
        killed = sum(1 for v in self.verdicts if v.killed)
        return killed / self.countable if self.countable else 1.0


def audited_parts(config: GradingConfig, names: tuple = ()) -> list:
    """The parts whose files are numpy code the reference solves: those that keep torch out."""
    parts = [p for p in config.parts.values() if "torch" in p.forbid_imports]
    return [p for p in parts if not names or p.name in names]


def part_mutants(part, sample: int | None = None, seed: int = 0) -> list:
    """The mutants of the part's reference files; ``sample`` draws that many of them at random,
    the same ones for the same ``seed`` and reference."""
    mutants = []
    for file in part.files:
        if file.endswith(".py") and (REFERENCE_DIR / file).is_file():
            mutants += mutants_of(part.name, file, (REFERENCE_DIR / file).read_text())
    if sample is None or sample >= len(mutants):
        return mutants
    return sorted(random.Random(seed).sample(mutants, sample), key=mutants.index)


def load_triage(path: Path = TRIAGE_FILE) -> dict:
    """mutant id -> verdict text ("equivalent: ..." or "test: ..."), from ``triage.toml``."""
    with open(path, "rb") as handle:
        return tomllib.load(handle).get("mutants", {})


def equivalent_ids(triage: dict) -> dict:
    return {key: text for key, text in triage.items() if text.startswith("equivalent:")}


def run_audit(parts: list, workers: int, sample: int | None, seed: int,
              on_verdict: Callable[[Verdict], None] = lambda verdict: None,
              on_start: Callable[[int], None] = lambda total: None) -> list:
    """Grade every (sampled) mutant of ``parts`` with ``workers`` processes; a ``PartScore`` each."""
    mutants = [m for part in parts for m in part_mutants(part, sample, seed)]
    on_start(len(mutants))
    verdicts = []
    # spawn: the workers start clean rather than as copies of a process with a progress thread.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        names = [part.name for part in parts]
        coverage = dict(zip(names, pool.map(reference_coverage, names)))
        futures = [pool.submit(grade_mutant, m,
                               reaching_tests(coverage[m.part], reached_functions(m.original, m.line)))
                   for m in mutants]
        for future in concurrent.futures.as_completed(futures):
            verdict = future.result()
            verdicts.append(verdict)
            on_verdict(verdict)
    equivalent = equivalent_ids(load_triage())
    order = {m.id: k for k, m in enumerate(mutants)}
    return [PartScore(part.name, tuple(sorted((v for v in verdicts if v.mutant.part == part.name),
                                              key=lambda v: order[v.mutant.id])), equivalent)
            for part in parts]


def reference_coverage(part: str) -> dict:
    """node id -> ``TestRun`` of each untimed test of ``part`` graded on the reference (in a
    worker process). Raises ``AuditError`` if the reference loses points: no mutant's verdict
    would then mean anything."""
    picker = _grade_reference_with(part, None, lambda folder: None)
    lost = [run.name for run in picker.runs.values() if run.lost_points]
    if lost or not picker.runs:
        raise AuditError(f"the reference loses points in {part}: {lost or 'no test ran'}; "
                         "fix the suite or the reference before auditing")
    return picker.runs


def grade_mutant(mutant: Mutant, tests: tuple | None = None) -> Verdict:
    """Grade the reference submission with ``mutant`` in place of its file, running ``tests``
    (node ids; None: every untimed test), in a worker process."""
    started = time.monotonic()
    try:
        picker = _grade_reference_with(mutant.part, tests,
                                       lambda folder: (folder / mutant.file).write_text(mutant.source))
    except Exception as exc:  # one broken grade must not lose the whole audit's work
        return Verdict(mutant, (), (), time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
    runs = picker.runs.values()
    return Verdict(mutant, tuple(r.name for r in runs if r.lost_points),
                   tuple(r.name for r in runs if not r.lost_points), time.monotonic() - started)


class AuditError(Exception):
    """The audit cannot give meaningful verdicts (the reference itself fails its suite)."""


def _grade_reference_with(part: str, tests: tuple | None, change: Callable[[Path], None]) -> TestPicker:
    """Grade the reference's files, changed by ``change(folder)``, on ``part`` with a
    ``TestPicker`` running ``tests``; returns the picker, which holds what each test did.
    Workers read the shipped configuration themselves (a course's part settings are rebuilt
    from their declaration)."""
    from autograder.run import RunOptions, grade_submission  # the worker's own import, after spawn

    picker = TestPicker(tests)
    with tempfile.TemporaryDirectory(prefix="grade-audit-") as tmp:
        folder = Path(tmp) / "submission"
        folder.mkdir()
        for file in _config().parts[part].files:  # the part's files only (not cifar10.pt's 8 MB)
            shutil.copyfile(REFERENCE_DIR / file, folder / file)
        change(folder)
        grade_submission(folder, [part], _config(),
                         RunOptions(suite_plugins=(picker,), seed=INPUTS_SEED))
    return picker


@functools.cache
def _config() -> GradingConfig:
    """The shipped configuration without shrinking: a mutant needs its verdict, not feedback."""
    config = load_config()
    parts = {name: dataclasses.replace(part, shrink_failures=False) for name, part in config.parts.items()}
    return dataclasses.replace(config, parts=parts)
