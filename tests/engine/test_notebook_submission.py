"""A notebook handed in instead of .py files: which of its statements become which file.

Only parsing is tested here (nothing is graded or run); tests/notebooks/test_notebook_route.py
grades notebooks end to end.
"""
import json
import shutil

import pytest

from autograder.run import HANDOUT_DIR

from autograder.engine.notebook_submission import MAX_NOTEBOOK_BYTES, write_notebook_parts
from autograder.engine.submission import load_submission
from tests.notebooks.build import notebook_json, reference_cells

HANDOUT_NOTEBOOK = HANDOUT_DIR / "cnn_assignment.ipynb"
FILES = {"shapes.py": ["same_padding", "conv_output_size"], "layers.py": ["relu_forward"]}


def write(folder, cells, name="work.ipynb"):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(notebook_json([("code", c) if isinstance(c, str) else c for c in cells]))
    return folder


def test_each_file_gets_its_functions_and_what_they_use_and_nothing_else(tmp_path):
    folder = write(tmp_path / "s", [
        "import numpy as np\nimport torch\nOFFSET = 1\n",
        "def _half(k):\n    return (k - OFFSET) // 2\n\ndef same_padding(k):\n    return _half(k)\n",
        "def relu_forward(x):\n    out = np.maximum(x, 0)\n    return out, x\n",
        "out = relu_forward(np.ones(3))\nprint(out)\n",
    ])
    notes = write_notebook_parts(folder, FILES)
    shapes, layers = (folder / "shapes.py").read_text(), (folder / "layers.py").read_text()
    namespace = {}
    exec(shapes, namespace)
    assert namespace["same_padding"](5) == 2
    assert "relu_forward" not in shapes and "numpy" not in shapes and "torch" not in shapes
    # The function's own local ``out`` does not pull in the top-level ``out = ...``.
    assert "import numpy as np" in layers and "print" not in layers and "torch" not in layers
    assert notes[0].startswith("Read the notebook work.ipynb without running it: wrote "
                               "shapes.py (cells 1, 2), layers.py (cells 1, 3)")
    assert "Top-level code in cell 4 of work.ipynb was not run or graded" in notes[1]


def test_the_last_definition_wins_and_imports_of_the_handout_modules_are_left_out(tmp_path):
    folder = write(tmp_path / "s", [
        "def same_padding(k):\n    return -1\n",
        "def same_padding(k):\n    return (k - 1) // 2\n",
        "from shapes import same_padding\nimport layers\n",
    ])
    write_notebook_parts(folder, FILES)
    namespace = {}
    exec((folder / "shapes.py").read_text(), namespace)
    assert namespace["same_padding"](3) == 1
    assert not (folder / "layers.py").exists()  # nothing of it defined: its part says it is missing


@pytest.mark.parametrize("patch", [
    "np.allclose = lambda *a, **k: True\n",
    "import numpy; numpy.testing.assert_allclose = lambda *a, **k: None\n",
    "if True:\n    import numpy\n    numpy.array_equal = lambda *a, **k: True\n",
    "setattr(np, 'isclose', None)\n",
])
def test_top_level_patches_are_never_written(tmp_path, patch):
    folder = write(tmp_path / "s", ["import numpy as np\n", patch,
                                    "def relu_forward(x):\n    return np.maximum(x, 0), x\n"])
    notes = write_notebook_parts(folder, FILES)
    assert (folder / "layers.py").read_text().count("np.") == 1  # only relu_forward's own
    assert "Top-level code in cell 2 of work.ipynb" in notes[-1]


def test_magics_are_blanked_and_unparseable_cells_skipped_with_a_note(tmp_path):
    folder = write(tmp_path / "s", [
        "%matplotlib inline\n!pip install numpy\nimport numpy as np\n",
        "%%time\ndef relu_forward(x):\n    return x, x\n",
        "def broken(:\n",
        "def relu_forward(x):\n    return np.maximum(x, 0), x\n",
    ])
    notes = " ".join(write_notebook_parts(folder, FILES))
    assert "cell 2 of work.ipynb starts with a cell magic (%%time)" in notes
    assert "cell 3 of work.ipynb is not valid Python (line 1" in notes
    namespace = {}
    exec((folder / "layers.py").read_text(), namespace)
    assert namespace["relu_forward"](namespace["np"].array([-1.0]))[0][0] == 0


def test_imports_come_first_and_future_imports_at_the_top(tmp_path):
    folder = write(tmp_path / "s", [
        "from __future__ import annotations\n",
        "def same_padding(k: Any) -> Any:\n    return (k - 1) // 2\n",
        "from typing import Any\n",
    ])
    write_notebook_parts(folder, FILES)
    lines = (folder / "shapes.py").read_text().splitlines()
    assert lines[0] == "from __future__ import annotations"
    assert lines.index("from typing import Any") < lines.index("def same_padding(k: Any) -> Any:")


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a readable Jupyter notebook (invalid JSON"),
    (json.dumps({"worksheets": []}), "not a Jupyter notebook in the current format"),
    (None, "50 MiB, more than the 50 MiB a notebook may be (its outputs"),  # None: too large
], ids=["not-json", "old-format", "too-large"])
def test_an_unreadable_notebook_says_so_and_writes_nothing(tmp_path, content, message):
    folder = tmp_path / "s"
    folder.mkdir()
    with open(folder / "work.ipynb", "w") as f:
        if content is None:
            f.truncate(MAX_NOTEBOOK_BYTES + 1)
        else:
            f.write(content)
    notes = write_notebook_parts(folder, FILES)
    assert len(notes) == 1 and notes[0].startswith(f"work.ipynb was not graded: it is {message}")
    assert sorted(p.name for p in folder.iterdir()) == ["work.ipynb"]


def test_a_notebook_without_the_functions_says_which_were_wanted(tmp_path):
    folder = write(tmp_path / "s", ["x = 1\n"])
    assert write_notebook_parts(folder, FILES) == [
        "work.ipynb defines none of the functions to grade (same_padding, conv_output_size, relu_forward)."]


def test_the_handout_notebook_defines_nothing_to_grade(tmp_path):
    """The handout's notebook imports the .py files it guides students through: handed in
    alone, it is read (list-of-lines sources, magics) and found to hold none of the functions."""
    (tmp_path / "s").mkdir()
    shutil.copy(HANDOUT_NOTEBOOK, tmp_path / "s")
    notes = write_notebook_parts(tmp_path / "s", FILES)
    assert notes == [f"{HANDOUT_NOTEBOOK.name} defines none of the functions to grade "
                     "(same_padding, conv_output_size, relu_forward)."]


def test_py_files_win_and_several_notebooks_are_refused(tmp_path):
    folder = write(tmp_path / "s", ["def same_padding(k):\n    return 0\n",
                                    "def relu_forward(x):\n    return x, x\n"])
    (folder / "layers.py").write_text("# mine\n")
    assert write_notebook_parts(folder, FILES)[0].endswith("wrote shapes.py (cell 1) "
                                                           "(cells counted from the top, markdown included).")
    assert (folder / "layers.py").read_text() == "# mine\n"
    (folder / "shapes.py").write_text("# mine too\n")
    assert write_notebook_parts(folder, FILES) == []
    other = write(write(tmp_path / "t", ["x = 1\n"], "a.ipynb"), ["x = 1\n"], "b.ipynb")
    assert write_notebook_parts(other, FILES) == [
        "Several notebooks (a.ipynb, b.ipynb): hand in one notebook, or the .py files. None was graded."]


def test_load_submission_takes_a_bare_notebook_and_writes_the_files(tmp_path):
    path = tmp_path / "mine.ipynb"
    path.write_text(notebook_json(reference_cells(("shapes",))))
    loaded = load_submission(path, tmp_path / "out", ["shapes.py", "layers.py"], 2**20, 10,
                             notebook_functions=FILES)
    assert (loaded.root / "shapes.py").is_file() and not (loaded.root / "layers.py").exists()
    assert loaded.notes[0].startswith("Read the notebook mine.ipynb without running it")
