"""The registry of parts: a part is whatever folder of ``autograder/suites/`` holds a ``part.toml``.

Adding a part is adding its folder (declaration, suite, conftest) with its stub in ``assignments/``
and its solution in ``reference/``; removing the folder removes the part everywhere, since every
command, builder and test asks this module which parts there are.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

SUITES_DIR = Path(__file__).resolve().with_name("suites")
DECLARATION = "part.toml"


def declaration_files(suites_dir: Path = SUITES_DIR) -> dict:
    """part name -> its ``part.toml``, in the order the declarations' ``order`` keys give
    (then by name), which is the order of the report and of the handout."""
    files = {path.parent.name: path for path in sorted(suites_dir.glob(f"*/{DECLARATION}"))}
    return dict(sorted(files.items(), key=lambda item: (_order(item[1]), item[0])))


def part_names(suites_dir: Path = SUITES_DIR) -> tuple:
    """The names of the declared parts, in order."""
    return tuple(declaration_files(suites_dir))


def _order(path: Path) -> float:
    try:
        with open(path, "rb") as handle:
            order = tomllib.load(handle).get("order", 0)
    except (OSError, ValueError):
        return 0  # config.load_config reports the broken file, naming it
    return order if type(order) in (int, float) else 0


def declared_points(name: str, suites_dir: Path = SUITES_DIR) -> float:
    """The points part ``name``'s own declaration gives it (what its tests' markers add up to,
    whatever a course's configuration lays over it)."""
    with open(declaration_files(suites_dir)[name], "rb") as handle:
        return float(tomllib.load(handle).get("points", 0))
