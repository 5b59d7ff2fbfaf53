"""The otter and nbgrader routes agree with ``grade run`` on the same answers.

The comparison. The notebooks ask for a subset of the functions, the *covered* functions
(``notebook_parts.QUESTIONS``). For an answer set (the reference's shapes.py and layers.py, with
or without edits; the notebooks are filled with the same functions), each route gives a fraction:

* ``grade run``: over the *covered tests*, the tests whose title names at least one function
  and only covered ones (``notebook_parts.is_covered``): sum of scores / sum of max scores.
* otter, nbgrader: total score / total points of the notebook (every question is covered).

Claim 1, exact (up to otter's rounding to 5 decimals): when every covered function either
passes every check or fails every check, and each covered test that names a failing function
names only failing ones, the three fractions are equal, namely
1 - (points of the failing functions) / (points of all covered functions). This holds because
a notebook question is worth exactly its function's share of the covered tests' points.
Checked on the reference (nothing fails) and on "unfinished" (relu_forward, relu_backward and
conv_forward_naive left as stubs); the condition on test titles is asserted, not assumed.

Claim 2, for a partial bug (some checks of one function fail): otter and nbgrader give every
question the same score (same cases, same points), and in all three routes only that
function's points are lost. How much is lost may differ between ``grade run`` and the notebooks,
whose checks are different cases. Checked on "padding_bug" (padding counted once).
"""
from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.config import load_config
from autograder.package import notebook_parts

from .test_nbgrader import nbgrader_scores
from .test_otter import ANSWER_SETS, OTTER_ROUNDING, answers_folder, otter_scores, question_points

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PARTS = tuple(dict.fromkeys(part for part, _, _ in notebook_parts.QUESTIONS))


@functools.cache
def grade_run_tests(base: Path, answer_set: str) -> list:
    """The covered tests of ``grade run`` on the answer set: (part, title, score, max_score)."""
    folder = answers_folder(base, answer_set)
    config = load_config()
    covered = []
    for part in PARTS:
        # One process per part, as a course runs it: each part's suite imported afresh.
        output = base / "grade-run" / f"{answer_set}-{part}.json"
        done = subprocess.run([sys.executable, "-m", "cli", "run", str(folder), "--part", part,
                               "--format", "json", "--output", str(output)],
                              cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        for test in json.loads(output.read_text())["tests"]:
            title = test["name"].split(": ", 1)[1]
            if notebook_parts.is_covered(config, part, title):
                covered.append((part, title, test["score"], test["max_score"]))
    return covered


def fractions(base: Path, answer_set: str) -> dict:
    run = grade_run_tests(base, answer_set)
    otter = otter_scores(base, answer_set)
    nbgrader = nbgrader_scores(base)[answer_set]
    return {
        "grade run": sum(t[2] for t in run) / sum(t[3] for t in run),
        "otter": sum(s for s, _ in otter.values()) / sum(m for _, m in otter.values()),
        "nbgrader": sum(s for s, _ in nbgrader.values()) / sum(m for _, m in nbgrader.values()),
    }


def test_reference_gets_everything_in_every_route(tmp_path_factory):
    found = fractions(tmp_path_factory.getbasetemp(), "reference")
    assert found == pytest.approx(dict.fromkeys(found, 1.0), abs=OTTER_ROUNDING)


def test_unfinished_functions_lose_the_same_fraction_in_every_route(tmp_path_factory):
    base, config, points = tmp_path_factory.getbasetemp(), load_config(), question_points()
    failing = frozenset(ANSWER_SETS["unfinished"])
    for part, title, _, _ in grade_run_tests(base, "unfinished"):
        named = notebook_parts.functions_named(config, part, title)
        assert not named & failing or named <= failing, f"claim 1 does not apply: {title!r}"
    predicted = 1 - sum(points[name] for name in failing) / sum(points.values())
    found = fractions(base, "unfinished")
    assert 0 < predicted < 1
    assert found == pytest.approx(dict.fromkeys(found, predicted), abs=OTTER_ROUNDING)


def test_partial_bug_otter_equals_nbgrader_and_every_route_blames_one_function(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    otter, nbgrader = otter_scores(base, "padding_bug"), nbgrader_scores(base)["padding_bug"]
    assert set(otter) == set(nbgrader)
    for name in otter:
        assert otter[name][0] == pytest.approx(nbgrader[name][0], abs=OTTER_ROUNDING), name
    lost = {name for name, (score, max_score) in otter.items() if score < max_score - OTTER_ROUNDING}
    assert lost == {"conv_output_size"}
    config = load_config()
    blamed = {notebook_parts.functions_named(config, part, title)
              for part, title, score, max_score in grade_run_tests(base, "padding_bug")
              if score < max_score - 1e-9}
    assert blamed and all("conv_output_size" in named for named in blamed), blamed
    assert all(0 < value < 1 for value in fractions(base, "padding_bug").values())
