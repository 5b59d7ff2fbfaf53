"""The Gradescope package end to end: build the zip, lay it out as Gradescope does, run it, and
the zip's own self-test (``grade package gradescope``), with CIFAR-10 bundled or refused.

Each run unpacks the zip into a temporary root shaped like ``/autograder/`` (source/, submission/,
results/, run_autograder) and runs ``run_autograder`` with ``AUTOGRADER_ROOT`` pointing there and
``AUTOGRADER_PYTHON`` at this interpreter (setup.sh's installs are skipped: everything is here).
Two container kinds are run: this host as it is (namespaces where it allows them) and one without
``unshare`` on the PATH, as in a Docker container that refuses namespaces, where only the
privilege drop and the root-only source stand between student code and the hidden suites.
"""
import json
import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from autograder.config import ConfigError, load_config
from autograder.engine.sandbox import detect_isolation, python_readable_by_others
from autograder.examples import REFERENCE_DIR, build_submission
from autograder.package import gradescope
from autograder.package.gradescope import (BUNDLED_DATA, GradescopeOptions, PackageError,
                                           build_gradescope_zip, prove_gradescope_zip)
from autograder.package.selftest import SelfTestFailed, unzip_with_modes
from cli import main
from reference.cifar10_data import BATCHES_DIRNAME, load_cifar10, write_fake_cifar10

SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "gradescope_results.schema.json").read_text())
PART = "shapes"  # the fastest part; the package's plumbing is the same for every part
POINTS = load_config().parts[PART].points
AS_ROOT = os.geteuid() == 0
CONTAINERS = ("host", "no-unshare")
HOST_ISOLATION = detect_isolation()
# What run_autograder itself needs; a PATH of only these hides unshare from the grader.
SHELL_TOOLS = ("bash", "env", "chmod", "rm", "mkdir", "dirname")

BUG = '''

def same_padding(kernel_size):
    """Bug: (F + 1) / 2 instead of (F - 1) / 2, and no ValueError for even kernels."""
    return (kernel_size + 1) // 2
'''

# Appended to the buggy file: attacks on the grader. Each attack that works makes every function
# return garbage, so the hostile submission scores exactly what the buggy one does only if all
# of them failed.
PROBE = '''

import os as _os

_SOURCE, _RESULTS, _HOST_IS_ROOT = {source!r}, {results!r}, {host_is_root!r}


def _forge_results():
    with open(_RESULTS, "w") as f:
        f.write('{{"score": 1000, "tests": []}}')


def _plant_file():
    with open(_os.path.join(_os.path.dirname(_RESULTS), "planted.txt"), "w") as f:
        f.write("student was here")


_ATTACKS = {{
    "read the hidden suite": lambda: open(_os.path.join(_SOURCE, "autograder/suites/shapes/test_shapes.py")).read(),
    "read the reference": lambda: open(_os.path.join(_SOURCE, "reference/shapes.py")).read(),
    "list the source folder": lambda: _os.listdir(_SOURCE),
    "forge results.json": _forge_results,
    "plant a file next to it": _plant_file,
}}
_LEAKS = []
for _name, _attack in _ATTACKS.items():
    try:
        _attack()
        _LEAKS.append(_name)
    except Exception:
        pass
if _HOST_IS_ROOT and _os.geteuid() == 0:
    _LEAKS.append("still root")
print("hostile probe, attacks that worked:", _LEAKS)
if _LEAKS:
    for _public in [n for n, v in list(globals().items()) if callable(v) and not n.startswith("_")]:
        globals()[_public] = lambda *args, **kwargs: -1
'''


@pytest.fixture(scope="module")
def package_zip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("package") / "autograder.zip"
    build_gradescope_zip(path, GradescopeOptions(parts=(PART,)))
    return path


@pytest.fixture
def container(package_zip):
    """container(write_submission, kind) -> (root, results.json as dict, run_autograder's output)."""
    roots = []

    def run(write_submission, kind: str):
        # Straight under the temporary folder and world-traversable like /autograder, so that
        # in the no-unshare container the root-only source is the only thing keeping it private.
        root = Path(tempfile.mkdtemp(prefix="autograder-root-"))
        roots.append(root)
        root.chmod(0o755)
        unzip_with_modes(package_zip, root / "source")
        shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
        (root / "results").mkdir()
        write_submission(root / "submission", root)
        env = {"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
               "PATH": _shell_only_path(root) if kind == "no-unshare" else os.environ["PATH"],
               "LANG": "C.UTF-8"}
        done = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True,
                              text=True, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        results = json.loads((root / "results" / "results.json").read_text())
        jsonschema.validate(results, SCHEMA)
        return root, results, output

    yield run
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


def _shell_only_path(root: Path) -> str:
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for tool in SHELL_TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)


def _reference(folder: Path, root: Path) -> None:
    build_submission("reference", folder)


def _buggy(folder: Path, root: Path) -> None:
    folder.mkdir()
    (folder / "shapes.py").write_text((REFERENCE_DIR / "shapes.py").read_text() + BUG)


def _hostile(folder: Path, root: Path) -> None:
    _buggy(folder, root)
    probe = PROBE.format(source=str(root / "source"), results=str(root / "results" / "results.json"),
                         host_is_root=AS_ROOT)
    with open(folder / "shapes.py", "a") as f:
        f.write(probe)


def _scores(results: dict) -> dict:
    return {t["name"]: t["score"] for t in results["tests"]}


@pytest.fixture(scope="module")
def buggy_scores(package_zip) -> dict:
    """The buggy submission's scores, from a run of the package: what the hostile one must match."""
    holder = {}
    root = Path(tempfile.mkdtemp(prefix="autograder-root-"))
    try:
        unzip_with_modes(package_zip, root / "source")
        (root / "results").mkdir()
        _buggy(root / "submission", root)
        env = {"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
               "PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
        subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True,
                       check=True, timeout=300)
        holder.update(json.loads((root / "results" / "results.json").read_text()))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return holder


def test_zip_holds_the_scripts_the_grader_and_the_reference(package_zip):
    with zipfile.ZipFile(package_zip) as zf:
        names = set(zf.namelist())
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in zf.infolist()}
        settings = zf.read("package_settings.sh").decode()
        requirements = zf.read("requirements.txt").decode()
    assert {"setup.sh", "run_autograder", "cli.py", "pyproject.toml", "autograder/grading.toml",
            "autograder/suites/shapes/test_shapes.py", "reference/shapes.py"} <= names
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    shipped_reference = {p.relative_to(REFERENCE_DIR.parent).as_posix() for p in REFERENCE_DIR.rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert shipped_reference <= names  # weights included, when they exist
    assert not any(n.startswith("tests/") or "__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "GRADE_PARTS=shapes" in settings and "download.pytorch.org/whl/cpu" in settings
    assert "GRADE_DATA=''" in settings and "DATA_DOWNLOADS=''" in settings and "torch==" in settings
    assert not any(n.startswith("data/") for n in names)
    assert "torch" not in requirements.split("\n", 1)[1] and "numpy==" in requirements


@pytest.mark.parametrize("script", ["setup.sh", "run_autograder"])
def test_scripts_are_valid_bash(package_zip, tmp_path, script):
    with zipfile.ZipFile(package_zip) as zf:
        (tmp_path / script).write_bytes(zf.read(script))
    subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)


def test_options_reach_setup_sh_and_run_autograder(tmp_path):
    path = tmp_path / "cuda.zip"
    (tmp_path / "calibrated.toml").write_text(LENIENT_THRESHOLDS)
    build_gradescope_zip(path, GradescopeOptions(parts=("cifar10",), cuda_torch=True, download_data=True,
                                                 torch_version="2.4.1", thresholds=tmp_path / "calibrated.toml"))
    with zipfile.ZipFile(path) as zf:
        settings = zf.read("package_settings.sh").decode()
        thresholds = zf.read("thresholds.toml").decode()
    assert "TORCH_REQUIREMENT=torch==2.4.1" in settings
    assert "TORCH_INDEX_URL=''" in settings  # PyPI: its Linux wheels are the CUDA build
    data = load_config().parts["cifar10"].data
    assert "GRADE_DATA=download" in settings and f"DATA_DOWNLOADS='{data.download_url} {data.download_md5}'" in settings
    assert "GRADE_THRESHOLDS=thresholds.toml" in settings and thresholds == LENIENT_THRESHOLDS


def test_unknown_parts_and_parts_without_a_suite_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown part"):
        build_gradescope_zip(tmp_path / "a.zip", GradescopeOptions(parts=("nope",)))
    monkeypatch.setattr(gradescope, "SUITES_DIR", tmp_path / "no-suites")
    with pytest.raises(PackageError, match="no hidden suite for part"):
        build_gradescope_zip(tmp_path / "b.zip", GradescopeOptions(parts=(PART,)))
    assert not (tmp_path / "b.zip").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", CONTAINERS)
def test_reference_gets_full_marks(container, kind):
    root, results, output = container(_reference, kind)
    assert results["score"] == pytest.approx(POINTS)
    assert all(t["status"] == "passed" for t in results["tests"]) and len(results["tests"]) > 5
    assert stat.S_IMODE((root / "source").stat().st_mode) & 0o077 == 0  # root-only while grading
    if AS_ROOT and (kind != "no-unshare" or python_readable_by_others()):
        assert "running as an unprivileged user" in results["output"]
    if kind == "no-unshare":
        assert "namespaces unavailable" in results["output"]


@pytest.mark.slow
def test_buggy_gets_less_but_not_nothing(buggy_scores):
    assert 0 < buggy_scores["score"] < POINTS
    assert any(t["status"] == "failed" and "same_padding" in t["name"] for t in buggy_scores["tests"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", CONTAINERS)
def test_hostile_gains_nothing_and_its_attacks_fail(container, buggy_scores, kind):
    if not AS_ROOT and (kind == "no-unshare" or not HOST_ISOLATION.namespaces):
        pytest.skip("neither root nor namespaces: student code runs as the grader's own user and can "
                    "read its files (the weakest mode; Gradescope runs as root)")
    if kind == "no-unshare" and not python_readable_by_others():
        pytest.skip("without namespaces the child keeps root where Python is unreadable by other "
                    "users (pyenv under /root, as here); Gradescope's Python is readable")
    root, results, output = container(_hostile, kind)
    # Exactly the buggy code's credit: had any attack worked, every function would return -1.
    assert _scores(results) == _scores(buggy_scores)
    assert results["score"] == buggy_scores["score"]
    assert not (root / "results" / "planted.txt").exists()
    assert set(os.listdir(root / "results")) == {"results.json"}
    if AS_ROOT:  # the privilege drop is in force, and said so
        assert "running as an unprivileged user" in results["output"]


# --------------------------------------------------------------------------- CIFAR-10 and the self-test

STANDIN_IMAGES = 100
# Logits: the stand-in keeps images whose top class leads by this much, far above the float noise
# between this process and the sandbox (thread counts differ), so both see the same top class.
MARGIN = 0.5
# Speed tiers no noise reaches, for the stand-in test below: its subject is the data, and the
# reference timed against itself on a 2-core machine loaded by other test runs once took more
# than 2x in the training step (half credit), which would make that test flaky.
LENIENT_THRESHOLDS = "[tiers]\ncifar10_inference = [[100.0, 1.0]]\ncifar10_train_step = [[100.0, 1.0]]\n"
REFUSAL = ("Error: the cifar10 part needs the CIFAR-10 test set and Gradescope grades without network: "
           "pass --data-dir DIR to put it in the zip, --download-data to download it when the image is "
           "built, or leave the part out ("
           + " ".join(f"--part {p.name}" for p in load_config().parts.values() if not p.data) + ")\n")


def write_cifar10_standin(folder: Path) -> Path:
    """A small CIFAR-10 stand-in: only ``test_batch``, in the on-disk format, labelled by the
    reference model's own confident predictions; returns the folder holding cifar-10-batches-py.

    Real CIFAR-10 is not in a fresh clone, and the reference weights, trained on it, classify
    synthetic images no better than chance. Labelled by the reference itself, the stand-in gives
    the reference 100% and any other model about chance, at the shipped accuracy tiers. So it
    proves the package's plumbing (the data is bundled, found, read and every tier graded), not
    the model's CIFAR-10 accuracy: the instructor's own run with the real data shows that.
    """
    import torch

    from reference import cifar10

    scratch = write_fake_cifar10(folder / "scratch", n_train_per_batch=1, n_test=4 * STANDIN_IMAGES)
    images, _ = load_cifar10(scratch, "test")
    shutil.rmtree(folder / "scratch")
    model = cifar10.build_model()
    model.load_state_dict(torch.load(REFERENCE_DIR / "cifar10.pt", weights_only=True))
    with torch.inference_mode():
        logits = model.eval()(torch.from_numpy(images).float().div(255)).numpy()
    top_two = np.sort(logits, axis=1)[:, -2:]
    confident = np.flatnonzero(top_two[:, 1] - top_two[:, 0] > MARGIN)[:STANDIN_IMAGES]
    assert len(confident) == STANDIN_IMAGES, "too few confidently classified images; draw more"
    batches = folder / "data" / BATCHES_DIRNAME
    batches.mkdir(parents=True)
    with open(batches / "test_batch", "wb") as f:
        pickle.dump({"data": images[confident].reshape(STANDIN_IMAGES, -1),
                     "labels": [int(label) for label in logits[confident].argmax(axis=1)]}, f, protocol=2)
    return folder / "data"


def package_command(*args):
    return CliRunner().invoke(main, ["package", "gradescope", *map(str, args)])


def test_without_cifar10_data_the_cifar10_part_is_refused_in_one_line(tmp_path):
    result = package_command("--output", tmp_path / "autograder.zip")
    assert (result.exit_code, result.stderr, result.stdout) == (2, REFUSAL, "")
    assert not (tmp_path / "autograder.zip").exists()


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_a_bad_cifar10_folder_is_refused_in_one_line(tmp_path, folder):
    (tmp_path / "empty").mkdir()
    result = package_command("--cifar-data", tmp_path / folder, "--output", tmp_path / "autograder.zip")
    complaint = (f"CIFAR-10 not found in {tmp_path / folder} (from the argument given): missing test_batch. "
                 "Expected the files test_batch in that directory or in its 'cifar-10-batches-py' "
                 "subdirectory (torchvision's on-disk layout). Pass the directory explicitly or set "
                 "$GRADE_CIFAR10_DIR. Or grade without the cifar10 part (--part).")
    assert (result.exit_code, result.stderr) == (2, f"Error: --data-dir {tmp_path / folder}: {complaint}\n")


def test_an_unreadable_test_batch_is_refused_in_one_line(tmp_path):
    batches = tmp_path / "data" / BATCHES_DIRNAME
    batches.mkdir(parents=True)
    (batches / "test_batch").write_bytes(b"not a pickle")
    result = package_command("--cifar-data", tmp_path / "data", "--output", tmp_path / "autograder.zip")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"Error: --data-dir {tmp_path / 'data'}: {batches / 'test_batch'} is "
                                    "not a readable CIFAR-10 batch file")


def test_only_the_test_batch_is_bundled_and_run_autograder_is_pointed_at_it(tmp_path):
    data = write_fake_cifar10(tmp_path / "data", n_train_per_batch=2, n_test=10).parent
    path = tmp_path / "autograder.zip"
    build_gradescope_zip(path, GradescopeOptions(parts=("cifar10",), data_dir=data))
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        settings = zf.read("package_settings.sh").decode()
        bundled = zf.read(f"{BUNDLED_DATA}/{BATCHES_DIRNAME}/test_batch")
    assert bundled == (data / BATCHES_DIRNAME / "test_batch").read_bytes()
    assert {n for n in names if n.startswith("data/")} == {f"{BUNDLED_DATA}/{BATCHES_DIRNAME}/test_batch"}
    assert "GRADE_DATA=bundled" in settings


@pytest.mark.slow
def test_zip_with_a_cifar10_stand_in_gives_the_reference_full_marks_in_its_self_test(tmp_path):
    data = write_cifar10_standin(tmp_path / "standin")
    (tmp_path / "thresholds.toml").write_text(LENIENT_THRESHOLDS)
    result = package_command("--part", "cifar10", "--cifar-data", data, "--thresholds", tmp_path / "thresholds.toml",
                             "--output", tmp_path / "autograder.zip")
    assert result.exit_code == 0, result.output
    points = load_config().parts["cifar10"].points
    assert re.search(rf"^self-test passed: the reference got {points:g}/{points:g} through .*autograder.zip "
                     r"\(cifar10\) in \d+ s$", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.slow
def test_self_test_refuses_a_reference_short_of_full_marks(package_zip, monkeypatch):
    """The self-test reads the grade, not the exit code: a buggy "reference" is caught."""
    monkeypatch.setattr(gradescope, "build_submission", lambda which, dest: _buggy(dest, dest.parent))
    with pytest.raises(SelfTestFailed, match=r"below full marks: .*same_padding"):
        prove_gradescope_zip(package_zip)
