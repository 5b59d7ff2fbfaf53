"""Buggy submissions score strictly between 0 and full marks, losing exactly the expected tests."""
import pytest

from .buggy import ACCEPTED, BUGGY, NAMING
from .harness import check_credit, check_valid_result, grade_case, params


def test_corpus_is_large_and_distinct():
    assert len(BUGGY) >= 20
    assert sum(c.check is not None for c in BUGGY) >= 8  # named misconceptions, checked below
    assert len({c.name for c in BUGGY + ACCEPTED}) == len(BUGGY + ACCEPTED)
    assert all(c.fails for c in BUGGY) and not any(c.fails for c in ACCEPTED)


@pytest.mark.parametrize("case", params(BUGGY))
def test_buggy_submission(case, tmp_path, validator):
    outcome = grade_case(case, tmp_path)
    check_valid_result(outcome, validator)
    score, max_score = outcome.gradescope["score"], sum(t["max_score"] for t in outcome.gradescope["tests"])
    assert 0 < score < max_score - 1e-6, f"{case.name} scored {score} of {max_score}"
    check_credit(outcome)
    if case.check:
        case.check(outcome)
    assert outcome.seconds < case.max_seconds


@pytest.mark.parametrize("case", params(ACCEPTED))
def test_accepted_variant_keeps_full_marks(case, tmp_path, validator):
    outcome = grade_case(case, tmp_path)
    check_valid_result(outcome, validator)
    check_credit(outcome)
    assert not any(NAMING in row.output for row in outcome.rows)
