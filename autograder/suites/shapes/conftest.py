"""Fixtures of the shapes suite. Ships with the visible tests: nothing here may use reference/."""
import pytest


@pytest.fixture(scope="session")
def shapes(submission):
    """The student's shapes.py (every function returns plain ints and tuples: nothing opaque)."""
    return submission.module("shapes")
