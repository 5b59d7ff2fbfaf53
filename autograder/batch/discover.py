"""What a class folder holds: one submission per folder, .zip or .ipynb, and whose each one is.

Two layouts are understood:

* a plain folder of submissions: ``alice/``, ``bob.zip``, ``carol.ipynb``, ... (the name is the
  student's);
* a Gradescope "Export Submissions" archive, unzipped: ``submission_<id>/`` folders next to a
  ``submission_metadata.yml`` that maps each folder to its submitters (several for a group)::

      submission_123:
        :submitters:
        - :name: Ada Lovelace
          :sid: '1815'
          :email: ada@example.edu

  The export may sit one level down, in its ``assignment_<id>_export/`` folder.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

METADATA = "submission_metadata.yml"


class ClassFolderError(Exception):
    """The class folder cannot be read as a set of submissions; the message says why."""


@dataclasses.dataclass(frozen=True)
class Student:
    name: str
    sid: str = ""
    email: str = ""


@dataclasses.dataclass(frozen=True)
class Submission:
    label: str  # the folder's or file's name in the class folder: unique, used for file names
    path: Path
    students: tuple  # of Student: one, or the members of a group submission


@dataclasses.dataclass
class Roster:
    submissions: list
    ignored: list  # "name: why", for entries that are not submissions


def discover(class_dir: Path) -> Roster:
    class_dir = _export_root(Path(class_dir))
    metadata = class_dir / METADATA
    owners = read_gradescope_metadata(metadata) if metadata.is_file() else {}
    submissions, ignored = [], []
    for entry in sorted(class_dir.iterdir()):
        if entry.name == METADATA or entry.name.startswith("."):
            continue
        if entry.is_dir() or (entry.is_file() and entry.suffix.lower() in (".zip", ".ipynb")):
            default = Student(entry.stem if entry.is_file() else entry.name)
            submissions.append(Submission(entry.name, entry, owners.get(entry.name) or (default,)))
        else:
            ignored.append(f"{entry.name}: neither a folder, a .zip nor a notebook")
    missing = sorted(set(owners) - {s.label for s in submissions})
    ignored += [f"{name}: listed in {METADATA} but not in the folder" for name in missing]
    return Roster(submissions, ignored)


def _export_root(class_dir: Path) -> Path:
    if not class_dir.is_dir():
        raise ClassFolderError(f"{class_dir} is not a folder (unzip a Gradescope export first)")
    if (class_dir / METADATA).is_file():
        return class_dir
    inner = [p for p in class_dir.iterdir() if p.is_dir() and (p / METADATA).is_file()]
    return inner[0] if len(inner) == 1 else class_dir


def read_gradescope_metadata(path: Path) -> dict:
    """folder name -> tuple of Student, from Gradescope's submission_metadata.yml."""
    try:
        import yaml
    except ImportError:
        raise ClassFolderError(f"reading {path.name} needs PyYAML: pip install pyyaml") from None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        raise ClassFolderError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ClassFolderError(f"{path} should map submission folders to their submitters")
    owners = {}
    for folder, entry in data.items():
        submitters = _field(entry, "submitters") if isinstance(entry, dict) else None
        if not isinstance(submitters, list) or not all(isinstance(s, dict) for s in submitters):
            raise ClassFolderError(f"{path}: {folder} has no list of :submitters:")
        owners[str(folder)] = tuple(Student(str(_field(s, "name") or folder), str(_field(s, "sid") or ""),
                                            str(_field(s, "email") or "")) for s in submitters)
    return owners


def _field(mapping: dict, key: str):
    """Gradescope writes Ruby-symbol keys (``:name``); accept plain ones too."""
    return mapping.get(f":{key}", mapping.get(key))
