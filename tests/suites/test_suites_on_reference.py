"""The hidden suites of every part that needs no data set, run end to end on known submissions.

* the reference solutions, laid out as a student would hand them in, get full marks;
* the untouched handout stubs (every function raises NotImplementedError) get 0;
* stubs that return None everywhere (a student who wrote ``pass``) get 0 too;
and in every case the suites themselves never break (no grader errors).
"""
import ast
import shutil
from pathlib import Path

import pytest

from autograder.config import load_config
from autograder.run import SUITES_DIR, grade_submission

REPO = Path(__file__).resolve().parents[2]
# Every declared part that needs no data set (those are graded in tests of their own), with its
# Python files.
PARTS = {part.name: [f for f in part.files if f.endswith(".py")]
         for part in load_config().parts.values() if not part.data}
# Speed tests belong to the timing harness: their credit depends on the machine's load.
TIMING_FILES = {"test_timing.py"}


def _submission(folder: Path, source: Path) -> Path:
    folder.mkdir()
    for name in (f for files in PARTS.values() for f in files):
        shutil.copy(source / name, folder / name)
    return folder


def _pass_stubs(folder: Path) -> Path:
    """The reference with every public function's body replaced by ``pass``."""
    folder.mkdir()
    for name in (f for files in PARTS.values() for f in files):
        tree = ast.parse((REPO / "reference" / name).read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                node.body = [ast.Pass()]
        (folder / name).write_text(ast.unparse(tree))
    return folder


def _timing_test_names() -> set:
    """'part: docstring name' of every test in the timing files, as GradeResult names them."""
    names = set()
    for part in PARTS:
        for path in (SUITES_DIR / part).glob("test_*.py"):
            if path.name in TIMING_FILES:
                for node in ast.parse(path.read_text()).body:
                    if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                        doc = (ast.get_docstring(node) or node.name).strip().splitlines()[0]
                        names.add(f"{part}: {doc}")
    return names


def _grade(path: Path, part: str):
    return grade_submission(path, parts=[part])


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("suites")
    return {
        "reference": _submission(root / "reference", REPO / "reference"),
        "handout": _submission(root / "handout", REPO / "assignments"),
        "pass": _pass_stubs(root / "pass"),
    }


@pytest.fixture(scope="module")
def graded(submissions) -> dict:
    """kind -> part -> GradeResult; each part graded on its own, to see which part fails."""
    return {kind: {part: _grade(path, part) for part in PARTS} for kind, path in submissions.items()}


@pytest.mark.parametrize("part", PARTS)
def test_reference_gets_full_marks(graded, part):
    result = graded["reference"][part]
    assert result.grader_errors == []
    timing = _timing_test_names()
    tests = result.tests
    assert tests and all(t.part == part for t in tests)
    lost = [f"{t.name}: {t.score:.3f}/{t.max_score:.3f}\n{t.output}" for t in tests
            if t.name not in timing and t.score < t.max_score - 1e-9]
    assert not lost, "\n\n".join(lost)
    [summary] = result.parts
    assert summary.message == ""
    assert sum(t.max_score for t in tests) == pytest.approx(summary.max_score)


@pytest.mark.parametrize("kind", ["handout", "pass"])
@pytest.mark.parametrize("part", PARTS)
def test_stubs_get_zero(graded, kind, part):
    result = graded[kind][part]
    timing = _timing_test_names()
    # The timing tests are not ours to check here (see TIMING_FILES); every other test must
    # fail cleanly, as a failure of the student's code.
    errors = [e for e in result.grader_errors if not any(name in e for name in timing)]
    assert errors == []
    if kind == "handout":
        assert result.grader_errors == []
    tests = result.tests
    assert tests and all(t.score == 0 for t in tests), [t.name for t in tests if t.score]
    assert all(t.output for t in tests), "every failed test says why"


@pytest.mark.parametrize("part", PARTS)
def test_visible_tests_ship_without_the_reference(part):
    """test_visible.py goes out with the handout: it must not import reference/ (nor its conftest)."""
    for path in [SUITES_DIR / part / "test_visible.py", SUITES_DIR / part / "conftest.py"]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            assert not any(m == "reference" or m.startswith("reference.") for m in modules), path


@pytest.mark.parametrize("part", PARTS)
def test_each_part_has_visible_and_hidden_tests(graded, part):
    tests = graded["reference"][part].tests
    assert any(t.visibility == "visible" for t in tests)
    assert any(t.visibility == "after_due_date" for t in tests)


def test_parts_graded_together(submissions):
    """All these parts in one call, as `grade run` does: no grader errors on the reference."""
    result = grade_submission(submissions["reference"], parts=list(PARTS))
    assert result.grader_errors == []
