"""The suites name a misconception only for the output of that mistake, never for the reference's."""
import numpy as np

from autograder.suites.misconceptions import misconception_of
from reference import layers as ref

RNG = np.random.default_rng(0)
X, W, B = RNG.normal(size=(2, 3, 6, 5)), RNG.normal(size=(4, 3, 3, 3)), RNG.normal(size=4)
PARAM = {"stride": 1, "pad": 1}


def _forward(module):
    return (module.conv_forward_naive(X, W, B, PARAM)[0],)


def test_the_reference_output_matches_no_misconception():
    out = ref.conv_forward_naive(X, W, B, PARAM)[0]
    assert misconception_of(_forward, (out,), (out,), "conv_forward_naive") is None


def test_a_flipped_kernel_is_named():
    flipped = ref.conv_forward_naive(X, W[:, :, ::-1, ::-1], B, PARAM)[0]
    expected = ref.conv_forward_naive(X, W, B, PARAM)[0]
    found = misconception_of(_forward, (flipped,), (expected,), "conv_forward_naive")
    assert found is not None and found.name == "conv_kernel_flipped"


def test_an_unrelated_wrong_output_is_not_named():
    expected = ref.conv_forward_naive(X, W, B, PARAM)[0]
    assert misconception_of(_forward, (expected + 0.5,), (expected,), "conv_forward_naive") is None
