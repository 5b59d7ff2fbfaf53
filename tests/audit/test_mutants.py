"""Mutants are valid Python, differ from the reference in one place, and keep their ids."""
import ast

import pytest

from autograder.audit.misconceptions import MISCONCEPTIONS, Misconception
from autograder.audit.mutants import mutants_of
from autograder.audit.runner import PartScore, Verdict, audited_parts, load_triage, part_mutants
from autograder.config import load_config
from autograder.examples import REFERENCE_DIR

PARTS = audited_parts(load_config())


def test_audited_parts_come_from_the_configuration():
    assert {p.name for p in PARTS} == {p.name for p in load_config().parts.values()
                                       if "torch" in p.forbid_imports}
    assert PARTS


@pytest.mark.parametrize("part", PARTS, ids=lambda p: p.name)
def test_every_mutant_compiles_and_changes_one_place(part):
    mutants = part_mutants(part)
    assert len(mutants) > 50 and len({m.id for m in mutants}) == len(mutants)
    for mutant in mutants:
        ast.parse(mutant.source)
        assert mutant.source != mutant.original
        changed = [line for line in mutant.diff().splitlines()
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        assert changed, mutant.description


@pytest.mark.parametrize("misconception", MISCONCEPTIONS, ids=lambda m: m.name)
def test_each_misconception_applies_once_to_its_reference_file(misconception):
    source = (REFERENCE_DIR / misconception.file).read_text()
    assert misconception.apply(source) != source
    assert misconception.matches and misconception.hint


def test_a_misconception_that_no_longer_matches_is_refused():
    stale = Misconception("stale", "layers.py", "no such text", "x", "m", "h")
    with pytest.raises(ValueError, match="occurs 0 times"):
        stale.apply((REFERENCE_DIR / "layers.py").read_text())


def test_ids_depend_on_the_mutated_source_only():
    source = (REFERENCE_DIR / "shapes.py").read_text()
    first, again = mutants_of("shapes", "shapes.py", source), mutants_of("shapes", "shapes.py", source)
    assert [m.id for m in first] == [m.id for m in again]
    shifted = mutants_of("shapes", "shapes.py", "# a new first line\n" + source)
    assert not {m.id for m in first} & {m.id for m in shifted}


def test_sampling_is_seeded():
    part = PARTS[0]
    assert [m.id for m in part_mutants(part, 5, seed=1)] == [m.id for m in part_mutants(part, 5, seed=1)]
    assert [m.id for m in part_mutants(part, 5, seed=1)] != [m.id for m in part_mutants(part, 5, seed=2)]


def test_triage_verdicts_are_equivalent_or_test():
    for mutant_id, verdict in load_triage().items():
        assert verdict.startswith(("equivalent: ", "test: ")), mutant_id


def test_the_score_leaves_out_equivalent_mutants_and_grader_errors():
    first, second, third, fourth = part_mutants(PARTS[0])[:4]
    verdicts = (Verdict(first, (), ("t",)), Verdict(second, ("t",), ()),
                Verdict(third, (), ("t",)), Verdict(fourth, (), (), error="E"))
    score = PartScore(PARTS[0].name, verdicts, {first.id: "equivalent: why"})
    assert score.score == 0.5 and [v.mutant for v in score.unexplained] == [third]
    assert [v.mutant for v in score.errors] == [fourth] and not score.errors[0].killed
