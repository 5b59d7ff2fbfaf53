"""Every grading setting, declared once with its type, default and description.

What a part is (its files, contract, imports, limits and own settings) its
``autograder/suites/<part>/part.toml`` declares; ``autograder/grading.toml`` (shipped, which
instructors edit) and then a TOML file of the same shape passed with ``--config`` override points,
visibility, limits, ``enabled`` and the part's settings. This module knows no part by name.
"""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from autograder.data import KEYS as DATA_KEYS, DataDeclaration
from autograder.parts import SUITES_DIR, declaration_files

DEFAULT_CONFIG = Path(__file__).with_name("grading.toml")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class ConfigError(ValueError):
    """The grading configuration is invalid; the message names the file, the key and the value."""


def _key(default, description: str, check: tuple | None = None):
    """A configuration key; ``check`` is (predicate, what a valid value is), e.g. ``AT_LEAST_0``."""
    return dataclasses.field(default=default, metadata={"description": description, "check": check})


def _at_least(bound: float) -> tuple:
    return (lambda value: value >= bound, f">= {bound}")


POSITIVE = (lambda value: value > 0, "> 0")
FRACTIONS = (lambda value: all(type(v) in (int, float) and 0 < v <= 1 for v in value),
             "a list of fractions in (0, 1]")


def _declared(default, description: str, check: tuple | None = None):
    """A key only the part's own ``part.toml`` may set (what the part is, not how a course grades it)."""
    return dataclasses.field(default=default, metadata={"description": description, "check": check,
                                                        "declared_only": True})


@dataclasses.dataclass(frozen=True)
class PartConfig:
    name: str = _declared("", "Part name: the folder autograder/suites/<name>/ holding part.toml.")
    title: str = _declared("", "What students write in this part, in a few words (the handout notebook's "
                           "table of parts).")
    order: int = _declared(0, "Place of the part in reports and the handout (smallest first).")
    files: tuple = _declared((), "Files of the submission this part grades (for messages and the handout).")
    contract: tuple = _declared((), "(module, its public functions) pairs, from a table module -> "
                              "the functions its stub and its reference define.")
    data: object = _declared(None, "What the part's suite reads besides the submission (a [data] table: "
                             "autograder/data.py, DataDeclaration); None: nothing.")
    forbid_imports: tuple = _declared((), "Top-level packages student code may not import in this part.")
    notebook_questions: tuple = _declared((), "Functions of the contract asked as otter/nbgrader notebook "
                                          "questions, in this order (autograder/package/notebook_parts.py).")
    settings: object = _declared(None, "Settings of this part only (declared in its part.toml).")
    enabled: bool = _key(True, "Whether the course grades this part at all.")
    points: float = _key(0.0, "Points for the whole part; its tests' points markers add up to the declared points "
                         "(an override scales them alike).",
                         _at_least(0))
    visibility: str = _key("after_due_date", "Default Gradescope visibility of the part's tests.",
                           (lambda value: value in VISIBILITIES, f"one of {', '.join(VISIBILITIES)}"))
    timeout: float = _key(300.0, "Wall-clock budget in seconds for all student calls of the part.", POSITIVE)
    call_timeout: float = _key(30.0, "Wall-clock limit in seconds for one student call.", POSITIVE)
    memory_mb: int = _key(2048, "Address-space limit of the student process (RLIMIT_AS), MiB.", _at_least(64))
    threads: int = _key(0, "BLAS/OpenMP/torch threads for student code; 0: use limits.threads.", _at_least(0))
    data_dir: str = _key("", "Folder holding the part's data (if it declares any); empty: --data-dir, "
                         "else where its declaration looks (its environment variable, then ./data).")
    shrink_failures: bool = _key(True, "Whether a failing numerical test shows the student a small failing "
                                 "input the grader makes up (new and public; the hidden input stays "
                                 "hidden), with their output and the expected one on it.")


@dataclasses.dataclass(frozen=True)
class LimitsConfig:
    cpu_seconds: int = _key(900, "CPU-time limit of one student process (RLIMIT_CPU), seconds.", POSITIVE)
    file_size_mb: int = _key(64, "Largest file student code may write (RLIMIT_FSIZE), MiB.", POSITIVE)
    max_processes: int = _key(64, "Most processes the student code may have at once.", POSITIVE)
    max_output_kb: int = _key(64, "Student output kept for the report, KiB; the rest is dropped.", _at_least(0))
    max_message_mb: int = _key(512, "Largest reply the student process may send, MiB.", POSITIVE)
    threads: int = _key(1, "BLAS/OpenMP threads for student code (1 keeps timings comparable).", POSITIVE)
    max_submission_mb: int = _key(200, "Largest unpacked submission, MiB.", POSITIVE)
    max_files: int = _key(200, "Most files in a submission.", POSITIVE)
    grade_budget_seconds: float = _key(540.0, "Wall-clock budget in seconds for grading one "
                                       "submission, all parts together (Gradescope stops at 600 s); "
                                       "shared out among the parts, unused time flowing to later ones.",
                                       POSITIVE)


@dataclasses.dataclass(frozen=True)
class GradingConfig:
    parts: dict  # name -> PartConfig of every part the course grades, in the declarations' order
    limits: LimitsConfig

    @property
    def total_points(self) -> float:
        return sum(p.points for p in self.parts.values())

    def select(self, names) -> list:
        """The ``PartConfig``s named (``--part``), every part when none is; ``ConfigError``
        naming any that the course does not grade."""
        unknown = [n for n in names if n not in self.parts]
        if unknown:
            raise ConfigError(f"unknown part(s) {unknown}; the parts are {list(self.parts)}")
        return [self.parts[n] for n in names] or list(self.parts.values())


SECTIONS = ("parts", "limits")
CHECKS = {"positive": POSITIVE, "at_least_0": _at_least(0), "fractions": FRACTIONS,
          "between_0_and_1": (lambda value: 0 <= value <= 1, "between 0 and 1")}


def load_config(path: Path | None = None, suites_dir: Path = SUITES_DIR) -> GradingConfig:
    """Every part as its ``part.toml`` declares it, with the shipped ``grading.toml`` and then
    ``path`` (if given) laid over the declarations; parts with ``enabled = false`` left out.

    Raises ``ConfigError`` with a one-line message naming the file a bad key or value came from.
    """
    files = declaration_files(suites_dir)
    declared = {name: dict(_read(file)) for name, file in files.items()}
    setting_types = {name: _settings_type(name, data.pop("settings", {}), files[name])
                     for name, data in declared.items()}
    data_needs = {name: _data_declaration(data.pop("data", None), files[name]) for name, data in declared.items()}
    # part name -> key -> (value, the file that set it, how that file spells the key's table)
    parts = {name: _entries(data, files[name], "") for name, data in declared.items()}
    settings: dict = {name: {} for name in declared}
    limits: dict = {}
    for file in [DEFAULT_CONFIG] + ([Path(path)] if path is not None else []):
        data = _read(file)
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{file}: [{unknown[0]}] is not a section; the sections are "
                              f"{', '.join(SECTIONS)}")
        for name in _table(data, "parts", file):
            if name not in declared:
                raise ConfigError(f"{file}: parts.{name} is not a part (got [parts.{name}]); the parts "
                                  f"are {', '.join(declared)}, each declared by {suites_dir}/<name>/part.toml")
            values = dict(_table(data["parts"], name, file, where=f"parts.{name}"))
            overrides = _table(values, "settings", file, where=f"parts.{name}.settings")
            values.pop("settings", None)
            settings[name].update(_entries(overrides, file, f"parts.{name}.settings."))
            parts[name].update(_entries(values, file, f"parts.{name}."))
        limits.update(_entries(_table(data, "limits", file), file, "limits."))
    built = {name: _build(PartConfig, values, name=name, data=data_needs[name],
                          settings=_build(setting_types[name], settings[name]))
             for name, values in parts.items()}
    return GradingConfig(parts={name: part for name, part in built.items() if part.enabled},
                         limits=_build(LimitsConfig, limits))


def _entries(values: dict, file: Path, where: str) -> dict:
    return {key: (value, file, where) for key, value in values.items()}


def _settings_type(part: str, declarations: dict, file: Path) -> type:
    """A frozen dataclass of the part's own settings, from the ``[settings.<key>]`` tables of its
    declaration (``default``, ``description``, optional ``check``), so that a course's overrides
    are checked like any other key."""
    fields = []
    for key, spec in _table({"settings": declarations}, "settings", file).items():
        spec = _table(declarations, key, file, where=f"settings.{key}")
        default, check = spec.get("default"), spec.get("check")
        if type(default) not in (*KINDS, list) or not isinstance(spec.get("description"), str):
            raise ConfigError(f"{file}: settings.{key} needs a default (a number, string, true/false "
                              f"or list) and a description, got {spec!r}")
        if check is not None and check not in CHECKS:
            raise ConfigError(f"{file}: settings.{key}.check must be one of {', '.join(CHECKS)}, "
                              f"got {check!r}")
        default = tuple(default) if type(default) is list else default
        meta = _key(default, spec["description"], CHECKS.get(check))
        fields.append((key, type(default), meta))
    def reduce(self) -> tuple:  # pickled as its declaration and values: spawned workers get configs
        return _settings_of, (part, str(file), dataclasses.asdict(self))

    return dataclasses.make_dataclass(f"{part}_settings", fields, frozen=True,
                                      namespace={"__reduce__": reduce})


def _data_declaration(table, file: Path) -> DataDeclaration | None:
    """The part's ``[data]`` table, every key of the kind ``DataDeclaration`` gives it."""
    if table is None:
        return None
    table = _table({"data": table}, "data", file)
    required = [key for key, f in DATA_KEYS.items() if f.default is dataclasses.MISSING]
    for key in sorted(set(table) - set(DATA_KEYS)) + [k for k in required if k not in table]:
        raise ConfigError(f"{file}: data.{key} is {'missing' if key in required else 'not a key'}; the keys "
                          f"are {', '.join(DATA_KEYS)} (required: {', '.join(required)})")
    values = {key: tuple(v) if type(v) is list else v for key, v in table.items()}
    for key, value in values.items():
        kind = tuple if key == "files" else str
        if type(value) is not kind or (kind is tuple and not all(type(v) is str for v in value)):
            raise ConfigError(f"{file}: data.{key} must be {'a list of strings' if kind is tuple else 'a string'}, "
                              f"got {table[key]!r}")
    return DataDeclaration(**values)


def _settings_of(part: str, file: str, values: dict) -> object:
    """A part's settings, unpickled: their class made again from the part's declaration."""
    declarations = dict(_read(Path(file)).get("settings", {}))
    return _settings_type(part, declarations, Path(file))(**values)


def _read(file: Path) -> dict:
    try:
        with open(file, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:  # TOMLDecodeError (which names the line) or text that is not UTF-8
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None


def _table(data: dict, key: str, file: Path, where: str | None = None) -> dict:
    value = data.get(key, {})
    if type(value) is not dict:
        raise ConfigError(f"{file}: {where or key} must be a table ([{where or key}]), got {value!r}")
    return value


KINDS = {tuple: "a list", float: "a number", int: "an integer", str: "a string", bool: "true or false"}


def _build(cls, values: dict, **fixed):
    """``cls`` from key -> (value, file, table), each value converted to its key's type and
    checked; ``fixed`` are fields no file may set (a part's name is its folder's). Keys a part
    declares about itself may be set only by its own part.toml (whose table is "")."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in fixed}
    converted = dict(fixed)
    for key, (raw, file, where) in sorted(values.items()):
        settable = [name for name, f in fields.items() if where == "" or not f.metadata.get("declared_only")]
        if key not in settable:
            raise ConfigError(f"{file}: {where}{key} is not a key (got {raw!r}); the keys are "
                              f"{', '.join(settable)} (grade validate --keys)")
        default, check = fields[key].default, fields[key].metadata["check"]
        value = raw
        if isinstance(default, tuple) and type(raw) is list:
            value = tuple(raw)
        elif isinstance(default, float) and type(raw) is int:
            value = float(raw)
        elif isinstance(default, tuple) and type(raw) is dict and all(  # a table of lists of names
                type(v) is list and all(type(n) is str for n in v) for v in raw.values()):
            value = tuple((k, tuple(v)) for k, v in raw.items())
        if type(value) is not type(default):
            raise ConfigError(f"{file}: {where}{key} must be {KINDS[type(default)]}, got {raw!r}")
        if check and not check[0](value):
            raise ConfigError(f"{file}: {where}{key} must be {check[1]}, got {raw!r}")
        converted[key] = value
    return cls(**converted)


def describe_keys() -> list:
    """(section, key, type, default, description) of every key a course's file may set, for
    documentation and ``grade validate --keys`` (what a part is, its part.toml says)."""
    tables = [("parts.<name>", PartConfig), ("limits", LimitsConfig)]
    tables += [(f"parts.{name}.settings", type(part.settings)) for name, part in load_config().parts.items()]
    rows = []
    for section, cls in tables:
        for f in dataclasses.fields(cls):
            if f.metadata.get("declared_only"):
                continue
            check = f.metadata["check"]
            description = f.metadata["description"] + (f" Must be {check[1]}." if check else "")
            rows.append((section, f.name, type(f.default).__name__, f.default, description))
    return rows
