"""The self-test's verdict: full marks only when every test, their sum and the reported score agree."""
import re

import pytest

from autograder.package.selftest import SelfTestFailed, require_full_marks

FULL = {"a": (2.0, 2.0), "b": (3.0, 3.0)}


def test_every_test_at_its_maximum_and_adding_up_to_the_total_passes():
    proof = require_full_marks("the zip", FULL, 5.0, 12.3, reported_score=5.0)
    assert proof.summary() == "self-test passed: the reference got 5/5 through the zip in 12 s"


@pytest.mark.parametrize("tests, total, reported, complaint", [
    ({"a": (2.0, 2.0), "b": (2.5, 3.0)}, 5.0, 5.0, r"got 4.5/5; below full marks: b \(2.5/3\)"),
    ({"a": (2.0, 2.0)}, 5.0, 5.0, "its tests offer 2 points, the package 5"),  # a test went missing
    (FULL, 5.0, 7.0, "the reported score is 7"),
    ({}, 5.0, 5.0, "no test results at all"),
])
def test_anything_short_of_that_is_refused(tests, total, reported, complaint):
    with pytest.raises(SelfTestFailed, match=complaint):
        require_full_marks("the zip", tests, total, 1.0, reported_score=reported)


def test_the_grades_own_notes_come_with_a_failure():
    note = "The cifar10 part ran out of time (its share, 300 s, of the grade's time budget of 540 s)."
    with pytest.raises(SelfTestFailed, match=r"below full marks: b \(0/3\)\n" + re.escape(note) + "$"):
        require_full_marks("the zip", {"a": (2.0, 2.0), "b": (0.0, 3.0)}, 5.0, 1.0, notes=(note,))
