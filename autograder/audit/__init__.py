"""``grade audit``: how many plausible bugs of the reference do the hidden suites catch?

Mutants of the reference solutions (``mutants``: generic operators and the named misconceptions
of ``misconceptions``) are graded like any submission; the share the suites fail is the part's
mutation score, and every survivor is either triaged in ``triage.toml`` or worth a new test.
"""
