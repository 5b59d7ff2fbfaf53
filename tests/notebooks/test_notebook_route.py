"""A notebook handed in to ``grade run`` or the Gradescope zip: graded like the .py files of its
functions. (``grade batch``: tests/batch/test_batch.py grades a notebook among its class.)

The numpy parts only: CIFAR-10 needs data that the tests do not have (as in tests/suites/).
"""
import importlib.util
import json
import shutil

import pytest
from click.testing import CliRunner

from autograder.check import check_folder
from autograder.config import load_config
from autograder.package.gradescope import GradescopeOptions, build_gradescope_zip, prove_gradescope_zip
from autograder.engine.submission import load_submission
from autograder.package.notebook_parts import QUESTIONS
from autograder.run import PROJECT_ROOT, expected_functions, grade_submission
from cli import main
from tests.notebooks.build import NUMPY_PARTS, REFERENCE, module_source, notebook_json, reference_cells

CONFIG = load_config()
# A bug the layers suite sees (no clamp below zero), so that a patch could only have hidden it.
BUGGY_RELU = "def relu_forward(x):\n    return x.copy(), x\n"
# Top-level patches of what the suites compare with: each would make a comparison made in the
# student's process always pass.
PATCHES = (
    "np.allclose = lambda *args, **kwargs: True\nnp.testing.assert_allclose = lambda *a, **k: None\n",
    "import numpy; numpy.array_equal = lambda *args, **kwargs: True\n",
    "if True:\n    import numpy\n    numpy.isclose = lambda a, b, *args, **kwargs: numpy.ones_like(a, bool)\n",
)


@pytest.mark.slow
def test_a_notebook_of_the_reference_gets_full_marks_through_grade_run(tmp_path):
    notebook = tmp_path / "mine.ipynb"
    notebook.write_text(notebook_json(reference_cells()))
    parts = [arg for part in NUMPY_PARTS for arg in ("--part", part)]
    result = CliRunner().invoke(main, ["run", str(notebook), *parts, "--format", "gradescope",
                                       "--output", str(tmp_path / "results.json")])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == pytest.approx(sum(CONFIG.parts[p].points for p in NUMPY_PARTS))
    assert all(t["status"] == "passed" for t in results["tests"])
    assert "Read the notebook mine.ipynb without running it: wrote shapes.py" in results["output"]
    assert "Top-level code in cell 9 of mine.ipynb was not run or graded" in results["output"]


@pytest.mark.slow
def test_a_notebook_beside_cifar10_pt_gets_full_marks_through_the_gradescope_zip(tmp_path):
    """The zip's own self-test (run_autograder in a Gradescope-like layout; anything short of
    full marks fails it) on the notebook of the reference and cifar10.pt, as a student hands
    them in; the numpy parts, as CIFAR-10 data is not in the tests (graded once by hand with the
    packaging tests' stand-in data: 100/100 in 222 s)."""
    archive = tmp_path / "autograder.zip"
    build_gradescope_zip(archive, GradescopeOptions(parts=NUMPY_PARTS))
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "mine.ipynb").write_text(notebook_json(reference_cells()))
    shutil.copyfile(REFERENCE / "cifar10.pt", submission / "cifar10.pt")
    proof = prove_gradescope_zip(archive, submission)
    assert proof.score == sum(CONFIG.parts[part].points for part in NUMPY_PARTS)


@pytest.mark.slow
def test_patching_numpy_in_a_notebook_gets_exactly_what_the_py_files_get(tmp_path):
    """Compared, test by test on the layers part: (1) the notebook of the reference's layers with a
    buggy ``relu_forward`` and cells that patch numpy at top level; (2) a layers.py holding the
    same definitions and no patch; (3) that layers.py with the patches at its module level, run
    in the sandbox as any .py submission's top-level code is."""
    notebook = tmp_path / "patched.ipynb"
    notebook.write_text(notebook_json(reference_cells(("layers",)) + [("code", BUGGY_RELU)]
                                      + [("code", patch) for patch in PATCHES]))
    definitions = module_source("layers") + "\n" + BUGGY_RELU
    plain, patched = tmp_path / "plain", tmp_path / "patched"
    plain.mkdir()
    patched.mkdir()
    (plain / "layers.py").write_text(definitions)
    (patched / "layers.py").write_text(definitions + "\n" + "\n".join(PATCHES))

    scores = {name: _scores(source) for name, source in
              (("notebook", notebook), ("plain", plain), ("patched", patched))}
    assert scores["notebook"] == scores["plain"] == scores["patched"]
    assert 0 < sum(scores["plain"].values()) < CONFIG.parts["layers"].points


def _scores(source) -> dict:
    return {t.name: t.score for t in grade_submission(source, ["layers"], CONFIG).tests}


def test_the_visible_check_reads_a_notebook_too(tmp_path):
    """``grade check`` on a notebook: the same functions taken out, the visible tests pass."""
    (tmp_path / "mine.ipynb").write_text(notebook_json(reference_cells(("shapes",))))
    result = check_folder(tmp_path, ["shapes"])
    assert result.tests and all(t.status == "passed" for t in result.tests)
    assert result.notes[0].startswith("Read the notebook mine.ipynb without running it: wrote shapes.py")


def test_readme_counts_the_functions_each_route_grades():
    """README's route table: the engine grades every stub function, otter and nbgrader the
    notebook questions; the counts there follow the stubs and ``notebook_parts.QUESTIONS``."""
    total = sum(len(fs) for part in CONFIG.parts.values() for fs in expected_functions(part).values())
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert f"| all {total} functions of the {len(CONFIG.parts)} parts" in readme
    assert readme.count(f"| {len(QUESTIONS)} of the {total} functions") == 1
    assert readme.count(f"| the same {len(QUESTIONS)} functions") == 1


def test_the_cifar10_part_written_from_a_notebook_loads_the_reference_weights(tmp_path):
    """CIFAR-10 is not graded here (no data); what the notebook route adds for it is the file:
    the reference's classes, constants and private helpers all reach cifar10.py, whose model
    takes the reference's weights key for key."""
    torch = pytest.importorskip("torch")
    notebook = tmp_path / "mine.ipynb"
    notebook.write_text(notebook_json(reference_cells(("cifar10",))))
    loaded = load_submission(notebook, tmp_path / "out", ["cifar10.py", "cifar10.pt"], 2**20, 10,
                             notebook_functions=expected_functions(CONFIG.parts["cifar10"]))
    spec = importlib.util.spec_from_file_location("notebook_cifar10", loaded.root / "cifar10.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weights = torch.load(REFERENCE / "cifar10.pt", weights_only=True)
    module.build_model().load_state_dict(weights)  # strict: raises on any missing or extra key
