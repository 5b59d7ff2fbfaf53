"""The `grade` command end to end: formats, exit codes, and Gradescope's results.json schema."""
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from autograder.config import load_config
from autograder.examples import build_submission
from autograder.parts import SUITES_DIR, part_names
from cli import main

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "gradescope_results.schema.json").read_text())
# Two quick parts whose files the tests below edit (a relu bug, a missing layers.py); their points
# come from their declarations, so that a course's re-weighting changes no test here.
EDITED_PARTS = ("shapes", "layers")
NUMPY_PARTS = [arg for part in EDITED_PARTS for arg in ("--part", part)]
EDITED_POINTS = sum(load_config().parts[part].points for part in EDITED_PARTS)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return build_submission("reference", tmp_path_factory.mktemp("cli") / "reference")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_run_json_on_reference_is_full_marks_and_valid(reference, tmp_path):
    out = tmp_path / "results" / "results.json"
    result = invoke("run", reference, *NUMPY_PARTS, "--format", "json", "--output", out)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == json.loads(out.read_text())
    jsonschema.validate(printed, SCHEMA)
    assert printed["score"] == pytest.approx(EDITED_POINTS)
    assert {tag for t in printed["tests"] for tag in t["tags"]} == set(EDITED_PARTS)


def test_run_table_on_handout_scores_zero_without_crashing(tmp_path):
    handout = build_submission("handout", tmp_path / "handout")
    result = invoke("run", handout, *NUMPY_PARTS)
    assert result.exit_code == 0, result.output
    assert f"Total: 0.00 / {EDITED_POINTS:.2f}" in result.output
    assert "NotImplementedError" in result.output


def test_buggy_submission_validates_and_scores_in_between(reference, tmp_path):
    buggy = tmp_path / "buggy"
    shutil.copytree(reference, buggy)
    layers = buggy / "layers.py"
    layers.write_text(layers.read_text() + "\n\ndef relu_backward(dout, cache):\n    return dout.copy()\n")
    result = invoke("run", buggy, *NUMPY_PARTS, "--format", "gradescope")
    data = json.loads(result.stdout)
    jsonschema.validate(data, SCHEMA)
    assert 0 < data["score"] < EDITED_POINTS
    failed = [t["name"] for t in data["tests"] if t["status"] == "failed"]
    assert failed and all("relu" in name for name in failed)


def test_missing_file_fails_only_its_part(reference, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(reference, partial)
    (partial / "layers.py").unlink()
    data = json.loads(invoke("run", partial, *NUMPY_PARTS, "--format", "json").stdout)
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
    parts = load_config().parts.values()
    assert f"Total: {sum(p.points for p in parts):g} points" in result.output
    assert all(f"{p.name}: {p.points:g} points" in result.output for p in parts)


# --- bad input: one line naming the file, the key and the value; exit code 2; no traceback -------

PROJECT = Path(__file__).resolve().parents[1]
CONFIGS = {  # name -> (TOML text, the message after "<file>: ")
    "negative points": ("[parts.layers]\npoints = -5\n", "parts.layers.points must be >= 0, got -5"),
    "broken TOML": ("[parts.layers\npoints = 5\n", "not valid TOML: Expected ']' at the end of a table "
                                                   "declaration (at line 1, column 14)"),
    "unknown key": ("[parts.layers]\npointz = 5\n",
                    "parts.layers.pointz is not a key (got 5); the keys are enabled, points, visibility, "
                    "timeout, call_timeout, memory_mb, threads, data_dir, shrink_failures (grade validate --keys)"),
    "a key the part declares": ("[parts.layers]\nfiles = []\n", "parts.layers.files is not a key (got []); "
                                "the keys are enabled, points, visibility, timeout, call_timeout, "
                                "memory_mb, threads, data_dir, shrink_failures (grade validate --keys)"),
    "not a part": ("[parts.nope]\npoints = 5\n", "parts.nope is not a part (got [parts.nope]); the parts are "
                   f"{', '.join(part_names())}, each declared by {SUITES_DIR}/<name>/part.toml"),
    "wrong type": ("[limits]\nthreads = \"two\"\n", "limits.threads must be an integer, got 'two'"),
}


def grade(*args, cwd=PROJECT) -> subprocess.CompletedProcess:
    """`python cli.py ARGS` as a user runs it: what the terminal shows, and the exit code."""
    return subprocess.run([sys.executable, str(PROJECT / "cli.py"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(run: subprocess.CompletedProcess, message: str) -> None:
    assert (run.returncode, run.stderr.splitlines(), run.stdout) == (2, [f"Error: {message}"], ""), \
        run.stderr[-2000:]


@pytest.mark.parametrize("case", CONFIGS)
def test_bad_config_for_grade_run(case, reference, tmp_path):
    text, message = CONFIGS[case]
    config = tmp_path / "course.toml"
    config.write_text(text)
    assert_one_line_error(grade("run", reference, "--part", "shapes", "--config", config),
                          f"{config}: {message}")


@pytest.mark.parametrize("command", [["validate"], ["batch", "CLASS", "--output", "OUT/gradebook.csv"],
                                     ["package", "otter", "--output", "OUT"],
                                     ["package", "nbgrader", "--output", "OUT"]])
def test_bad_config_for_every_command_that_takes_one(command, reference, tmp_path):
    config = tmp_path / "course.toml"
    config.write_text(CONFIGS["negative points"][0])
    (tmp_path / "class").mkdir()
    shutil.copytree(reference, tmp_path / "class" / "ada")
    args = [str(tmp_path / "class") if a == "CLASS" else a.replace("OUT", str(tmp_path / "out"))
            for a in command]
    assert_one_line_error(grade(*args, "--config", config),
                          f"{config}: {CONFIGS['negative points'][1]}")


@pytest.mark.parametrize("command", [["run", "SUBMISSION", "--part", "shapes"], ["validate"],
                                     ["batch", "SUBMISSION", "--output", "OUT/gradebook.csv"]])
def test_missing_config_file(command, reference, tmp_path):
    args = [str(reference.parent) if a == "SUBMISSION" and command[0] == "batch" else
            str(reference) if a == "SUBMISSION" else a.replace("OUT", str(tmp_path)) for a in command]
    missing = tmp_path / "nothere.toml"
    assert_one_line_error(grade(*args, "--config", missing), f"--config {missing}: no such file")


def test_every_key_validate_lists_is_one_a_config_may_set(tmp_path):
    from autograder.config import describe_keys

    listed = invoke("validate", "--keys").output.splitlines()
    rows = describe_keys()
    assert len(listed) == len(rows) and not any(key == "name" for _, key, *_ in rows)
    tables: dict = {}  # every listed key set to its default
    for section, key, _, default, _ in rows:
        value = list(default) if isinstance(default, tuple) else default
        tables.setdefault(section.replace("<name>", "layers"), []).append(f"{key} = {json.dumps(value)}")
    config = tmp_path / "every-key.toml"
    config.write_text("".join(f"[{table}]\n" + "\n".join(keys) + "\n" for table, keys in tables.items()))
    assert load_config(config).parts["layers"].points == 0


def test_the_configuration_pickles_with_each_parts_own_settings(tmp_path):
    """Spawned workers (batch, audit) receive the configuration a course laid over the parts."""
    import pickle

    config = tmp_path / "course.toml"
    config.write_text("[parts.cifar10.settings]\naccuracy_tiers = [0.3]\n")
    loaded = load_config(config)
    again = pickle.loads(pickle.dumps(loaded))
    assert again.parts["cifar10"].settings.accuracy_tiers == (0.3,)
    assert dataclasses.asdict(again) == dataclasses.asdict(loaded)


def test_bad_thresholds_file(reference, tmp_path):
    thresholds = tmp_path / "thresholds.toml"
    thresholds.write_text("[measurement\n")
    assert_one_line_error(grade("run", reference, "--part", "shapes", "--thresholds", thresholds),
                          f"{thresholds}: not valid TOML: Expected ']' at the end of a table declaration "
                          "(at line 1, column 13)")
    thresholds.write_text("[measurement]\nbudget = 4\n")
    run = grade("run", reference, "--part", "shapes", "--thresholds", thresholds)
    assert (run.returncode, run.stdout, len(run.stderr.splitlines())) == (2, "", 1), run.stderr
    assert run.stderr.startswith(f"Error: {thresholds}: measurement: unknown key(s) ['budget']; known: [")


def test_missing_submission(tmp_path):
    assert_one_line_error(grade("run", tmp_path / "nothere.zip"),
                          f"SUBMISSION {tmp_path / 'nothere.zip'}: no such file or folder")
    assert_one_line_error(grade("batch", tmp_path / "class"), f"SUBMISSIONS_DIR {tmp_path / 'class'}: no such folder")
    (tmp_path / "a-file").write_text("")
    assert_one_line_error(grade("batch", tmp_path / "a-file"), f"SUBMISSIONS_DIR {tmp_path / 'a-file'}: is a file, not a folder")


def test_a_data_dir_without_cifar10_stops_before_grading(reference, tmp_path):
    nowhere = tmp_path / "nowhere"
    message = (f"--data-dir {nowhere}: CIFAR-10 not found in {nowhere} (from the argument given): missing "
               "test_batch. Expected the files test_batch in that directory or in its 'cifar-10-batches-py' "
               "subdirectory (torchvision's on-disk layout). Pass the directory explicitly or set "
               "$GRADE_CIFAR10_DIR. Or grade without the cifar10 part (--part).")
    for args in (["run", reference], ["batch", reference.parent, "--output", tmp_path / "out" / "g.csv"]):
        assert_one_line_error(grade(*args, "--part", "cifar10", "--data-dir", nowhere), message)
    assert not (tmp_path / "out").exists()


def test_data_is_not_needed_without_the_part_that_uses_it(reference, tmp_path):
    nowhere = tmp_path / "nowhere"
    assert grade("run", reference, "--part", "shapes", "--data-dir", nowhere).returncode == 0
    shapes_only = tmp_path / "shapes-only"
    shapes_only.mkdir()
    shutil.copyfile(reference / "shapes.py", shapes_only / "shapes.py")
    run = grade("run", shapes_only, "--part", "cifar10", "--data-dir", nowhere, "--format", "json")
    assert run.returncode == 0, run.stderr
    outputs = [t["output"] for t in json.loads(run.stdout)["tests"]]
    assert outputs and all("missing from the submission: cifar10.py" in o for o in outputs)


def test_train_reference_without_data(tmp_path):
    run = grade("train-reference", "--data-dir", tmp_path, "--out-dir", tmp_path / "out")
    assert run.returncode == 2 and run.stdout == "" and len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stderr.startswith(f"Error: CIFAR-10 not found in {tmp_path} (from the argument given)")


# --- grade train-reference -----------------------------------------------------------------------

def test_train_reference_on_the_base_install_prints_the_graders_accuracy_once(tmp_path):
    """Without matplotlib (not in the base install): one line says how to get the plots, the
    weights are written, and the one accuracy printed is the suite's measurement of them."""
    import re

    import numpy as np

    from autograder.suites.cifar10 import sandbox_helpers
    from autograder.suites.cifar10.test_model import predictions
    from reference import cifar10
    from reference.cifar10_data import load_cifar10, write_fake_cifar10
    from reference.train_cifar10 import NO_PLOTS

    data = write_fake_cifar10(tmp_path / "data", n_train_per_batch=64, n_test=100, seed=1)
    without_matplotlib = "import sys; sys.modules['matplotlib'] = None; from cli import main; main()"
    run = subprocess.run([sys.executable, "-c", without_matplotlib, "train-reference", "--data-dir", str(data),
                          "--out-dir", str(tmp_path / "out"), "--epochs", "1", "--threads", "1"],
                         cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert NO_PLOTS in run.stdout.splitlines() and "Traceback" not in run.stderr
    accuracies = re.findall(r"(\d+\.\d+)%", run.stdout + run.stderr)
    assert len(accuracies) == 1 and "1 threads" in run.stdout, run.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cifar10.pt"]

    model = cifar10.build_model()
    sandbox_helpers.load_weights(model, str(tmp_path / "out" / "cifar10.pt"), 100)
    images, labels = load_cifar10(data, "test")
    batch_size = load_config().parts["cifar10"].settings.batch_size
    measured = float((predictions(sandbox_helpers, model, images, batch_size, "cpu",
                                  np.random.default_rng(0)) == labels).mean())
    assert float(accuracies[0]) == round(100 * measured, 2)
    assert np.isfinite(measured)
