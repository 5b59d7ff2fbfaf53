"""``grade batch``: a small class graded for real (the shapes part only, to stay fast), plus the
pieces that need no grading: finding submissions, Gradescope exports, cache keys, the gradebook."""
import csv
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from autograder.batch.cache import cache_key, content_digest, grader_fingerprint
from autograder.batch.command import BatchOutputs, hidden_paths, run_batch
from autograder.batch.discover import ClassFolderError, Student, Submission, discover
from autograder.batch.grade import BatchError, BatchSettings, Outcome
from autograder.batch.gradebook import write_gradebook
from autograder.config import load_config
from autograder.engine import results
from autograder.engine.sandbox import detect_isolation
from autograder.examples import REFERENCE_DIR, build_submission
from autograder.run import expected_functions
from cli import main
from tests.notebooks.build import notebook_json, reference_cells

PART = "shapes"
POINTS = load_config().parts[PART].points
ISOLATION = detect_isolation()
REFERENCE = (REFERENCE_DIR / "shapes.py").read_text()
BUGGY = REFERENCE + '''

def same_padding(kernel_size):  # bug: off by one, no error for even kernels
    return (kernel_size + 1) // 2
'''
# Every function loops forever: each times out once (a function that timed out is not called
# again), six call limits in all, longer than the batch's limit for one submission below.
HANGS = "".join(f"def {name}(*args, **kwargs):\n    while True:\n        pass\n\n\n"
                for name in expected_functions(load_config().parts[PART])["shapes.py"])
# Appended to the reference: attempts on the rest of the batch. Any that works makes every
# function return garbage, so full marks mean that every attempt failed.
PEEKS = '''

import os as _os

_ATTEMPTS = {{
    "read a classmate's file": lambda: open({classmate!r}).read(),
    "list the class": lambda: _os.listdir({class_dir!r}),
    "write next to the gradebook": lambda: open({out_dir!r} + "/forged.csv", "w").write("me,100"),
    "poison the cache": lambda: open({cache_dir!r} + "/forged.json", "w").write("{{}}"),
}}
_WORKED = []
for _name, _attempt in _ATTEMPTS.items():
    try:
        _attempt()
        _WORKED.append(_name)
    except Exception:
        pass
if _WORKED:
    for _public in [n for n, v in list(globals().items()) if callable(v) and not n.startswith("_")]:
        globals()[_public] = lambda *args, **kwargs: -1
'''


def _folder(path: Path, shapes: str) -> Path:
    path.mkdir(parents=True)
    (path / "shapes.py").write_text(shapes)
    return path


def _rows(gradebook: Path) -> dict:
    with open(gradebook, newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def _quiet() -> Console:
    return Console(file=open("/dev/null", "w"))


@pytest.fixture
def classroom(tmp_path):
    """A class folder and where the outputs go: (class_dir, BatchOutputs)."""
    class_dir, out = tmp_path / "class", tmp_path / "out"
    build_submission("reference", class_dir / "alice")
    build_submission("handout", class_dir / "bob")
    _folder(class_dir / "carol", BUGGY)
    with zipfile.ZipFile(class_dir / "dave.zip", "w") as zf:
        zf.writestr("dave/shapes.py", REFERENCE)
    (class_dir / "erin.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    outputs = BatchOutputs(gradebook=out / "gradebook.csv", feedback_dir=out / "feedback")
    _folder(class_dir / "grace", REFERENCE + PEEKS.format(
        classmate=str(class_dir / "alice" / "shapes.py"), class_dir=str(class_dir), out_dir=str(out),
        cache_dir=str(outputs.cache)))
    (class_dir / "heidi.ipynb").write_text(notebook_json(reference_cells((PART,))))
    (class_dir / "notes.txt").write_text("not a submission")
    return class_dir, outputs


@pytest.mark.slow
def test_class_gradebook_then_rerun_skips_unchanged_and_regrades_changed(classroom):
    class_dir, outputs = classroom
    result = CliRunner().invoke(main, ["batch", str(class_dir), "--output", str(outputs.gradebook),
                                       "--feedback-dir", str(outputs.feedback_dir), "--part", PART,
                                       "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert "ignored notes.txt" in result.output
    rows = _rows(outputs.gradebook)
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin", "grace", "heidi"}
    assert all(row["status"] == "graded" for row in rows.values())
    # a folder, a zip or a notebook
    assert float(rows["alice"]["total"]) == float(rows["dave"]["total"]) == float(rows["heidi"]["total"]) == POINTS
    assert float(rows["bob"]["total"]) == 0  # the untouched stubs
    assert 0 < float(rows["carol"]["total"]) < POINTS
    assert float(rows["erin"]["total"]) == 0 and "could not be read" in rows["erin"]["notes"]
    if ISOLATION.namespaces or ISOLATION.switch_user:
        assert float(rows["grace"][PART]) == POINTS  # saw nothing of the others, wrote nothing
        assert not (outputs.folder / "forged.csv").exists() and not (outputs.cache / "forged.json").exists()
    else:  # student code runs as this user: nothing keeps it out, and the batch says so
        assert "no namespaces here and not root" in result.output
    assert "Total: 15.00 / 15.00" in (outputs.feedback_dir / "alice.md").read_text()
    assert "same_padding" in (outputs.feedback_dir / "carol.md").read_text()
    assert "Tests most often failed" in outputs.summary.read_text()
    assert outputs.histogram.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    settings = BatchSettings(parts=(PART,), jobs=2)
    again = run_batch(class_dir, settings, outputs, console=_quiet())
    assert all(o.cached for o in again.outcomes)
    assert _rows(outputs.gradebook) == rows

    (class_dir / "carol" / "shapes.py").write_text(REFERENCE)  # carol fixes her bug
    fixed = run_batch(class_dir, settings, outputs, console=_quiet())
    assert {o.submission.label for o in fixed.outcomes if not o.cached} == {"carol"}
    assert float(_rows(outputs.gradebook)["carol"]["total"]) == POINTS


@pytest.mark.slow
def test_a_hanging_submission_gets_a_failure_row_and_the_rest_is_graded(tmp_path):
    class_dir = tmp_path / "class"
    build_submission("reference", class_dir / "alice")
    _folder(class_dir / "frank", HANGS)
    outputs = BatchOutputs(gradebook=tmp_path / "gradebook.csv")
    # the first call hangs for the whole call time-out, past the submission's wall-clock limit
    settings = BatchSettings(parts=(PART,), call_timeout=100, submission_timeout=20, jobs=2)
    report = run_batch(class_dir, settings, outputs, console=_quiet())
    rows = _rows(outputs.gradebook)
    assert float(rows["alice"]["total"]) == POINTS
    assert rows["frank"]["status"].startswith("not graded: time limit of 20 s")
    assert rows["frank"][PART] == rows["frank"]["total"] == ""  # empty, never a silent 0
    assert "frank" in report.summary and "Not graded" in report.summary
    assert len(list(outputs.cache.glob("*.json"))) == 1  # alice's: failures are not cached


def test_plain_class_folder(tmp_path):
    build_submission("reference", tmp_path / "alice")
    (tmp_path / "bob.zip").write_bytes(b"")
    (tmp_path / "carol.ipynb").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".DS_Store").write_text("")
    roster = discover(tmp_path)
    assert [(s.label, s.students) for s in roster.submissions] == [
        ("alice", (Student("alice"),)), ("bob.zip", (Student("bob"),)),
        ("carol.ipynb", (Student("carol"),))]
    assert roster.ignored == ["notes.txt: neither a folder, a .zip nor a notebook"]


def test_gradescope_export_names_students_and_groups(tmp_path):
    export = tmp_path / "assignment_42_export"  # as unzipped: one folder down
    for folder in ("submission_1", "submission_2", "submission_3"):
        _folder(export / folder, REFERENCE)
    (export / "submission_metadata.yml").write_text("""\
submission_1:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1815'
    :email: ada@example.edu
  :created_at: 2024-01-01 10:00:00.000000000 -08:00
  :score: 10.0
submission_2:
  :submitters:
  - :name: Alan Turing
    :sid: '1912'
    :email: alan@example.edu
  - :name: Grace Hopper
    :sid: '1906'
    :email: grace@example.edu
submission_3:
  :submitters:
  - :name: Ken Thompson
submission_9:
  :submitters:
  - :name: Gone Student
""")
    roster = discover(tmp_path)
    by_label = {s.label: s.students for s in roster.submissions}
    assert by_label["submission_1"] == (Student("Ada Lovelace", "1815", "ada@example.edu"),)
    assert [s.name for s in by_label["submission_2"]] == ["Alan Turing", "Grace Hopper"]
    assert by_label["submission_3"] == (Student("Ken Thompson"),)
    assert roster.ignored == ["submission_9: listed in submission_metadata.yml but not in the folder"]


def test_malformed_metadata_is_refused(tmp_path):
    (tmp_path / "submission_metadata.yml").write_text("submission_1: [not, a, mapping]\n")
    with pytest.raises(ClassFolderError, match="submitters"):
        discover(tmp_path)


def test_gradebook_has_a_row_per_student_and_empty_scores_when_not_graded(tmp_path):
    test = results.TestResult(f"{PART}: one test", PART, "1.1", 12.5, POINTS, "", "visible")
    graded = results.GradeResult(tests=[test], parts=[results.PartSummary(PART, 12.5, POINTS, 1.0)],
                                 execution_time=1.0, isolation="test")
    pair = Submission("submission_2", tmp_path, (Student("Alan", "1"), Student("Grace", "2")))
    stuck = Submission("frank", tmp_path, (Student("frank"),))
    write_gradebook(tmp_path / "g.csv", [Outcome(pair, result=graded),
                                         Outcome(stuck, error="time limit of 5 s exceeded")], [PART])
    rows = _rows(tmp_path / "g.csv")
    assert rows["Alan"][PART] == rows["Grace"]["total"] == "12.50"
    assert rows["Grace"]["sid"] == "2" and rows["Grace"]["submission"] == "submission_2"
    assert rows["frank"]["status"] == "not graded: time limit of 5 s exceeded"
    assert rows["frank"][PART] == rows["frank"]["total"] == ""


def test_cache_key_follows_content_and_settings_not_names(tmp_path):
    first = _folder(tmp_path / "a", REFERENCE)
    same = _folder(tmp_path / "b", REFERENCE)
    other = _folder(tmp_path / "c", BUGGY)
    assert content_digest(first) == content_digest(same) != content_digest(other)
    (same / "notes.md").write_text("")
    assert content_digest(first) != content_digest(same)  # any file counts, even empty ones
    base = grader_fingerprint(None, BatchSettings(parts=(PART,)).score_inputs())
    assert base == grader_fingerprint(None, BatchSettings(parts=(PART,), jobs=8).score_inputs())
    assert base != grader_fingerprint(None, BatchSettings(parts=(PART,), call_timeout=1).score_inputs())
    override = tmp_path / "override.toml"
    override.write_text("[parts.shapes]\npoints = 20\n")
    assert base != grader_fingerprint(override, BatchSettings(parts=(PART,)).score_inputs())
    assert cache_key(content_digest(first), base) != cache_key(content_digest(other), base)


def test_the_class_and_every_output_are_hidden_from_student_code(tmp_path):
    outputs = BatchOutputs(gradebook=tmp_path / "out" / "g.csv", feedback_dir=tmp_path / "fb",
                           cache_dir=tmp_path / "cache")
    assert set(hidden_paths(tmp_path / "class", outputs)) == {
        str(tmp_path / "class"), str(tmp_path / "out"), str(tmp_path / "fb"), str(tmp_path / "cache")}
    assert "/" not in hidden_paths(Path("/"), BatchOutputs(gradebook=Path("/g.csv")))


def test_outputs_inside_the_class_folder_are_refused(tmp_path):
    build_submission("reference", tmp_path / "alice")
    for outputs in (BatchOutputs(gradebook=tmp_path / "gradebook.csv"),
                    BatchOutputs(gradebook=tmp_path.parent / "g.csv", feedback_dir=tmp_path / "feedback")):
        with pytest.raises(BatchError, match="inside the class folder"):
            run_batch(tmp_path, BatchSettings(parts=(PART,)), outputs, console=_quiet())


def test_histogram_counts_submissions_in_whole_numbers():
    """Two of three totals in one bin: matplotlib's default ticks would read 0.00, 0.25, ..., 2.00."""
    import matplotlib

    matplotlib.use("Agg")
    from autograder.batch.summary import histogram_figure

    figure = histogram_figure([10.0, 12.5, 12.5], 25)
    figure.canvas.draw()
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels and all(text.isdigit() for text in labels), labels
