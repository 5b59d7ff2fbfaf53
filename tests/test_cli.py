"""The `grade` command end to end: formats, exit codes, and Gradescope's results.json schema."""
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from autograder.examples import build_submission
from cli import main

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "gradescope_results.schema.json").read_text())
NUMPY_PARTS = ["--part", "shapes", "--part", "layers"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return build_submission("reference", tmp_path_factory.mktemp("cli") / "reference")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_run_json_on_reference_is_full_marks_and_valid(reference, tmp_path):
    out = tmp_path / "results" / "results.json"
    result = invoke("run", reference, *NUMPY_PARTS, "--format", "json", "--output", out)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == json.loads(out.read_text())
    jsonschema.validate(printed, SCHEMA)
    assert printed["score"] == pytest.approx(50.0)
    assert {tag for t in printed["tests"] for tag in t["tags"]} == {"shapes", "layers"}


def test_run_table_on_handout_scores_zero_without_crashing(tmp_path):
    handout = build_submission("handout", tmp_path / "handout")
    result = invoke("run", handout, *NUMPY_PARTS)
    assert result.exit_code == 0, result.output
    assert "Total: 0.00 / 50.00" in result.output
    assert "NotImplementedError" in result.output


def test_buggy_submission_validates_and_scores_in_between(reference, tmp_path):
    buggy = tmp_path / "buggy"
    shutil.copytree(reference, buggy)
    layers = buggy / "layers.py"
    layers.write_text(layers.read_text() + "\n\ndef relu_backward(dout, cache):\n    return dout.copy()\n")
    result = invoke("run", buggy, *NUMPY_PARTS, "--format", "gradescope")
    data = json.loads(result.output)
    jsonschema.validate(data, SCHEMA)
    assert 0 < data["score"] < 50
    failed = [t["name"] for t in data["tests"] if t["status"] == "failed"]
    assert failed and all("relu" in name for name in failed)


def test_missing_file_fails_only_its_part(reference, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(reference, partial)
    (partial / "layers.py").unlink()
    data = json.loads(invoke("run", partial, *NUMPY_PARTS, "--format", "json").output)
    by_part = {}
    for test in data["tests"]:
        by_part.setdefault(test["tags"][0], []).append(test)
    assert all(t["status"] == "passed" for t in by_part["shapes"])
    assert all(t["score"] == 0 and "layers.py" in t["output"] and "conv_forward_naive" in t["output"]
               for t in by_part["layers"])


def test_unknown_part_is_a_usage_error(reference):
    result = CliRunner().invoke(main, ["run", str(reference), "--part", "nope"])
    assert result.exit_code != 0 and "unknown part" in result.output


def test_validate_prints_points_adding_up():
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert "Total: 100 points" in result.output
    assert "shapes: 15 points" in result.output
