"""Hypothesis settings for every test: the same examples on every run and every machine.

Loaded here, at import, so that settings objects made by other conftests and test modules
inherit it: derandomized (examples come from the test's own source, so a failure in CI
reproduces exactly), no example database (nothing learnt on one machine changes what another
runs), and no deadline (the tests call sandboxes and BLAS, whose speed varies with the machine
and its load, never with correctness).
"""
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
settings.load_profile("repeatable")
