"""``grade package gradescope``: the autograder.zip Gradescope runs, one container per submission.

Gradescope unpacks the zip into /autograder/source, runs ``setup.sh`` there once when it builds
the image, then for every submission copies ``run_autograder`` to /autograder and runs it
(https://gradescope-autograders.readthedocs.io/en/latest/specs/). The zip holds:

* ``setup.sh`` and ``run_autograder``, from ``templates/``: the same for every build;
* ``package_settings.sh``: what this build chose (parts, torch build, CIFAR-10), read by both;
* ``requirements.txt``: the grader's dependencies pinned to the versions installed here, which
  are the versions it was tested with (torch is installed apart, from the index the build chose);
* the project: ``pyproject.toml``, ``cli.py``, ``README.md``, ``autograder/`` (with the hidden
  suites and ``grading.toml``), ``reference/`` (with ``cifar10.pt`` when it exists) and
  ``assignments/`` (the stubs: the grader reads them to name the functions a missing file lacks).
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import re
import shlex
import tomllib
import zipfile
from pathlib import Path

from autograder.config import load_config
from autograder.run import PROJECT_ROOT, SUITES_DIR

TEMPLATES = Path(__file__).with_name("templates")
SCRIPTS = ("setup.sh", "run_autograder")
PROJECT_FILES = ("pyproject.toml", "cli.py", "README.md")
PROJECT_FOLDERS = ("autograder", "reference", "assignments")
SKIPPED_FOLDERS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
# A fixed timestamp makes two builds of the same tree byte-identical, so they can be compared.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


class PackageError(Exception):
    """The package cannot be built as asked; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class GradescopeOptions:
    parts: tuple = ()  # empty: every part of the configuration
    cuda_torch: bool = False  # PyPI's Linux torch wheels are the CUDA build
    cifar_data: bool = False  # setup.sh downloads CIFAR-10 (Gradescope's image build has internet)
    torch_version: str | None = None  # None: the version installed here


def build_gradescope_zip(output: Path, options: GradescopeOptions = GradescopeOptions()) -> list:
    """Write the zip to ``output`` and return the names of its members."""
    members: dict[str, tuple[bytes, int]] = {}  # name -> (content, file mode)
    for name in SCRIPTS:
        members[name] = ((TEMPLATES / name).read_bytes(), 0o755)
    members["package_settings.sh"] = (_settings(options).encode(), 0o644)
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


def _settings(options: GradescopeOptions) -> str:
    parts = _check_parts(options.parts)
    values = {
        "GRADE_PARTS": " ".join(parts),
        "TORCH_REQUIREMENT": f"torch=={options.torch_version or _installed_torch()}",
        "TORCH_INDEX_URL": "" if options.cuda_torch else CPU_TORCH_INDEX,
        "FETCH_CIFAR10": "1" if options.cifar_data else "0",
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
