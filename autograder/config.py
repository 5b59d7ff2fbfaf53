"""Every grading setting, declared once with its type, default and description.

Values come from ``autograder/grading.toml`` (shipped defaults, which instructors edit) and can be
overridden by a TOML file of the same shape passed with ``--config``.
"""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

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


@dataclasses.dataclass(frozen=True)
class PartConfig:
    name: str = _key("", "Part name; its suite is autograder/suites/<name>/.")
    files: tuple = _key((), "Files of the submission this part grades (for messages and the handout).")
    points: float = _key(0.0, "Points for the whole part; tests share them by their weight markers.",
                         _at_least(0))
    visibility: str = _key("after_due_date", "Default Gradescope visibility of the part's tests.",
                           (lambda value: value in VISIBILITIES, f"one of {', '.join(VISIBILITIES)}"))
    timeout: float = _key(300.0, "Wall-clock budget in seconds for all student calls of the part.", POSITIVE)
    call_timeout: float = _key(30.0, "Wall-clock limit in seconds for one student call.", POSITIVE)
    memory_mb: int = _key(2048, "Address-space limit of the student process (RLIMIT_AS), MiB.", _at_least(64))
    forbid_imports: tuple = _key((), "Top-level packages student code may not import in this part.")
    threads: int = _key(0, "BLAS/OpenMP/torch threads for student code; 0: use limits.threads.", _at_least(0))


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
class Cifar10Config:
    param_budget: int = _key(5_000_000, "Most parameters a student's CIFAR-10 model may have.", POSITIVE)
    accuracy_tiers: tuple = _key((0.55, 0.65, 0.75, 0.85),
                                 "Test accuracies that each earn an equal share of the accuracy points.",
                                 FRACTIONS)
    eval_images: int = _key(10_000, "Test images used for the accuracy (the first N of test_batch).", POSITIVE)
    batch_size: int = _key(500, "Most images per inference call when measuring accuracy (each "
                                "call's size is drawn at random, down to a quarter of it).", POSITIVE)
    private_fraction: float = _key(0.5, "Share of the test images kept private: the accuracy "
                                        "tiers use them; the leaderboard shows the others' accuracy.",
                                   (lambda value: 0 <= value <= 1, "between 0 and 1"))
    max_weights_mb: int = _key(100, "Largest cifar10.pt accepted, MiB.", POSITIVE)
    train_check_seconds: float = _key(120.0, "Time limit for the check that train() lowers the loss.", POSITIVE)
    data_dir: str = _key("", "Folder holding cifar-10-batches-py; empty: $GRADE_CIFAR10_DIR or ./data.")


@dataclasses.dataclass(frozen=True)
class GradingConfig:
    parts: dict
    limits: LimitsConfig
    cifar10: Cifar10Config = Cifar10Config()

    @property
    def total_points(self) -> float:
        return sum(p.points for p in self.parts.values())


SECTIONS = ("parts", "limits", "cifar10")


def load_config(path: Path | None = None) -> GradingConfig:
    """Shipped defaults, with the keys of ``path`` (if given) laid over them.

    Raises ``ConfigError`` with a one-line message naming the file a bad key or value came from.
    """
    parts: dict = {}  # part name -> key -> (value, the file that set it)
    sections: dict = {"limits": {}, "cifar10": {}}  # likewise, per section
    for file in [DEFAULT_CONFIG] + ([Path(path)] if path is not None else []):
        data = _read(file)
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"{file}: [{unknown[0]}] is not a section; the sections are "
                              f"{', '.join(SECTIONS)}")
        for name in _table(data, "parts", file):
            values = _table(data["parts"], name, file, where=f"parts.{name}")
            parts.setdefault(name, {}).update((key, (value, file)) for key, value in values.items())
        for section, table in sections.items():
            table.update((key, (value, file)) for key, value in _table(data, section, file).items())
    return GradingConfig(
        parts={name: _build(PartConfig, values, f"parts.{name}", name=name)
               for name, values in parts.items()},
        limits=_build(LimitsConfig, sections["limits"], "limits"),
        cifar10=_build(Cifar10Config, sections["cifar10"], "cifar10"))


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


KINDS = {tuple: "a list", float: "a number", int: "an integer", str: "a string"}


def _build(cls, values: dict, where: str, **fixed):
    """``cls`` from key -> (value, file), each value converted to its key's type and checked;
    ``fixed`` are fields no file may set (a part's name is its table's)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in fixed}
    converted = dict(fixed)
    for key, (raw, file) in sorted(values.items()):
        if key not in fields:
            raise ConfigError(f"{file}: {where}.{key} is not a key (got {raw!r}); the keys are "
                              f"{', '.join(fields)} (grade validate --keys)")
        default, check = fields[key].default, fields[key].metadata["check"]
        value = raw
        if isinstance(default, tuple) and type(raw) is list:
            value = tuple(raw)
        elif isinstance(default, float) and type(raw) is int:
            value = float(raw)
        if type(value) is not type(default):
            raise ConfigError(f"{file}: {where}.{key} must be {KINDS[type(default)]}, got {raw!r}")
        if check and not check[0](value):
            raise ConfigError(f"{file}: {where}.{key} must be {check[1]}, got {raw!r}")
        converted[key] = value
    return cls(**converted)


def describe_keys() -> list:
    """(section, key, type, default, description) of every key a file may set, for documentation
    and ``grade validate --keys`` (a part's name is its table's, so it is not one)."""
    rows = []
    for section, cls in (("parts.<name>", PartConfig), ("limits", LimitsConfig),
                         ("cifar10", Cifar10Config)):
        for f in dataclasses.fields(cls):
            if cls is PartConfig and f.name == "name":
                continue
            check = f.metadata["check"]
            description = f.metadata["description"] + (f" Must be {check[1]}." if check else "")
            rows.append((section, f.name, type(f.default).__name__, f.default, description))
    return rows
