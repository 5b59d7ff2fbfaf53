"""The handout notebook run headless, top to bottom, as "Run all" runs it: beside the stubs, every
cell runs and each part's check cell shows its failing visible tests; beside the reference's
files, every cell and every check passes.

Only the cells that call the student's functions may stop with an error (they are tagged
``raises-exception``, so Jupyter and nbclient go on to the next cell); the check cells never do.
"""
import re

import pytest

from autograder.check import load_settings
from tests.notebooks.build import handout

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytestmark = pytest.mark.slow

PARTS = set(load_settings()["parts"])  # the parts with visible tests
CHECK_CALL = re.compile(r'^show_check\("(\w+)"\)$')


def run(notebook) -> list:
    """Execute the notebook in its folder; the code cells, with their outputs. Fails on an error
    in a cell not tagged ``raises-exception``."""
    document = nbformat.read(notebook, as_version=4)
    nbclient.NotebookClient(document, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}}).execute()
    return [cell for cell in document.cells if cell.cell_type == "code"]


def text(cell) -> str:
    return "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")


def errors(cell) -> list:
    return [output for output in cell.outputs if output.output_type == "error"]


def check_cells(cells) -> dict:
    found = {CHECK_CALL.match(cell.source.strip()) for cell in cells} - {None}
    by_source = {cell.source.strip(): cell for cell in cells}
    return {match.group(1): by_source[match.group(0)] for match in found}


@pytest.fixture(autouse=True)
def no_cifar10_data(monkeypatch, tmp_path):
    """The training cells run only where CIFAR-10 is found: not here (nor is it in the tests)."""
    monkeypatch.delenv("GRADE_CIFAR10_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


def test_beside_the_stubs_every_cell_runs_and_the_checks_show_the_failures(tmp_path):
    cells = run(handout(tmp_path, with_reference=False))
    assert all(cell.execution_count for cell in cells)  # none was skipped
    checks = check_cells(cells)
    assert set(checks) == PARTS
    for part, cell in checks.items():
        assert not errors(cell)
        assert "│ FAIL │" in text(cell) and re.search(r"\b0 of \d+ visible tests pass", text(cell)), part
    failed = [cell for cell in cells if errors(cell)]
    assert failed and all(errors(cell)[0].ename == "NotImplementedError" for cell in failed)


def test_beside_the_reference_every_cell_and_every_check_passes(tmp_path):
    cells = run(handout(tmp_path, with_reference=True))
    assert not [cell.source[:60] for cell in cells if errors(cell)]
    assert not [cell.source[:60] for cell in cells if "FAIL" in text(cell)]
    checks = check_cells(cells)
    assert set(checks) == PARTS
    for part, cell in checks.items():
        count = re.search(r"\b(\d+) of (\d+) visible tests pass", text(cell))
        assert count and count.group(1) == count.group(2) != "0", (part, text(cell))
