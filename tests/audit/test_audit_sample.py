"""A small, fixed audit for CI: a seeded sample of mutants per numpy part, graded by the hidden
suites. The committed threshold is every sampled mutant killed or triaged as equivalent (with
3 a part, a score below 100% is a new survivor); ``grade audit`` runs them all."""
from autograder.audit.runner import audited_parts, run_audit
from autograder.config import load_config

SAMPLE, SEED, WORKERS = 3, 16, 2  # about a minute on 2 busy cores


def test_sampled_mutants_are_killed_or_equivalent():
    scores = run_audit(audited_parts(load_config()), WORKERS, SAMPLE, SEED)
    for part in scores:
        assert len(part.verdicts) == SAMPLE and not part.errors, [v.error for v in part.errors]
        unexplained = [f"{v.mutant.id}: {v.mutant.description}" for v in part.unexplained]
        assert not unexplained, f"{part.part}: survivors {unexplained} (grade audit --part {part.part})"
        # a mutant stops at its first failing test
        assert all(len(v.failed) == 1 for v in part.verdicts if v.killed)
