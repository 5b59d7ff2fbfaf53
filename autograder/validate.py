"""``grade validate``: the configuration and the suites agree, and the points add up."""
from __future__ import annotations

from pathlib import Path

from autograder.config import ConfigError, load_config
from autograder.parts import declared_points
from autograder.run import SUITES_DIR, collect_suite


def validate_suites(config_path: Path | None = None) -> str:
    """Collect every suite without running it; return a printable table of points.

    Raises ``ConfigError`` naming the problems when a part has no tests, when a test has no
    points marker or points that are not whole or half points, when a part's tests do not add
    up to the points its declaration gives it, or when a test worth points is ``hidden``
    (Gradescope then hides the student's total; use after_due_date).
    """
    config = load_config(config_path)
    lines, problems = [], []
    for part in config.parts.values():
        records = collect_suite(part.name)
        if not records:
            problems.append(f"part {part.name}: no tests in {SUITES_DIR / part.name}")
        suite_points = sum(r.points or 0.0 for r in records)
        declared = declared_points(part.name)
        if suite_points != declared:
            problems.append(f"part {part.name}: its tests' points add up to {suite_points:g}, "
                            f"its part.toml declares {declared:g}")
        lines.append(f"{part.name}: {part.points:g} points, {len(records)} tests, "
                     f"time budget {part.timeout:g} s")
        for record in records:
            points = part.points * (record.points or 0.0) / suite_points if suite_points else 0.0
            visibility = record.visibility or part.visibility
            lines.append(f"  {points:6.2f}  {visibility:<15} {record.name}")
            if visibility == "hidden" and points > 0:
                problems.append(f"{part.name}: '{record.name}' is hidden but worth points")
            if record.points is None:
                problems.append(f"{part.name}: '{record.name}' has no points marker "
                                "(@pytest.mark.points(n))")
            elif record.points <= 0 or (2 * record.points) % 1:
                problems.append(f"{part.name}: '{record.name}' is worth {record.points:g} points; "
                                "a test is worth whole or half points, at least 0.5")
        if not any((r.visibility or part.visibility) == "visible" for r in records):
            lines.append(f"  (note: part {part.name} has no visible tests for students to run)")
    lines.append(f"Total: {config.total_points:g} points")
    if problems:
        raise ConfigError("; ".join(problems))
    return "\n".join(lines)
