"""Fixtures of the cifar10 suite (shipped with the visible tests: nothing here may use reference/).

The student's model lives in the sandbox; it is driven there by ``sandbox_helpers.py``.
"""
from pathlib import Path

import pytest

HELPERS = Path(__file__).with_name("sandbox_helpers.py")


@pytest.fixture(scope="session")
def model_runner(submission):
    """The sandbox-side helpers (build, load, predict, train); their model handles stay there."""
    return submission.helper("cifar10_grader_helpers", HELPERS.read_text(),
                             opaque={"build_model": "all", "build_seeded_model": "all"},
                             drives="cifar10")


@pytest.fixture(scope="session")
def settings(grading_config):
    return grading_config.parts["cifar10"].settings


@pytest.fixture(scope="session")
def device(grading_options):
    return getattr(grading_options, "device", "cpu") or "cpu"
