"""The suites' two numerical gradients agree: a layer's input gradient computed one forward call
per sample gives what stepping each element with its own forward calls gives."""
import numpy as np
import pytest

from autograder.suites.checks import numerical_gradient, numerical_input_gradient
from autograder.suites.hidden_inputs import normal_array
from reference import fast_layers, layers

CONV = {"stride": 2, "pad": 1}
POOL = {"pool_height": 3, "pool_width": 2, "stride": 1}
FORWARDS = {
    "conv": (lambda w, b: lambda v: fast_layers.conv_forward_fast(v, w, b, CONV)[0]),
    "max pool": (lambda w, b: lambda v: layers.max_pool_forward_naive(v, POOL)[0]),
    "avg pool": (lambda w, b: lambda v: layers.avg_pool_forward_naive(v, POOL)[0]),
}


@pytest.mark.parametrize("name", FORWARDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_one_call_per_sample_gives_the_element_by_element_gradient(name, seed):
    rng = np.random.default_rng(seed)
    x, w, b = normal_array(rng, (3, 2, 7, 5)), normal_array(rng, (4, 2, 3, 3)), normal_array(rng, (4,))
    forward = FORWARDS[name](w, b)
    dout = normal_array(rng, forward(x).shape)
    expected = numerical_gradient(forward, x, dout)
    actual = numerical_input_gradient(forward, x, dout)
    assert actual.shape == x.shape
    assert np.max(np.abs(actual - expected)) <= 1e-8 * np.max(np.abs(expected))


def test_a_forward_that_mixes_samples_is_not_a_layer():
    """What it relies on: each sample computed on its own. A forward that mixes them (a batch
    mean) is where the two differ, so the per-sample version is only for layer forwards."""
    rng = np.random.default_rng(0)
    x = normal_array(rng, (3, 4))
    dout = normal_array(rng, (3, 4))
    mixing = lambda v: v - v.mean(axis=0)  # noqa: E731
    assert not np.allclose(numerical_input_gradient(mixing, x, dout), numerical_gradient(mixing, x, dout))
