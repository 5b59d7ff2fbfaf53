"""Which tests a mutant runs: those that call a function its change reaches, cheapest first."""
from autograder.audit.runner import reference_coverage
from autograder.audit.selection import TestRun, reached_functions, reaching_tests
from autograder.config import load_config

SOURCE = '''\
LIMIT = 3


def _size(n):
    return n + 1


def forward(x):
    return _size(x) * 2


def backward(d):
    return forward(d) - 1


def other(y):
    return y
'''


def test_a_change_reaches_its_function_and_every_caller():
    assert reached_functions(SOURCE, 5) == {"_size", "forward", "backward"}
    assert reached_functions(SOURCE, 13) == {"backward"}
    assert reached_functions(SOURCE, 1) is None  # a module constant: anything may read it


def test_tests_that_call_a_reached_function_run_cheapest_first():
    coverage = {"slow": TestRun("slow", False, 2.0, frozenset({"forward"})),
                "fast": TestRun("fast", False, 0.1, frozenset({"backward", "forward"})),
                "unrelated": TestRun("unrelated", False, 0.0, frozenset({"other"}))}
    assert reaching_tests(coverage, frozenset({"forward"})) == ("fast", "slow")
    assert reaching_tests(coverage, None) == ("unrelated", "fast", "slow")
    # a change no test can see still gets every test
    assert reaching_tests(coverage, frozenset({"_size"})) == ("unrelated", "fast", "slow")


def test_the_reference_run_records_each_untimed_test_and_the_functions_it_calls():
    part = load_config().parts["fast_layers"]
    coverage = reference_coverage(part.name)
    contract = {name for _, functions in part.contract for name in functions}
    assert coverage and not [nodeid for nodeid in coverage if "test_timing" in nodeid]
    assert all(run.functions and run.functions <= contract and not run.lost_points
               for run in coverage.values())
    values = coverage["test_fast_pool.py::test_max_pool_forward_fast_values"]
    assert values.functions == {"max_pool_forward_fast"}
