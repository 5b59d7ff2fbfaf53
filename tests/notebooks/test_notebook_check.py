"""The handout notebook's check cell (``show_check``) on its own: a table, never an exception."""
import re

from autograder.notebook_check import show_check
from autograder.run import HANDOUT_DIR, REFERENCE_DIR


def test_failing_tests_are_rows_with_their_first_problem(capsys):
    show_check("shapes", HANDOUT_DIR)
    out = capsys.readouterr().out
    assert "│ FAIL │" in out and "raised NotImplementedError" in out
    assert re.search(r"\b0 of \d+ visible tests pass\. Every failure in full: "
                     r"`python -m autograder\.check --part shapes`", " ".join(out.split()))


def test_passing_tests_say_so_without_pointing_at_failures(capsys):
    show_check("shapes", REFERENCE_DIR)
    out = " ".join(capsys.readouterr().out.split())
    count = re.search(r"\b(\d+) of (\d+) visible tests pass\. The hidden tests", out)
    assert count and count.group(1) == count.group(2) and "FAIL" not in out


def test_a_check_that_cannot_run_prints_why_instead_of_raising(capsys):
    show_check("no_such_part", HANDOUT_DIR)
    assert capsys.readouterr().out.startswith("The check could not run: no visible tests for part(s) ['no_such_part']")
