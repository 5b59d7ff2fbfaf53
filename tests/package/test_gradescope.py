"""The Gradescope package end to end: build the zip, lay it out as Gradescope does, run it.

Each run unpacks the zip into a temporary root shaped like ``/autograder/`` (source/, submission/,
results/, run_autograder) and runs ``run_autograder`` with ``AUTOGRADER_ROOT`` pointing there and
``AUTOGRADER_PYTHON`` at this interpreter (setup.sh's installs are skipped: everything is here).
Two container kinds are run: this host as it is (namespaces where it allows them) and one without
``unshare`` on the PATH, as in a Docker container that refuses namespaces, where only the
privilege drop and the root-only source stand between student code and the hidden suites.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import pytest

from autograder.config import load_config
from autograder.engine.sandbox import detect_isolation, python_readable_by_others
from autograder.examples import REFERENCE_DIR, build_submission
from autograder.package import gradescope
from autograder.package.gradescope import GradescopeOptions, PackageError, build_gradescope_zip

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
        _unzip_like_gradescope(package_zip, root / "source")
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


def _unzip_like_gradescope(archive: Path, dest: Path) -> None:
    """Extract with the modes the zip records, as ``unzip`` does (zipfile alone drops them)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = Path(zf.extract(info, dest))
            target.chmod((info.external_attr >> 16) & 0o777)


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
        _unzip_like_gradescope(package_zip, root / "source")
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
    assert "FETCH_CIFAR10=0" in settings and "torch==" in settings
    assert "torch" not in requirements.split("\n", 1)[1] and "numpy==" in requirements


@pytest.mark.parametrize("script", ["setup.sh", "run_autograder"])
def test_scripts_are_valid_bash(package_zip, tmp_path, script):
    with zipfile.ZipFile(package_zip) as zf:
        (tmp_path / script).write_bytes(zf.read(script))
    subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)


def test_options_reach_setup_sh(tmp_path):
    path = tmp_path / "cuda.zip"
    build_gradescope_zip(path, GradescopeOptions(parts=(PART,), cuda_torch=True, cifar_data=True,
                                                 torch_version="2.4.1"))
    with zipfile.ZipFile(path) as zf:
        settings = zf.read("package_settings.sh").decode()
    assert "TORCH_REQUIREMENT=torch==2.4.1" in settings
    assert "TORCH_INDEX_URL=''" in settings  # PyPI: its Linux wheels are the CUDA build
    assert "FETCH_CIFAR10=1" in settings


def test_unknown_parts_and_parts_without_a_suite_are_refused(tmp_path, monkeypatch):
    with pytest.raises(PackageError, match="unknown part"):
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
