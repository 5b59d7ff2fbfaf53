"""The stored inputs and expected values of the visible tests are torch's, and up to date."""
import numpy as np
import pytest

from autograder.suites import visible_cases

EPS = np.finfo(np.float64).eps
CASES = sorted(visible_cases.DEFINITIONS)


def _input_names(name: str) -> list:
    return list(visible_cases.DEFINITIONS[name][1]())


def assert_torch_agrees(name: str, arrays: dict) -> None:
    """``arrays``' expected values are torch's on its inputs, up to float64 rounding.

    Every expected value is a sum of products (a conv output or gradient, an average; max
    pooling only copies, so it is exact); BLAS and CPU paths add them in different orders and
    widths, so two correct computations agree only to within rounding. A sum of K products in
    any order is off by at most about K * eps * sum |terms| (Higham, Accuracy and Stability of
    Numerical Algorithms, section 3.1), so two of them differ by at most twice that. sum |terms|
    is the same oracle run on the inputs' absolute values; K is at most the size of the largest
    input (no sum has more terms). The bound is 1e-13 to 1e-9 of a typical value: a value rounded
    to float32 (about 6e-8) or computed from other inputs is far outside it.
    """
    params, _, oracle = visible_cases.DEFINITIONS[name]
    inputs = {key: arrays[key] for key in _input_names(name)}
    fresh = oracle(params, inputs)
    magnitudes = oracle(params, {key: np.abs(value) for key, value in inputs.items()})
    terms = max(value.size for value in inputs.values())
    for key, value in fresh.items():
        assert arrays[key].dtype == np.float64, key
        difference = np.abs(arrays[key] - value)
        bound = 2 * terms * EPS * magnitudes[key]
        assert np.all(difference <= bound), (
            f"{name}/{key}: differs from torch by up to {difference.max():.3g}, more than "
            f"rounding explains; run python -m autograder.suites.visible_cases")


def test_store_holds_every_case_and_array():
    assert sorted(visible_cases._stored()) == sorted(visible_cases.compute_all()), \
        "visible_cases.npz is stale: run python -m autograder.suites.visible_cases"


@pytest.mark.parametrize("name", CASES)
def test_stored_inputs_are_what_the_definitions_make(name):
    """Up to a few ulps: numpy versions may round linspace's or a generator's last bit
    differently (which is why inputs are stored); a changed definition moves them far more."""
    stored = visible_cases.visible_case(name)
    for key, made in visible_cases.DEFINITIONS[name][1]().items():
        np.testing.assert_allclose(stored[key], made, rtol=0, atol=4 * EPS * np.abs(made).max(),
                                   err_msg=f"{name}/{key}: run python -m autograder.suites.visible_cases")


@pytest.mark.parametrize("name", CASES)
def test_stored_expected_values_are_torchs(name):
    assert_torch_agrees(name, visible_cases.visible_case(name).arrays)


@pytest.mark.parametrize("wrong", ["float32 gradient", "one value off by float32's eps", "another input"])
def test_the_torch_check_catches_a_wrong_value(wrong):
    """What the bound lets through is rounding of float64 sums, nothing a wrong store shows."""
    name = "conv_cifar_sized"
    arrays = dict(visible_cases.visible_case(name).arrays)
    if wrong == "float32 gradient":
        arrays["dw"] = arrays["dw"].astype(np.float32).astype(np.float64)
    elif wrong == "one value off by float32's eps":
        arrays["out"] = arrays["out"].copy()
        arrays["out"].flat[7] *= 1 + np.finfo(np.float32).eps
    else:
        arrays["x"] = arrays["x"].copy()
        arrays["x"].flat[0] += 1e-6
    with pytest.raises(AssertionError, match="more than rounding explains"):
        assert_torch_agrees(name, arrays)


@pytest.mark.parametrize("name", CASES)
def test_every_case_has_inputs_and_expected_values(name):
    case = visible_cases.visible_case(name)
    assert "x" in case.arrays and "out" in case.arrays
    assert case.params == visible_cases.DEFINITIONS[name][0]


def test_reference_passes_every_stored_case():
    """The store agrees with the reference (and so with what the hidden tests expect)."""
    from reference import layers

    for name in visible_cases.DEFINITIONS:
        case = visible_cases.visible_case(name)
        if name.startswith("conv"):
            out, cache = layers.conv_forward_naive(case["x"], case["w"], case["b"], case.params)
            got = {"out": out}
            if "dout" in case.arrays:
                got.update(zip(("dx", "dw", "db"), layers.conv_backward_naive(case["dout"], cache)))
        else:
            kind = "max" if name.startswith("max") else "avg"
            forward = getattr(layers, f"{kind}_pool_forward_naive")
            out, cache = forward(case["x"], case.params)
            got = {"out": out}
            if "dout" in case.arrays:
                got["dx"] = getattr(layers, f"{kind}_pool_backward_naive")(case["dout"], cache)
        for key, value in got.items():
            np.testing.assert_allclose(value, case[key], rtol=1e-9, atol=1e-12, err_msg=f"{name}/{key}")
