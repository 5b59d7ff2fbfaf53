"""Notebooks for the tests: submissions built from the reference (the notebook route), and the
handout notebook laid out beside the stubs or the reference's files.

A student's notebook runs every cell in one namespace, so two files' private helpers of the same
name would overwrite each other (the reference's shapes.py and layers.py both define a different
``_output_size``). A student writing one notebook would have named them apart; so does the
builder: each module's private top-level names get the module's name as a prefix.
"""
from __future__ import annotations

import ast
import json
import shutil
import zipfile
from pathlib import Path

from autograder.config import load_config
from autograder.package.student import TOP, build_student_handout

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
# Every part that needs no data set (each of these parts has one module, named after it).
NUMPY_PARTS = tuple(part.name for part in load_config().parts.values() if not part.data)
# Top-level code a student leaves in a notebook: the grader must ignore all of it.
SETUP_CELL = "%matplotlib inline\n%load_ext autoreload\n!pip --version\nimport numpy as np\n"
DEMO_CELL = "x = np.arange(6.0).reshape(1, 1, 2, 3)\nprint(relu_forward(x)[0])\n"


def notebook_json(cells: list) -> str:
    """A Jupyter notebook (format 4) of these cells: ``("code" | "markdown", source)`` pairs."""
    return json.dumps({
        "cells": [{"cell_type": kind, "metadata": {}, "source": source,
                   **({"execution_count": None, "outputs": []} if kind == "code" else {})}
                  for kind, source in cells],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}, indent=1)


def reference_cells(modules: tuple = NUMPY_PARTS) -> list:
    """A markdown title, a setup cell with magics, each module's code in a cell of its own
    (private helpers renamed apart), and a demo cell of top-level code."""
    cells = [("markdown", "# My CNN assignment"), ("code", SETUP_CELL)]
    for module in modules:
        cells += [("markdown", f"## {module}"), ("code", module_source(module))]
    return cells + [("code", DEMO_CELL)]


def module_source(module: str) -> str:
    """The reference module's code, its private top-level names prefixed with the module's."""
    tree = ast.parse((REFERENCE / f"{module}.py").read_text())
    private = {node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("_")}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in private:
            node.name = f"_{module}{node.name}"
        elif isinstance(node, ast.Name) and node.id in private:
            node.id = f"_{module}{node.id}"
    return ast.unparse(tree) + "\n"


def handout(dest: Path, with_reference: bool) -> Path:
    """The student handout unpacked into ``dest``; returns its notebook. ``with_reference``: the
    reference's files in place of the stubs beside it, i.e. the handout notebook as a student
    who finished every part runs it."""
    config = load_config()
    build_student_handout(dest / "handout.zip", config)
    with zipfile.ZipFile(dest / "handout.zip") as archive:
        archive.extractall(dest)
    assignments = dest / TOP / "assignments"
    if with_reference:
        for name in (f for part in config.parts.values() for f in part.files):
            shutil.copyfile(REFERENCE / name, assignments / name)
    return assignments / "cnn_assignment.ipynb"
