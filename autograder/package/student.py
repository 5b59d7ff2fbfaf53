"""``grade package student``: handout.zip, what students receive.

Inside, under ``cnn_handout/``:

* ``assignments/``: the stubs and the notebook to complete (built from the parts' sections);
* ``autograder/``: what ``python -m autograder.check`` and the notebook's check cells need and
  nothing more: check.py, notebook_check.py, report.py, the engine, ``check.toml`` (each part's
  files and limits), and for each part with
  visible tests its test_visible.py and conftest.py, the modules they import (e.g.
  suites/checks.py) and the suite files they name (e.g. sandbox_helpers.py);
* ``README.md``: how to run the check.

Never inside: reference/, the hidden tests (every suite file other than test_visible.py and what
it needs), grading.toml and config.py (points, CIFAR-10 accuracy tiers) and the timing
thresholds. Building fails, naming the file, when a shipped file imports one of these.
"""
from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import autograder
from autograder.check import SETTINGS_FILE, VISIBLE_TESTS, settings_from_config
from autograder.config import GradingConfig
from autograder.package import PackageError
from autograder.package.handout_notebook import NOTEBOOK, build_handout_notebook

ROOT = Path(autograder.__file__).resolve().parent.parent
HANDOUT_DIR = ROOT / "assignments"
TOP = "cnn_handout"
CORE = ("autograder/__init__.py", "autograder/check.py", "autograder/notebook_check.py",
        "autograder/report.py", "autograder/suites/__init__.py", "autograder/suites/pytest.ini")
NEVER = {
    "autograder/config.py": "holds the CIFAR-10 accuracy tiers",
    "autograder/grading.toml": "holds the points and the CIFAR-10 accuracy tiers",
    "autograder/thresholds.py": "reads the timing thresholds",
    "autograder/thresholds.toml": "holds the timing thresholds",
    "autograder/run.py": "reads the thresholds and the reference",
}
# check.py reads the configuration only when check.toml is absent: in the repository, never in
# the handout, which ships check.toml (test_student_handout.py runs the check from the handout).
REPOSITORY_ONLY_IMPORTS = {("autograder/check.py", "autograder.config")}
ZIP_DATE = (2024, 1, 1, 0, 0, 0)  # fixed, so that the same sources give the same zip

README = """\
# CNN assignment: handout

Complete the functions in `assignments/` ({stubs}), guided by the notebook in the same
folder. Hand in {handed_in}.

## Checking your work

From this folder (the one holding this README), on Linux or WSL with Python 3.11 or newer:

```bash
pip install numpy torch pytest click rich   # once; skip what you have
python -m autograder.check                  # every part, on the files in assignments/
python -m autograder.check --part {example}    # one part
python -m autograder.check path/to/folder   # your files elsewhere (a folder or a .zip)
```

Nothing is downloaded or installed by the check, and it runs offline. It runs the *visible*
tests, the same ones you see on the grading platform, with the same report: every failed check
says what was tried and what went wrong, with a hint. Your code runs in a separate, restricted
process, as in grading. The exit status is 0 when every visible test passes, 1 when some fail,
and 2 when the checker itself has a problem.

Scores in this report are the visible tests' weights, not points. Your grade comes from the
hidden tests, which check many more cases (and, for some files, speed): passing every
visible test is necessary, not sufficient.
"""


def build_student_handout(output: Path, config: GradingConfig) -> list:
    """Write the handout zip to ``output``; returns the names inside it."""
    settings = settings_from_config(config)
    files = {name: (ROOT / name).read_bytes() for name in _runtime_files(settings["parts"])}
    files.update(_handout_files(config))
    files[str(SETTINGS_FILE.relative_to(ROOT))] = _toml(settings).encode()
    files["README.md"] = _readme(config).encode()
    output.parent.mkdir(parents=True, exist_ok=True)
    names = [f"{TOP}/{name}" for name in sorted(files)]
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(zipfile.ZipInfo(f"{TOP}/{name}", ZIP_DATE), files[name])
    return names


def _readme(config: GradingConfig) -> str:
    """README, naming the files of the parts the course grades."""
    files = [f for part in config.parts.values() for f in part.files]
    stubs = [f"`{f}`" for f in files if f.endswith(".py")]
    others = [f"`{f}`" for f in files if not f.endswith(".py")]
    handed_in = "the `.py` files" + (f" and {', '.join(others)}, which your code writes" if others else "")
    return README.format(stubs=", ".join(stubs), handed_in=handed_in, example=next(iter(config.parts), "NAME"))


def _handout_files(config: GradingConfig) -> dict:
    """The stubs, and the notebook built from the parts' sections (``handout_notebook``)."""
    stubs = sorted(p for p in HANDOUT_DIR.glob("*.py") if p.name != "__init__.py")
    if not stubs:
        raise PackageError(f"{HANDOUT_DIR} must hold the stubs (*.py)")
    for stub in stubs:
        for module, _ in _imports(stub, f"assignments/{stub.name}"):
            if module.split(".")[0] in ("reference", "autograder"):
                raise PackageError(f"assignments/{stub.name} imports {module}")
    files = {f"assignments/{p.name}": p.read_bytes() for p in stubs}
    files[f"assignments/{NOTEBOOK.name}"] = build_handout_notebook(config).encode()
    return files


def _runtime_files(parts: dict) -> list:
    """CORE, the engine, each part's visible tests, and everything they import or name."""
    start = set(CORE) | {str(p.relative_to(ROOT)) for p in (ROOT / "autograder" / "engine").rglob("*.py")}
    for part in parts:
        suite = ROOT / "autograder" / "suites" / part
        for name in (VISIBLE_TESTS, "conftest.py"):
            if (suite / name).is_file():
                start.add(f"autograder/suites/{part}/{name}")
    shipped, pending = set(), sorted(start)
    while pending:
        name = pending.pop()
        if name in shipped:
            continue
        _refuse_secret(name, "is needed by the visible tests")
        shipped.add(name)
        if name.endswith(".py"):
            pending += _needed_by(name)
    return sorted(shipped)


def _refuse_secret(name: str, why: str) -> None:
    parts = Path(name).parts
    if name in NEVER:
        raise PackageError(f"{name} {why}, but it must not reach students: it {NEVER[name]}")
    if parts[0] == "reference":
        raise PackageError(f"{name} {why}, but reference/ must not reach students")
    if parts[:2] == ("autograder", "suites") and len(parts) == 4 and parts[3].startswith("test_") \
            and parts[3] != VISIBLE_TESTS:
        raise PackageError(f"{name} {why}, but it is a hidden test file")


def _needed_by(name: str) -> list:
    """Files of ours that the Python file ``name`` imports, or names as a sibling file."""
    path = ROOT / name
    needed = []
    for module, optional in _imports(path, name):
        top = module.split(".")[0]
        if top in ("reference", "assignments"):
            raise PackageError(f"{name} imports {module}: the handout's checker must not")
        if top != "autograder" or (name, module) in REPOSITORY_ONLY_IMPORTS:
            continue
        found = _module_file(module)
        if found is None and not optional:
            raise PackageError(f"{name} imports {module}, which is not a module of this project")
        if found is not None:
            _refuse_secret(found, f"is imported by {name}")
            needed.append(found)
    siblings = {p.name for p in path.parent.iterdir() if p.is_file()}
    for node in ast.walk(ast.parse(path.read_text())):  # e.g. Path(__file__).with_name("x.py")
        if isinstance(node, ast.Constant) and node.value in siblings and node.value != path.name:
            needed.append(str((path.parent / node.value).relative_to(ROOT)))
    return needed


def _imports(path: Path, name: str):
    """(module, optional) for every import in the file, relative ones resolved; ``optional``
    marks ``pkg.attr`` of ``from pkg import attr``, which may be a submodule or just a name."""
    package = ".".join(Path(name).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((alias.name, False) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module, False
            yield from ((f"{module}.{alias.name}", True) for alias in node.names)


def _module_file(module: str) -> str | None:
    relative = Path(*module.split("."))
    for candidate in (relative.with_suffix(".py"), relative / "__init__.py"):
        if (ROOT / candidate).is_file():
            return str(candidate)
    return None


def _toml(settings: dict) -> str:
    """check.toml: the settings' tables of strings, numbers and lists of strings."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(item) for item in v) + "]"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(v)

    lines = ["# The parts' files and limits for `python -m autograder.check` (from grading.toml)."]
    for name, keys in settings["parts"].items():
        lines += ["", f"[parts.{name}]"] + [f"{k} = {value(v)}" for k, v in keys.items()]
    lines += ["", "[limits]"] + [f"{k} = {value(v)}" for k, v in settings["limits"].items()]
    return "\n".join(lines) + "\n"
