"""Speed thresholds of the timed tests: every key declared once, with type, default and meaning.

Values come from ``autograder/thresholds.toml`` (shipped defaults, which work without
calibrating), optionally laid over by a file of the same shape, typically the one
``grade calibrate`` writes for a course's grading machine. Sections:

* ``[measurement]``: how long and how carefully to measure; the keys are the fields of
  ``autograder.engine.timing.MeasurementPlan``, which holds their defaults and descriptions.
* ``[tiers]``: per timed item, a list of ``[max_ratio, credit]`` pairs; ``default`` covers the
  items not listed. The ratio is student time / reference time, measured in the same run.
* ``[calibration]``: free-form record of where and how a calibrated file was measured.
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

from autograder.config import ConfigError
from autograder.engine.timing import DEFAULT_TIERS, MeasurementPlan, Tier, TimingPolicy, check_tiers

DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.toml")
TIERS_DESCRIPTION = ("[[max_ratio, credit], ...]: a student time up to max_ratio times the "
                     "reference's earns credit (0..1] of the test's points; slower earns none.")
SECTIONS = {
    "measurement": "How long and how carefully to measure (one comparison).",
    "tiers": "Credit tiers per timed item; `default` for items not listed.",
    "calibration": "Written by `grade calibrate`: where and how this file was measured. "
                   "Informational; the grader does not read it.",
}


@dataclasses.dataclass(frozen=True)
class Thresholds:
    policy: TimingPolicy
    calibration: dict


def load_thresholds(path: Path | None = None) -> Thresholds:
    """Shipped defaults, with the keys of ``path`` (if given) laid over them.

    Raises ``ConfigError`` in one line that starts with the file at fault: ``path`` when given
    (the shipped defaults are valid on their own, so only an override can make them invalid).
    """
    file = Path(path) if path is not None else DEFAULT_THRESHOLDS
    data = _read(DEFAULT_THRESHOLDS)
    overrides = [_read(file)] if path is not None else []
    try:
        for layer in [data] + overrides:
            unknown = set(layer) - set(SECTIONS)
            if unknown:
                raise ConfigError(f"unknown section(s) {sorted(unknown)}; known: {list(SECTIONS)}")
        for override in overrides:
            for section in SECTIONS:
                data.setdefault(section, {}).update(override.get(section, {}))
        plan = _plan(data.get("measurement", {}))
        tiers = {item: _tiers(value, f"tiers.{item}") for item, value in data.get("tiers", {}).items()}
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    default = tiers.pop("default", DEFAULT_TIERS)
    return Thresholds(TimingPolicy(plan, default, tiers), dict(data.get("calibration", {})))


def describe_keys() -> list:
    """(section, key, type, default, description) rows, for documentation and ``grade validate``."""
    rows = [("measurement", f.name, type(f.default).__name__, f.default, f.metadata["description"])
            for f in dataclasses.fields(MeasurementPlan)]
    rows.append(("tiers", "default / <item>", "list", [[t.max_ratio, t.credit] for t in DEFAULT_TIERS],
                 TIERS_DESCRIPTION))
    rows.append(("calibration", "<any>", "table", {}, SECTIONS["calibration"]))
    return rows


def dump_thresholds(thresholds: Thresholds, header: str = "") -> str:
    """TOML text that ``load_thresholds`` reads back to the same ``Thresholds``."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += ["", "[measurement]"]
    for f in dataclasses.fields(MeasurementPlan):
        lines.append(f"{f.name} = {_toml_value(getattr(thresholds.policy.plan, f.name))}")
    lines += ["", "[tiers]", f"default = {_toml_tiers(thresholds.policy.default_tiers)}"]
    for item, tiers in sorted(thresholds.policy.item_tiers.items()):
        lines.append(f"{item} = {_toml_tiers(tiers)}")
    if thresholds.calibration:
        lines += ["", "[calibration]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in thresholds.calibration.items()]
    return "\n".join(lines) + "\n"


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:  # ValueError: TOMLDecodeError (naming the line), not UTF-8
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _plan(values: dict) -> MeasurementPlan:
    fields = {f.name: f for f in dataclasses.fields(MeasurementPlan)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"measurement: unknown key(s) {sorted(unknown)}; known: {sorted(fields)}")
    converted = {}
    for key, value in values.items():
        default = fields[key].default
        if isinstance(default, float) and type(value) is int:
            value = float(value)
        if type(value) is not type(default):
            raise ConfigError(f"measurement.{key} must be {type(default).__name__}, got {value!r}")
        converted[key] = value
    try:
        return MeasurementPlan(**converted)
    except ValueError as exc:
        raise ConfigError(f"measurement: {exc}") from None


def _tiers(value, where: str) -> tuple[Tier, ...]:
    if not isinstance(value, list) or not all(
            isinstance(pair, list) and len(pair) == 2
            and all(type(v) in (int, float) and math.isfinite(v) for v in pair) for pair in value):
        raise ConfigError(f"{where} must be a list of [max_ratio, credit] pairs, got {value!r}")
    try:
        return check_tiers([Tier(float(ratio), float(credit)) for ratio, credit in value])
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _toml_tiers(tiers) -> str:
    return "[" + ", ".join(f"[{_toml_value(t.max_ratio)}, {_toml_value(t.credit)}]" for t in tiers) + "]"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(f"{value:.6g}"))  # six significant digits, always TOML-readable
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")
