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


def _key(default, description: str):
    return dataclasses.field(default=default, metadata={"description": description})


@dataclasses.dataclass(frozen=True)
class PartConfig:
    name: str = _key("", "Part name; its suite is autograder/suites/<name>/.")
    files: tuple = _key((), "Files of the submission this part grades (for messages and the handout).")
    points: float = _key(0.0, "Points for the whole part; tests share them by their weight markers.")
    visibility: str = _key("after_due_date", "Default Gradescope visibility of the part's tests.")
    timeout: float = _key(300.0, "Wall-clock budget in seconds for all student calls of the part.")
    call_timeout: float = _key(30.0, "Wall-clock limit in seconds for one student call.")
    memory_mb: int = _key(2048, "Address-space limit of the student process (RLIMIT_AS), MiB.")
    forbid_imports: tuple = _key((), "Top-level packages student code may not import in this part.")
    threads: int = _key(0, "BLAS/OpenMP/torch threads for student code; 0: use limits.threads.")

    def __post_init__(self) -> None:
        if self.visibility not in VISIBILITIES:
            raise ConfigError(f"part {self.name}: visibility must be one of {VISIBILITIES}")
        if self.points < 0 or self.timeout <= 0 or self.call_timeout <= 0 or self.memory_mb < 64:
            raise ConfigError(f"part {self.name}: points must be >= 0, time limits > 0, memory >= 64 MiB")


@dataclasses.dataclass(frozen=True)
class LimitsConfig:
    cpu_seconds: int = _key(900, "CPU-time limit of one student process (RLIMIT_CPU), seconds.")
    file_size_mb: int = _key(64, "Largest file student code may write (RLIMIT_FSIZE), MiB.")
    max_processes: int = _key(64, "Most processes the student code may have at once.")
    max_output_kb: int = _key(64, "Student output kept for the report, KiB; the rest is dropped.")
    max_message_mb: int = _key(512, "Largest reply the student process may send, MiB.")
    threads: int = _key(1, "BLAS/OpenMP threads for student code (1 keeps timings comparable).")
    max_submission_mb: int = _key(200, "Largest unpacked submission, MiB.")
    max_files: int = _key(200, "Most files in a submission.")
    grade_budget_seconds: float = _key(540.0, "Wall-clock budget in seconds for grading one "
                                       "submission, all parts together (Gradescope stops at 600 s); "
                                       "shared out among the parts, unused time flowing to later ones.")


@dataclasses.dataclass(frozen=True)
class Cifar10Config:
    param_budget: int = _key(5_000_000, "Most parameters a student's CIFAR-10 model may have.")
    accuracy_tiers: tuple = _key((0.55, 0.65, 0.75, 0.85),
                                 "Test accuracies that each earn an equal share of the accuracy points.")
    eval_images: int = _key(10_000, "Test images used for the accuracy (the first N of test_batch).")
    batch_size: int = _key(500, "Images per inference call when measuring accuracy.")
    max_weights_mb: int = _key(100, "Largest cifar10.pt accepted, MiB.")
    train_check_seconds: float = _key(120.0, "Time limit for the check that train() lowers the loss.")
    data_dir: str = _key("", "Folder holding cifar-10-batches-py; empty: $GRADE_CIFAR10_DIR or ./data.")


@dataclasses.dataclass(frozen=True)
class GradingConfig:
    parts: dict
    limits: LimitsConfig
    cifar10: Cifar10Config = Cifar10Config()

    @property
    def total_points(self) -> float:
        return sum(p.points for p in self.parts.values())


class ConfigError(ValueError):
    """The grading configuration is invalid; the message names the key."""


def load_config(path: Path | None = None) -> GradingConfig:
    """Shipped defaults, with the keys of ``path`` (if given) laid over them."""
    data = tomllib.loads(DEFAULT_CONFIG.read_text())
    if path is not None:
        override = tomllib.loads(Path(path).read_text())
        for name, values in override.get("parts", {}).items():
            data.setdefault("parts", {}).setdefault(name, {}).update(values)
        for section in ("limits", "cifar10"):
            data.setdefault(section, {}).update(override.get(section, {}))
    unknown = set(data) - {"parts", "limits", "cifar10"}
    if unknown:
        raise ConfigError(f"unknown section(s) {sorted(unknown)}; known: parts, limits, cifar10")
    parts = {name: _build(PartConfig, {"name": name, **values}, f"parts.{name}")
             for name, values in data.get("parts", {}).items()}
    return GradingConfig(parts=parts, limits=_build(LimitsConfig, data.get("limits", {}), "limits"),
                         cifar10=_build(Cifar10Config, data.get("cifar10", {}), "cifar10"))


def _build(cls, values: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(fields)}")
    converted = {}
    for key, value in values.items():
        default = fields[key].default
        if isinstance(default, tuple):
            value = tuple(value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(default):
            raise ConfigError(f"{where}.{key} must be {type(default).__name__}, got {value!r}")
        converted[key] = value
    return cls(**converted)


def describe_keys() -> list:
    """(section, key, type, default, description) for documentation and ``grade validate``."""
    rows = []
    for section, cls in (("parts.<name>", PartConfig), ("limits", LimitsConfig),
                         ("cifar10", Cifar10Config)):
        for f in dataclasses.fields(cls):
            rows.append((section, f.name, type(f.default).__name__, f.default, f.metadata["description"]))
    return rows
