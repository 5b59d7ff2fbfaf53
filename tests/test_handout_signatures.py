"""The student handout (assignments/) states exactly the contract the reference (reference/) keeps.

For every student file: the stub defines exactly the contract's public functions, the
reference defines each of them with the same signature (it may have public helpers of
its own), and every stub is documented and raises NotImplementedError.
"""

import ast
import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

from autograder.config import load_config

REPO = Path(__file__).resolve().parents[1]
PARTS = load_config().parts.values()
# module -> its public functions, as the parts' declarations state them (every declared part).
CONTRACT = {module: list(functions) for part in PARTS for module, functions in part.contract}


def _load(package: str, name: str) -> ModuleType:
    assert (REPO / package / f"{name}.py").exists(), f"a part declares {name} but {package}/{name}.py is missing"
    return importlib.import_module(f"{package}.{name}")


def _public_functions(module: ModuleType) -> dict:
    return {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_")
    }


def _signature(fn) -> inspect.Signature:
    # One file may write `from __future__ import annotations` and the other not;
    # evaluated annotations compare equal either way.
    try:
        return inspect.signature(fn, eval_str=True)
    except NameError:
        return inspect.signature(fn)


@pytest.fixture(params=list(CONTRACT))
def pair(request) -> tuple[ModuleType, ModuleType, list[str]]:
    return _load("reference", request.param), _load("assignments", request.param), CONTRACT[request.param]


def test_stub_defines_exactly_the_contract(pair):
    _, stub, contract = pair
    assert sorted(_public_functions(stub)) == sorted(contract)


def test_reference_has_the_same_signatures(pair):
    reference, stub, contract = pair
    implemented = _public_functions(reference)
    for name in contract:
        assert name in implemented, f"reference/{stub.__name__.split('.')[-1]}.py lacks {name}"
        assert _signature(implemented[name]) == _signature(getattr(stub, name)), name


def test_every_stub_is_documented_and_unimplemented(pair):
    _, stub, _ = pair
    assert (stub.__doc__ or "").strip(), f"{stub.__name__} has no module docstring"
    for name, fn in _public_functions(stub).items():
        assert len((fn.__doc__ or "").strip()) > 40, f"{name} needs a docstring that states its contract"
        required = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        # Stubs raise before looking at their arguments, so placeholders do.
        with pytest.raises(NotImplementedError):
            fn(*[None] * len(required))


def test_every_part_states_a_contract_for_each_of_its_python_files():
    for part in PARTS:
        assert sorted(module for module, _ in part.contract) == \
            sorted(f.removesuffix(".py") for f in part.files if f.endswith(".py")), part.name


@pytest.mark.parametrize("name", [module for part in PARTS if part.forbid_imports
                                  for module, _ in part.contract])
def test_stub_files_of_parts_that_forbid_imports_import_only_numpy_and_the_standard_library(name):
    allowed = {"numpy", *sys.stdlib_module_names}
    tree = ast.parse((REPO / "assignments" / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module.split(".")[0] in allowed, ast.unparse(node)
        elif isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] in allowed for a in node.names), ast.unparse(node)
