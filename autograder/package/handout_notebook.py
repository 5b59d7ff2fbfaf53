"""The handout notebook, built from the parts: the introduction and set-up cells
(``templates/handout_head.ipynb``, its table of parts made from their declarations), then each
part's own section (``autograder/suites/<part>/notebook.ipynb``), in the parts' order.

``grade package student`` builds the notebook it ships, so a part added (or removed) is in (or
out of) the handout at once. ``assignments/cnn_assignment.ipynb`` is this build, kept in the
repository for those who work there; ``python -m autograder.package.handout_notebook`` rewrites it
(a test checks that it is current).
"""
from __future__ import annotations

import json
from pathlib import Path

from autograder.config import GradingConfig, load_config
from autograder.package import PackageError
from autograder.parts import SUITES_DIR

HEAD = Path(__file__).with_name("templates") / "handout_head.ipynb"
SECTION = "notebook.ipynb"  # a part's section, in its suite's folder
NOTEBOOK = Path(__file__).resolve().parents[2] / "assignments" / "cnn_assignment.ipynb"


def build_handout_notebook(config: GradingConfig, suites_dir: Path = SUITES_DIR) -> str:
    """The notebook's text (nbformat 4 JSON, as Jupyter writes it). The head's ``{parts}`` line
    becomes a table of the parts; ``{number}`` in a section becomes its part's number."""
    notebook = _read(HEAD)
    rows = ["| Part | File you edit | What you write |\n", "|---|---|---|\n"]
    cells = []
    for number, part in enumerate(config.parts.values(), start=1):
        files = ", ".join(f"`{name}`" for name in part.files if name.endswith(".py"))
        rows.append(f"| {number} | {files} | {part.title} |\n")
        section = suites_dir / part.name / SECTION
        for cell in _read(section)["cells"] if section.is_file() else []:
            cells.append({**cell, "source": [line.replace("{number}", str(number)) for line in cell["source"]]})
    head = notebook["cells"]
    head[0] = {**head[0], "source": [line for text in head[0]["source"]
                                     for line in (rows if text == "{parts}\n" else [text])]}
    notebook["cells"] = head + cells
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PackageError(f"{path}: not a readable notebook ({exc})") from None


if __name__ == "__main__":
    NOTEBOOK.write_text(build_handout_notebook(load_config()))
    print(f"wrote {NOTEBOOK}")
