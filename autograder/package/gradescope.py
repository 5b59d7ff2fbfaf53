"""``grade package gradescope``: the autograder.zip Gradescope runs, one container per submission.

Gradescope unpacks the zip into /autograder/source, runs ``setup.sh`` there once when it builds
the image, then for every submission copies ``run_autograder`` to /autograder and runs it
(https://gradescope-autograders.readthedocs.io/en/latest/specs/). The zip holds:

* ``setup.sh`` and ``run_autograder``, from ``templates/``: the same for every build;
* ``package_settings.sh``: what this build chose (parts, torch build, CIFAR-10), read by both;
* ``thresholds.toml`` with ``--thresholds``: speed tiers calibrated for the grading machine
  (``grade calibrate``), passed to the grader with ``--thresholds``;
* ``data/cifar-10-batches-py/test_batch`` with ``--cifar-data``: the one CIFAR-10 file grading
  reads, so that the cifar10 part is graded without any network (``--with-cifar-data`` instead
  has setup.sh download the data set when the image is built). A package with the cifar10 part
  and neither is refused: in it the reference would lose that part's points;
* ``requirements.txt``: the grader's dependencies pinned to the versions installed here, which
  are the versions it was tested with (torch is installed apart, from the index the build chose);
* the project: ``pyproject.toml``, ``cli.py``, ``README.md``, ``autograder/`` (with the hidden
  suites and ``grading.toml``), ``reference/`` (with ``cifar10.pt`` when it exists) and
  ``assignments/`` (the stubs: the grader reads them to name the functions a missing file lacks).

``prove_gradescope_zip`` then grades the reference with the zip as Gradescope would (below).
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

from autograder.config import load_config
from autograder.examples import build_submission
from autograder.package.selftest import (SHOWN_OUTPUT_LINES, Proof, SelfTestFailed, require_full_marks,
                                         unzip_with_modes)
from autograder.run import PROJECT_ROOT, SUITES_DIR
from autograder.thresholds import load_thresholds
from reference.cifar10_data import BATCHES_DIRNAME, CIFAR10DataError, find_data_dir, load_cifar10

TEMPLATES = Path(__file__).with_name("templates")
SCRIPTS = ("setup.sh", "run_autograder")
PROJECT_FILES = ("pyproject.toml", "cli.py", "README.md")
PROJECT_FOLDERS = ("autograder", "reference", "assignments")
SKIPPED_FOLDERS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
CIFAR10_PART = "cifar10"
BUNDLED_TEST_BATCH = f"data/{BATCHES_DIRNAME}/test_batch"  # run_autograder: --data-dir source/data
BUNDLED_THRESHOLDS = "thresholds.toml"  # run_autograder: --thresholds source/thresholds.toml
# A fixed timestamp makes two builds of the same tree byte-identical, so they can be compared.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class PackageError(Exception):
    """The package cannot be built as asked; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class GradescopeOptions:
    parts: tuple = ()  # empty: every part of the configuration
    cuda_torch: bool = False  # PyPI's Linux torch wheels are the CUDA build
    cifar10_dir: Path | None = None  # CIFAR-10 here: its test batch goes into the zip
    download_cifar10: bool = False  # setup.sh downloads CIFAR-10 (the image build has internet)
    torch_version: str | None = None  # None: the version installed here
    thresholds: Path | None = None  # a thresholds file laid over autograder/thresholds.toml


def build_gradescope_zip(output: Path, options: GradescopeOptions = GradescopeOptions()) -> list:
    """Write the zip to ``output`` and return the names of its members."""
    members: dict[str, tuple[bytes, int]] = {}  # name -> (content, file mode)
    for name in SCRIPTS:
        members[name] = ((TEMPLATES / name).read_bytes(), 0o755)
    parts = _check_parts(options.parts)
    cifar10_data = _cifar10_data(parts, options)
    if cifar10_data == "bundled":
        members[BUNDLED_TEST_BATCH] = (_test_batch(options.cifar10_dir).read_bytes(), 0o644)
    if options.thresholds is not None:
        load_thresholds(options.thresholds)  # refuse a bad file now, not at every submission
        members[BUNDLED_THRESHOLDS] = (Path(options.thresholds).read_bytes(), 0o644)
    members["package_settings.sh"] = (_settings(parts, cifar10_data, options).encode(), 0o644)
    members["requirements.txt"] = (_requirements().encode(), 0o644)
    for name in PROJECT_FILES:
        if not (PROJECT_ROOT / name).is_file():
            raise PackageError(f"{PROJECT_ROOT / name} is missing; the package needs it")
        members[name] = ((PROJECT_ROOT / name).read_bytes(), 0o644)
    for folder in PROJECT_FOLDERS:
        for path in _project_files(PROJECT_ROOT / folder):
            members[path.relative_to(PROJECT_ROOT).as_posix()] = (path.read_bytes(), 0o644)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            content, mode = members[name]
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = (0o100000 | mode) << 16  # a regular file; unzip restores the mode
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return sorted(members)


def _settings(parts: list, cifar10_data: str, options: GradescopeOptions) -> str:
    values = {
        "GRADE_PARTS": " ".join(parts),
        "TORCH_REQUIREMENT": f"torch=={options.torch_version or _installed_torch()}",
        "TORCH_INDEX_URL": "" if options.cuda_torch else CPU_TORCH_INDEX,
        "CIFAR10_DATA": cifar10_data,
        "GRADE_THRESHOLDS": BUNDLED_THRESHOLDS if options.thresholds is not None else "",
    }
    lines = ["# Written by `grade package gradescope`; read by setup.sh and run_autograder."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _check_parts(names: tuple) -> list:
    """The parts to grade, each with a suite; a part whose suite is not written yet is refused."""
    config = load_config()
    unknown = [n for n in names if n not in config.parts]
    if unknown:
        raise PackageError(f"unknown part(s) {unknown}; the parts are {list(config.parts)}")
    selected = list(names) or list(config.parts)
    without_suite = [n for n in selected if not any((SUITES_DIR / n).glob("test_*.py"))]
    if without_suite:
        ready = [n for n in config.parts if any((SUITES_DIR / n).glob("test_*.py"))]
        raise PackageError(f"no hidden suite for part(s) {without_suite} (no test_*.py in "
                           f"{SUITES_DIR}/<part>/); package the parts that have one with "
                           f"--part, e.g. {' '.join(f'--part {n}' for n in ready) or '(none yet)'}")
    return selected


def _cifar10_data(parts: list, options: GradescopeOptions) -> str:
    """Where the zip's grading finds CIFAR-10: "bundled", "download" (by setup.sh) or "" (unused)."""
    if options.cifar10_dir is not None and options.download_cifar10:
        raise PackageError("--cifar-data and --with-cifar-data both given: choose one")
    if CIFAR10_PART not in parts:
        if options.cifar10_dir is not None or options.download_cifar10:
            flag = "--cifar-data" if options.cifar10_dir is not None else "--with-cifar-data"
            raise PackageError(f"{flag} given, but the cifar10 part is not packaged: add "
                               "--part cifar10 or drop the flag")
        return ""
    if options.cifar10_dir is not None:
        return "bundled"
    if options.download_cifar10:
        return "download"
    others = " ".join(f"--part {n}" for n in parts if n != CIFAR10_PART) or "--part with another part"
    raise PackageError("the cifar10 part needs the CIFAR-10 test set and Gradescope grades without "
                       f"network: pass --cifar-data DIR (DIR holds {BATCHES_DIRNAME}) to put it in "
                       "the zip, --with-cifar-data to download it when the image is built, or "
                       f"leave the part out ({others})")


def _test_batch(folder: Path) -> Path:
    """The test batch under ``folder`` (or ``folder/cifar-10-batches-py``), checked to load."""
    if not Path(folder).is_dir():
        raise PackageError(f"--cifar-data {folder}: no such folder")
    try:
        batches = find_data_dir(folder, "test")
    except CIFAR10DataError:
        raise PackageError(f"--cifar-data {folder}: no {BATCHES_DIRNAME}/test_batch in it "
                           "(torchvision's CIFAR-10 layout)") from None
    try:
        load_cifar10(batches, "test")
    except CIFAR10DataError as exc:
        raise PackageError(f"--cifar-data {folder}: {exc}") from None
    return batches / "test_batch"


def _installed_torch() -> str:
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        raise PackageError("torch is not installed here, so there is no tested version to pin: "
                           "pass --torch-version") from None
    return version.split("+")[0]  # 2.13.0+cpu -> 2.13.0; the index decides the build


def _requirements() -> str:
    """pyproject's dependencies except torch, pinned to what is installed here where it is."""
    dependencies = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = ["# The grader's dependencies, pinned to the versions the package was built and tested with."]
    for requirement in dependencies:
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
        if name.lower() == "torch":
            continue
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(requirement)  # not installed here: keep the project's own range
    return "\n".join(lines) + "\n"


def _project_files(folder: Path) -> list:
    """Regular files under ``folder``, without caches or byte code; symlinks are not followed."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if any(part in SKIPPED_FOLDERS for part in relative) or path.suffix == ".pyc":
            continue
        if path.is_file() and not path.is_symlink():
            files.append(path)
    return files


def prove_gradescope_zip(archive: Path, submission: Path | None = None) -> Proof:
    """Grade the reference with ``archive`` as Gradescope would, offline; full marks or refuse.

    The zip goes into a temporary root laid out like ``/autograder`` (``source/``, ``submission/``
    holding the reference as a student hands it in, ``results/``) and its own ``run_autograder``
    runs there (``AUTOGRADER_ROOT``), with this interpreter standing in for setup.sh's and an
    environment as bare as Gradescope's, so no data or setting leaks in from here. The verdict
    is read from the ``results.json`` it writes, against the points the zip itself declares.
    ``submission``: another folder that must get full marks (e.g. the reference as a notebook).
    """
    root = Path(tempfile.mkdtemp(prefix="gradescope-self-test-"))
    try:
        root.chmod(0o755)  # traversable like /autograder: graded code runs as another user
        unzip_with_modes(archive, root / "source")
        shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
        (root / "results").mkdir()
        if submission:
            shutil.copytree(submission, root / "submission")
        else:
            build_submission("reference", root / "submission")
        parts, total, budget = _declared(root / "source")
        env = {"AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
               "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        started = time.monotonic()
        try:
            done = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True,
                                  text=True, timeout=budget)
        except subprocess.TimeoutExpired:
            raise SelfTestFailed(f"self-test of {archive}: run_autograder ran past {budget:.0f} s") from None
        seconds = time.monotonic() - started
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-SHOWN_OUTPUT_LINES:]
            raise SelfTestFailed(f"self-test of {archive}: run_autograder exited with code "
                                 f"{done.returncode}:\n" + "\n".join(tail))
        try:
            results = json.loads((root / "results" / "results.json").read_text())
        except (OSError, ValueError) as exc:
            raise SelfTestFailed(f"self-test of {archive}: no readable results.json ({exc})") from None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    tests = {f"{index}. {test.get('name', '?')}": (float(test.get("score", 0)), float(test.get("max_score", 0)))
             for index, test in enumerate(results.get("tests", []), start=1)}
    # The grade's own notes when it ran out of time or memory: then the reference fell short
    # because of this machine (busy, small), not of the zip.
    notes = tuple(line for line in str(results.get("output", "")).splitlines()
                  if line.startswith("Note: ") and "ran out of" in line)
    return require_full_marks(f"{archive} ({', '.join(parts)})", tests, total, seconds,
                              reported_score=float(results.get("score", 0)), notes=notes)


def _declared(source: Path) -> tuple:
    """(parts, their total points, a time limit for grading them) as the unpacked zip states them."""
    settings = (source / "package_settings.sh").read_text()
    [line] = [line for line in settings.splitlines() if line.startswith("GRADE_PARTS=")]
    parts = shlex.split(line.partition("=")[2])[0].split()
    declared = load_config(suites_dir=source / "autograder" / "suites").parts  # the zip's part.toml files
    total = sum(declared[name].points for name in parts)
    # Each part's timeout bounds the student's calls; the reference's own timed runs and the
    # start-up of every sandbox come on top, so allow twice that.
    config = load_config()
    budget = 2 * sum(config.parts[name].timeout for name in parts) + 60
    return parts, total, budget
