"""``grade validate``: the configuration and the suites agree, and the points add up."""
from __future__ import annotations

from pathlib import Path

from autograder.config import ConfigError, load_config
from autograder.run import SUITES_DIR, collect_suite


def validate_suites(config_path: Path | None = None) -> str:
    """Collect every suite without running it; return a printable table of points.

    Raises ``ConfigError`` naming the problems when a part has no suite or no tests, or when a
    test worth points is ``hidden`` (Gradescope then hides the student's total; use after_due_date).
    """
    config = load_config(config_path)
    lines, problems = [], []
    for part in config.parts.values():
        if not (SUITES_DIR / part.name).is_dir():
            problems.append(f"part {part.name}: no suite folder {SUITES_DIR / part.name}")
            continue
        records = collect_suite(part.name)
        if not records:
            problems.append(f"part {part.name}: no tests in {SUITES_DIR / part.name}")
        total_weight = sum(r.weight for r in records)
        lines.append(f"{part.name}: {part.points:g} points, {len(records)} tests, "
                     f"time budget {part.timeout:g} s")
        for record in records:
            points = part.points * record.weight / total_weight
            visibility = record.visibility or part.visibility
            lines.append(f"  {points:6.2f}  {visibility:<15} {record.name}")
            if visibility == "hidden" and points > 0:
                problems.append(f"{part.name}: '{record.name}' is hidden but worth points")
            if record.weight <= 0:
                problems.append(f"{part.name}: '{record.name}' has a non-positive weight")
        if not any((r.visibility or part.visibility) == "visible" for r in records):
            lines.append(f"  (note: part {part.name} has no visible tests for students to run)")
    lines.append(f"Total: {config.total_points:g} points")
    if problems:
        raise ConfigError("; ".join(problems))
    return "\n".join(lines)
