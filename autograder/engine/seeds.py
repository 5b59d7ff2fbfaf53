"""The grade's seed: where the random inputs of hidden tests come from.

Each grade draws a new seed here, in the trusted process, with the ``secrets`` module; it never
crosses into the sandbox (the suites draw their inputs here and send only the arrays), so neither
a copy of the suites nor anything the student's code can observe tells the inputs in advance.
``grade run --seed N`` grades with a recorded seed again and reproduces the grade's inputs.
"""
from __future__ import annotations

import hashlib
import secrets

import numpy as np

SEED_BITS = 64


def new_grade_seed() -> int:
    """A fresh secret seed for one grade (or one batch)."""
    return secrets.randbits(SEED_BITS)


def inputs_rng(seed: int, test_id: str) -> np.random.Generator:
    """The generator of one test's hidden inputs: a function of the grade's seed and the test's
    id (its pytest node id), so that adding, removing or reordering tests changes no other
    test's inputs."""
    test_key = int.from_bytes(hashlib.sha256(test_id.encode()).digest()[:16], "big")
    return np.random.default_rng([seed, test_key])
