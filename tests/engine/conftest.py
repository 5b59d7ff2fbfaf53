"""Helpers for the engine tests: a throwaway submission and a session over it."""
import textwrap
from pathlib import Path

import pytest

from autograder.engine.proxy import Session, StudentModule
from autograder.engine.sandbox import Isolation, Limits, Sandbox, detect_isolation

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The strongest isolation this host allows, and the weakest fallback, which must also hold.
ISOLATIONS = {"detected": detect_isolation(), "process-only": Isolation("process", switch_user=False)}


@pytest.fixture(params=list(ISOLATIONS))
def isolation(request) -> Isolation:
    return ISOLATIONS[request.param]


@pytest.fixture
def make_module(tmp_path, isolation):
    """make_module(source, **limits) -> StudentModule over a submission holding mod.py."""
    sandboxes = []

    def make(source: str, opaque=None, part_timeout=120.0, **limits) -> StudentModule:
        folder = tmp_path / f"submission{len(sandboxes)}"
        folder.mkdir()
        (folder / "mod.py").write_text(textwrap.dedent(source))
        limits.setdefault("call_timeout", 10.0)
        sandbox = Sandbox(folder, Limits(**limits), isolation, hidden_paths=(PROJECT_ROOT,))
        sandboxes.append(sandbox)
        return StudentModule(Session(sandbox, part_timeout), "mod", opaque)

    yield make
    for sandbox in sandboxes:
        sandbox.close()
