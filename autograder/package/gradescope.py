"""``grade package gradescope``: the autograder.zip Gradescope runs, one container per submission.

Gradescope unpacks the zip into /autograder/source, runs ``setup.sh`` there once when it builds
the image, then for every submission copies ``run_autograder`` to /autograder and runs it
(https://gradescope-autograders.readthedocs.io/en/latest/specs/). The zip holds:

* ``setup.sh`` and ``run_autograder``, from ``templates/``: the same for every build;
* ``package_settings.sh``: what this build chose (parts, torch build, data), read by both;
* ``thresholds.toml`` with ``--thresholds``: speed tiers calibrated for the grading machine
  (``grade calibrate``), passed to the grader with ``--thresholds``;
* ``data/`` with ``--data-dir``: the files a part's ``[data]`` declaration says grading reads
  (for the cifar10 part, ``cifar-10-batches-py/test_batch``), so that the part is graded without
  any network (``--download-data`` instead has setup.sh download the declared archive when the
  image is built). A package with a part that reads data and neither is refused: in it the
  reference would lose that part's points;
* ``requirements.txt``: the grader's dependencies pinned to the versions installed here, which
  are the versions it was tested with (torch is installed apart, from the index the build chose);
* the project: ``pyproject.toml``, ``cli.py``, ``README.md``, ``autograder/`` (with the hidden
  suites and ``grading.toml``), ``reference/`` (with the weights files it holds) and
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
from pathlib import Path, PurePosixPath

from autograder.config import PartConfig, load_config
from autograder.data import find_data
from autograder.package import PackageError
from autograder.examples import build_submission
from autograder.package.selftest import (SHOWN_OUTPUT_LINES, Proof, SelfTestFailed, require_full_marks,
                                         unzip_with_modes)
from autograder.run import PROJECT_ROOT, SUITES_DIR
from autograder.thresholds import load_thresholds

TEMPLATES = Path(__file__).with_name("templates")
SCRIPTS = ("setup.sh", "run_autograder")
PROJECT_FILES = ("pyproject.toml", "cli.py", "README.md")
PROJECT_FOLDERS = ("autograder", "reference", "assignments")
SKIPPED_FOLDERS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
BUNDLED_DATA = "data"  # run_autograder: --data-dir source/data
BUNDLED_THRESHOLDS = "thresholds.toml"  # run_autograder: --thresholds source/thresholds.toml
# A fixed timestamp makes two builds of the same tree byte-identical, so they can be compared.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@dataclasses.dataclass(frozen=True)
class GradescopeOptions:
    parts: tuple = ()  # empty: every part of the configuration
    cuda_torch: bool = False  # PyPI's Linux torch wheels are the CUDA build
    data_dir: Path | None = None  # the parts' data here: the files they read go into the zip
    download_data: bool = False  # setup.sh downloads it (the image build has internet)
    torch_version: str | None = None  # None: the version installed here
    thresholds: Path | None = None  # a thresholds file laid over autograder/thresholds.toml


def build_gradescope_zip(output: Path, options: GradescopeOptions = GradescopeOptions()) -> list:
    """Write the zip to ``output`` and return the names of its members."""
    members: dict[str, tuple[bytes, int]] = {}  # name -> (content, file mode)
    for name in SCRIPTS:
        members[name] = ((TEMPLATES / name).read_bytes(), 0o755)
    parts = _check_parts(options.parts)
    data, bundled = _data(parts, options)
    members.update({name: (path.read_bytes(), 0o644) for name, path in bundled.items()})
    if options.thresholds is not None:
        load_thresholds(options.thresholds)  # refuse a bad file now, not at every submission
        members[BUNDLED_THRESHOLDS] = (Path(options.thresholds).read_bytes(), 0o644)
    members["package_settings.sh"] = (_settings(parts, data, options).encode(), 0o644)
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


def _settings(parts: list, data: str, options: GradescopeOptions) -> str:
    downloads = [(p.data.download_url, p.data.download_md5) for p in parts if p.data] if data == "download" else []
    values = {
        "GRADE_PARTS": " ".join(p.name for p in parts),
        "TORCH_REQUIREMENT": f"torch=={options.torch_version or _installed_torch()}",
        "TORCH_INDEX_URL": "" if options.cuda_torch else CPU_TORCH_INDEX,
        "GRADE_DATA": data,
        "DATA_DOWNLOADS": " ".join(f"{url} {md5}" for url, md5 in downloads),
        "GRADE_THRESHOLDS": BUNDLED_THRESHOLDS if options.thresholds is not None else "",
    }
    lines = ["# Written by `grade package gradescope`; read by setup.sh and run_autograder."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _check_parts(names: tuple) -> list:
    """The parts to grade, each with a suite; a part whose suite is not written yet is refused."""
    config = load_config()
    selected = config.select(names)
    without_suite = [p.name for p in selected if not any((SUITES_DIR / p.name).glob("test_*.py"))]
    if without_suite:
        ready = [n for n in config.parts if any((SUITES_DIR / n).glob("test_*.py"))]
        raise PackageError(f"no hidden suite for part(s) {without_suite} (no test_*.py in "
                           f"{SUITES_DIR}/<part>/); package the parts that have one with "
                           f"--part, e.g. {' '.join(f'--part {n}' for n in ready) or '(none yet)'}")
    return selected


def _data(parts: list, options: GradescopeOptions) -> tuple:
    """Where the zip's grading finds the parts' data ("bundled", "download" by setup.sh, or ""
    when no part reads any), and zip name -> file for what is bundled."""
    if options.data_dir is not None and options.download_data:
        raise PackageError("--data-dir and --download-data both given: choose one")
    readers = [p for p in parts if p.data]
    if not readers:
        if options.data_dir is not None or options.download_data:
            flag = "--data-dir" if options.data_dir is not None else "--download-data"
            raise PackageError(f"{flag} given, but no part packaged reads data: add the part that "
                               "does with --part, or drop the flag")
        return "", {}
    if options.data_dir is not None:
        return "bundled", {name: path for part in readers for name, path in _bundled(part, options.data_dir).items()}
    without_url = [p.name for p in readers if not p.data.download_url]
    if options.download_data and without_url:
        raise PackageError(f"--download-data: the {', '.join(without_url)} part declares no download_url "
                           "in its part.toml; put its data in the zip with --data-dir DIR instead")
    if options.download_data:
        return "download", {}
    needs = "; ".join(f"the {p.name} part needs {p.data.what}" for p in readers)
    download = "" if without_url else ", --download-data to download it when the image is built"
    others = " ".join(f"--part {p.name}" for p in parts if not p.data) or "--part with another part"
    raise PackageError(f"{needs} and Gradescope grades without network: pass --data-dir DIR to put it "
                       f"in the zip{download}, or leave the part out ({others})")


def _bundled(part: PartConfig, folder: Path) -> dict:
    """zip name -> file of the files ``part`` reads, found (and checked) in ``folder`` as grading
    finds them; placed so that grading finds them again in the zip's data folder."""
    found, given = find_data(part, str(folder)).resolve(), Path(folder).resolve()
    if not found.is_relative_to(given):
        raise PackageError(f"--data-dir {folder}: the {part.name} part's data was found outside it, in {found}")
    where = PurePosixPath(BUNDLED_DATA, found.relative_to(given).as_posix())
    return {str(where / name): found / name for name in part.data.files}


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
