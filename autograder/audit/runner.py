"""Grade mutants with the hidden suites, in parallel, and sum up the mutation score per part.

Each mutant is a submission like any other: the reference's files with the part's file replaced,
graded by ``grade_submission`` in the usual sandbox. It is killed when the part scores below full.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import random
import tempfile
import tomllib
from pathlib import Path
from typing import Callable

from autograder.audit.mutants import Mutant, mutants_of
from autograder.config import GradingConfig, load_config
from autograder.examples import REFERENCE_DIR, build_submission

TRIAGE_FILE = Path(__file__).with_name("triage.toml")
FULL_MARKS_SLACK = 1e-6


@dataclasses.dataclass(frozen=True)
class Verdict:
    mutant: Mutant
    score: float
    max_score: float
    failed: tuple  # names of the tests that lost points
    passed: tuple
    error: str = ""  # the grader itself failed on this mutant: neither killed nor survived

    @property
    def killed(self) -> bool:
        return not self.error and self.score < self.max_score - FULL_MARKS_SLACK


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
        futures = [pool.submit(grade_mutant, mutant) for mutant in mutants]
        for future in concurrent.futures.as_completed(futures):
            verdict = future.result()
            verdicts.append(verdict)
            on_verdict(verdict)
    equivalent = equivalent_ids(load_triage())
    order = {m.id: k for k, m in enumerate(mutants)}
    return [PartScore(part.name, tuple(sorted((v for v in verdicts if v.mutant.part == part.name),
                                              key=lambda v: order[v.mutant.id])), equivalent)
            for part in parts]


def grade_mutant(mutant: Mutant) -> Verdict:
    """Grade the reference submission with ``mutant`` in place of its file (in a worker process,
    which reads the shipped configuration itself: its part settings are not picklable)."""
    from autograder.run import grade_submission  # the worker's own import, after spawn

    config = load_config()

    with tempfile.TemporaryDirectory(prefix="grade-audit-") as tmp:
        folder = build_submission("reference", Path(tmp) / "submission")
        (folder / mutant.file).write_text(mutant.source)
        try:
            result = grade_submission(folder, [mutant.part], config)
        except Exception as exc:  # one broken grade must not lose the whole audit's work
            return Verdict(mutant, 0.0, 0.0, (), (), error=f"{type(exc).__name__}: {exc}")
    lost = tuple(t.name for t in result.tests if t.score < t.max_score - FULL_MARKS_SLACK)
    kept = tuple(t.name for t in result.tests if t.name not in lost)
    return Verdict(mutant, result.score, result.max_score, lost, kept)
