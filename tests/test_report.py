"""What people read: reports grouped by cause and bounded, for the handout, broken and empty
submissions and the reference, in every output format (see ``tests.outputs``)."""
import csv
import json

import pytest
from hypothesis import given, strategies as st

from autograder.batch.cache import result_from_dict, result_to_dict
from autograder.batch.discover import Student, Submission
from autograder.batch.grade import Outcome
from autograder.batch.gradebook import write_gradebook
from autograder.config import load_config
from autograder.engine import results
from autograder.engine.results import Cause, GradeResult, PartSummary
from autograder.engine.student_text import MAX_RESULT_TEXT_CHARS, clean
from autograder.examples import build_submission
from autograder.run import RunOptions, grade_submission
from reference.cifar10_data import write_fake_cifar10
from tests.outputs import CONTROL, check_clean, gradebook_notes, terminal

FILES = tuple(f for part in load_config().parts.values() for f in part.files if f.endswith(".py"))
MAX_LINES = 150
CLEAR = "\x1b[2J"
MAX_JSON_BYTES = 2**20


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory):
    return write_fake_cifar10(tmp_path_factory.mktemp("cifar"), n_train_per_batch=20, n_test=50)


def _grade(folder, fake_data, parts=None):
    return grade_submission(folder, parts, options=RunOptions(data_dir=str(fake_data)))


@pytest.fixture(scope="module")
def handout(tmp_path_factory, fake_data):
    return _grade(build_submission("handout", tmp_path_factory.mktemp("h") / "s"), fake_data)


@pytest.fixture(scope="module")
def syntax_errors(tmp_path_factory, fake_data):
    folder = tmp_path_factory.mktemp("syntax")
    for name in FILES:
        (folder / name).write_text("import numpy as np\n\ndef broken(:\n    pass\n")
    return _grade(folder, fake_data)


@pytest.fixture(scope="module")
def empty(tmp_path_factory, fake_data):
    return _grade(tmp_path_factory.mktemp("empty"), fake_data)


def _json_size(result: GradeResult) -> int:
    return len(json.dumps(result.to_gradescope(), indent=2).encode())


@pytest.mark.parametrize("name", ["handout", "syntax_errors", "empty"])
def test_reports_of_broken_submissions_are_short_small_and_clean(name, request):
    result = request.getfixturevalue(name)
    assert result.grader_errors == []
    assert len(result.tests) > 60 and result.score == 0
    for width in (80, 120):
        lines = terminal(result, width=width).splitlines()
        assert len(lines) < MAX_LINES, f"{len(lines)} lines at width {width}"
    assert _json_size(result) < MAX_JSON_BYTES
    check_clean(result)


def test_a_file_that_does_not_import_is_told_once_with_the_tests_it_zeroes(syntax_errors):
    text = terminal(syntax_errors, width=100)
    for name in FILES:
        cause = f"importing {name} failed: SyntaxError: invalid syntax ({name}, line 3)"
        assert text.count(cause) == 1, text
    assert text.count("Not graded because of this: tests 2.1-2.24") == 1
    layers = [t for t in syntax_errors.tests if t.part == "layers"]
    assert all(t.output == "not graded: importing layers.py failed: SyntaxError: invalid syntax "
               "(layers.py, line 3) (see the top of the report)" for t in layers)
    assert "Hint" not in json.dumps(syntax_errors.to_gradescope())  # no code hint: nothing ran
    top = syntax_errors.to_gradescope()["output"]
    assert top.count('File "layers.py", line 3') == 1 and "Fix: make the file import" in top


def test_gradebook_notes_carry_the_first_cause_of_every_zero(syntax_errors, empty):
    read_back = result_from_dict(json.loads(json.dumps(result_to_dict(syntax_errors))))
    assert read_back.causes == syntax_errors.causes  # as a batch reads its workers' results
    notes = gradebook_notes(read_back)
    for name in FILES:
        assert f"importing {name} failed: SyntaxError: invalid syntax ({name}, line 3)" in notes
    assert "(tests 2.1-2.24 at 0)" in notes
    assert "missing from the submission: layers.py" in gradebook_notes(empty)


def test_the_handout_names_each_unwritten_function_once_and_never_the_grader_helpers(handout):
    text = terminal(handout, width=100)
    assert text.count("relu_forward() in layers.py raised NotImplementedError") == 1
    assert "your cifar10.py raised NotImplementedError: build_model" in text
    # Every point is lost to an unwritten function ("expected ValueError, but ... raised
    # NotImplementedError" included), so every failure is told, none left out.
    assert all(t.explained for t in handout.tests) and "not shown here" not in text
    cifar10 = [t for t in handout.tests if t.part == "cifar10"]
    assert all("your cifar10.py" in t.output for t in cifar10 if t.status == "failed")


def test_the_reference_report_is_short(tmp_path, fake_data):
    first_two = list(load_config().parts)[:2]  # enough for the report's length; all would take minutes
    result = _grade(build_submission("reference", tmp_path / "s"), fake_data, first_two)
    assert result.score == result.max_score
    text = terminal(result)
    assert len(text.splitlines()) < MAX_LINES and "What went wrong" not in text
    check_clean(result)


def test_the_grade_text_budget_cuts_outputs_not_the_result():
    causes = [Cause(f"f() raised ValueError {i}", "x" * 10_000) for i in range(100)]
    tests = [results.TestResult(f"p: t{i}", "p", f"1.{i + 1}", 0.0, 1.0, CLEAR + "y" * 10_000, "visible",
                        causes=[causes[i]], explained=True) for i in range(100)]
    notes = [f"ignored {i}{CLEAR}.py: paths outside the submission are not allowed" * 50
             for i in range(10_000)]
    result = GradeResult(tests, [PartSummary("p", 0.0, 100.0, 1.0)], 1.0, "test", notes=notes)
    assert _json_size(result) < MAX_JSON_BYTES
    assert len(result.to_gradescope()["output"]) < MAX_RESULT_TEXT_CHARS
    assert "more problem(s)" in result.to_gradescope()["output"]
    assert len(terminal(result).splitlines()) < MAX_LINES
    check_clean(result)


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(
    list("\x1b[]\\\x07\x9b\x9c\x9d\r\u202e\ud800")), max_size=300),
    st.integers(min_value=1, max_value=200))
def test_clean_leaves_no_control_character_and_keeps_to_its_limit(text, limit):
    cleaned = clean(text, limit)
    assert not CONTROL.search(cleaned) and "\u202e" not in cleaned
    assert len(cleaned) <= limit + len(" [... cut: too long to show]")
    cleaned.encode("utf-8")  # no lone surrogate


def test_gradebook_cells_are_one_line_and_never_formulas(tmp_path):
    result = GradeResult([], [PartSummary("p", 0.0, 1.0, 1.0, message="=1+1\nsecond line")], 1.0,
                         "test", notes=[f"ignored {CLEAR}x.py"])
    outcome = Outcome(Submission("=HYPERLINK(\"http://e\")", tmp_path, (Student("@SUM(A1)"),)), result)
    write_gradebook(tmp_path / "g.csv", [outcome], ["p"])
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    assert row["student"] == "'@SUM(A1)" and row["submission"].startswith("'=HYPERLINK")
    assert row["notes"] == "p: =1+1 second line | ignored x.py"
