"""Results of earlier runs, keyed so that a result is reused only when nothing it depends on changed.

A key is the sha256 of the submission's content together with the grader's fingerprint: the
grading code, the hidden suites, the reference (weights included), the handout stubs, the
effective configuration and the run's settings. Editing a hidden test or a threshold therefore
regrades everyone; renaming a student's folder or rerunning after an interruption regrades
no one. Only clean results are stored: a time-out, a crash or a grader error is retried on the
next run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from autograder.config import load_config
from autograder.engine.results import GradeResult, PartSummary, TestResult, write_json_atomically
from autograder.run import HANDOUT_DIR, PACKAGE_DIR, PROJECT_ROOT

SKIPPED_FOLDERS = {"__pycache__", ".pytest_cache"}
# Presentation code: changing how a batch is run or packaged does not change any score.
NOT_GRADING_CODE = (PACKAGE_DIR / "batch", PACKAGE_DIR / "package")


def content_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's relative paths and file contents (links not followed)."""
    digest = hashlib.sha256()
    path = Path(path)
    if path.is_file():
        _hash_file(digest, path)
        return digest.hexdigest()
    for file in _tree(path, skip=()):
        digest.update(file.relative_to(path).as_posix().encode("utf-8", "surrogateescape") + b"\0")
        _hash_file(digest, file)
    return digest.hexdigest()


def grader_fingerprint(config_path: Path | None, settings: dict) -> str:
    """sha256 of everything a score depends on besides the submission."""
    digest = hashlib.sha256()
    for folder in (PACKAGE_DIR, PROJECT_ROOT / "reference", HANDOUT_DIR):
        for file in _tree(folder, skip=NOT_GRADING_CODE):
            digest.update(file.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0")
            _hash_file(digest, file)
    config = dataclasses.asdict(load_config(config_path))
    digest.update(json.dumps({"config": config, "settings": settings}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def cache_key(submission_digest: str, fingerprint: str) -> str:
    return hashlib.sha256(f"{submission_digest}:{fingerprint}".encode()).hexdigest()


class ResultCache:
    """One JSON file per key under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> GradeResult | None:
        return read_result(self.path(key))

    def store(self, key: str, result: GradeResult) -> None:
        write_json_atomically(result_to_dict(result), self.path(key))


def read_result(path: Path) -> GradeResult | None:
    """The result stored at ``path``; None when absent or unreadable (e.g. from an older grader)."""
    try:
        return result_from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def result_to_dict(result: GradeResult) -> dict:
    return dataclasses.asdict(result)


def result_from_dict(data: dict) -> GradeResult:
    return GradeResult(**{**data, "tests": [TestResult(**t) for t in data["tests"]],
                          "parts": [PartSummary(**p) for p in data["parts"]]})


def _tree(folder: Path, skip: tuple) -> list:
    """Files and links under ``folder`` in a stable order, without caches, byte code or ``skip``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):  # does not follow links to folders
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_FOLDERS and here / d not in skip)
        found += [here / name for name in sorted(filenames) if not name.endswith(".pyc")]
        found += [here / d for d in dirnames if (here / d).is_symlink()]
    return found


def _hash_file(digest, path: Path) -> None:
    # Length-prefixed, so that no split of bytes between files and names hashes the same.
    if path.is_symlink():
        target = os.readlink(path).encode("utf-8", "surrogateescape")
        digest.update(b"link %d\0" % len(target) + target)
        return
    digest.update(b"file %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
