"""Data a part reads besides the submission (a test set), as its ``part.toml``'s ``[data]``
table declares it: found and checked before any grading starts, hidden from student code, and
carried by the Gradescope zip. This module knows no data set: the declaration names the
function that finds and checks the part's data, and the files grading reads there.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class DataDeclaration:
    what: str  # how messages name it: "the CIFAR-10 test set"
    # "module:function", called with the folder given (or None) before any grading starts; returns
    # the folder that holds ``files``, checked to load, or raises ValueError or OSError in one line
    # naming what is missing. Given no folder it looks in $environment, then ./data.
    find: str
    files: tuple  # what grading reads in that folder: exactly these go into the Gradescope zip
    environment: str = ""  # the variable ``find`` reads when no folder is given
    download_url: str = ""  # a .tar.gz that unpacks into a folder ``find`` accepts (setup.sh)
    download_md5: str = ""


KEYS = {field.name: field for field in dataclasses.fields(DataDeclaration)}


class DataError(ValueError):
    """A part's data cannot be found or read: one line naming what was given and what is missing."""


def find_data(part, given: str | None) -> Path:
    """The folder ``part`` (a ``config.PartConfig`` declaring data) reads its data from: ``given``
    (``--data-dir``), else the course's ``parts.<name>.data_dir``, else where its ``find`` looks."""
    explicit = given or part.data_dir or None
    try:
        return Path(locate(part.data.find)(explicit))
    except (ValueError, OSError) as exc:
        source = (f"--data-dir {given}: " if given else
                  f"parts.{part.name}.data_dir = {explicit!r}: " if explicit else "")
        raise DataError(f"{source}{exc} Or grade without the {part.name} part (--part).") from None


def locate(name: str):
    """The function a ``module:function`` name in a declaration stands for."""
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def data_folders(parts, given: str | None) -> list:
    """Every existing folder the parts' data may be read from, for the sandbox to hide."""
    candidates = [given, "data"] + [p.data_dir for p in parts if p.data]
    candidates += [os.environ.get(p.data.environment) for p in parts if p.data and p.data.environment]
    return [Path(d).resolve() for d in candidates if d and Path(d).exists()]
