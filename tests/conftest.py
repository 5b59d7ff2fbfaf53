"""Hypothesis settings for every test: the same examples on every run and every machine.

The default profile ``repeatable`` derandomizes (examples come from the test's own source, so a
failure in CI reproduces exactly), keeps no example database (nothing learnt on one machine
changes what another runs) and has no deadline (the tests call sandboxes and BLAS, whose speed
varies with the machine's load, never with correctness). To hunt for new failing examples
while developing: ``python -m pytest --hypothesis-profile=explore``.
"""
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)


def pytest_configure(config) -> None:
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile("repeatable")
