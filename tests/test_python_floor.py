"""One Python floor, the one pyproject.toml declares, wherever a version of Python is named."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What instructors and students read: the README, the docs, the handout and what builds it.
TEXTS = ["README.md", "docs/*.md", "assignments/*", "autograder/package/*.py",
         "autograder/package/templates/*", "autograder/check.py"]
NAMED_VERSION = re.compile(r"Python\s*(?:>=\s*)?(3\.\d+)")


def test_every_named_python_version_is_the_declared_floor():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    floor = declared.removeprefix(">=")
    named = {str(path.relative_to(ROOT)): set(NAMED_VERSION.findall(path.read_text(errors="replace")))
             for pattern in TEXTS for path in ROOT.glob(pattern) if path.is_file()}
    assert {path: versions for path, versions in named.items() if versions - {floor}} == {}
    assert floor in named["README.md"] and floor in named["assignments/cnn_assignment.ipynb"]
    assert floor in named["autograder/package/student.py"]  # the handout's README
