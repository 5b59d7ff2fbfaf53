"""Hostile submissions get exactly their expected credit, a valid result, in bounded time, and
nothing they do reaches outside the sandbox."""
import pytest

from .hostile import HOSTILE
from .harness import grade_and_check, params


def test_corpus_is_large_and_distinct():
    assert len(HOSTILE) >= 40
    assert len({c.name for c in HOSTILE}) == len(HOSTILE)
    assert {p for c in HOSTILE for p in c.parts} >= {"shapes", "layers", "fast_layers"}


@pytest.mark.parametrize("case", params(HOSTILE))
def test_hostile_submission(case, tmp_path, validator):
    grade_and_check(case, tmp_path, validator)
