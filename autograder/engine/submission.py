"""Turn what a student handed in (a folder or a .zip) into a clean folder of regular files.

Hostile input is expected: zip members with ``../`` or absolute paths, symlinks, zip bombs,
non-UTF-8 names, huge files, nested folders, notebooks instead of .py files. The result is a
fresh folder holding only regular files, never more than the configured size, plus notes that
tell the student what was ignored and why.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from autograder.engine.notebook_submission import write_notebook_parts

IGNORED_DIRS = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints"}


class SubmissionError(Exception):
    """The submission cannot be read at all; the message says why, for the student."""


@dataclasses.dataclass
class LoadedSubmission:
    root: Path
    notes: list


def load_submission(source: Path, dest: Path, expected_files: list, max_bytes: int,
                    max_files: int, notebook_functions: dict | None = None) -> LoadedSubmission:
    """Copy or extract ``source`` into ``dest`` (which must not exist) and return it.

    With ``notebook_functions`` ({file name: functions it defines}), a notebook handed in
    instead of those files is turned into them (``notebook_submission``); without, it is not graded.
    """
    source = Path(source)
    notes: list = []
    staging = dest.with_name(dest.name + "-raw")
    if source.is_dir():
        _copy_tree(source, staging, max_bytes, max_files, notes)
    elif source.is_file() and source.suffix.lower() == ".ipynb":
        staging.mkdir(parents=True)
        if _Budget(max_bytes, max_files, notes).admit(source.name, source.stat().st_size):
            shutil.copyfile(source, staging / source.name)
    elif source.is_file() and (source.suffix.lower() == ".zip" or _starts_with_zip_magic(source)):
        _extract_zip(source, staging, max_bytes, max_files, notes)
    elif source.is_file():
        raise SubmissionError(f"{source.name} is neither a folder, a .zip archive nor a notebook (.ipynb)")
    else:
        raise SubmissionError(f"{source} does not exist")
    root = _find_root(staging, expected_files, notes)
    shutil.copytree(root, dest, symlinks=True)
    shutil.rmtree(staging, ignore_errors=True)
    if notebook_functions:
        notes += write_notebook_parts(dest, notebook_functions)
    if not any((dest / name).is_file() for name in expected_files):
        found = sorted(p.name for p in dest.iterdir())[:20]
        notebooks = [n for n in found if n.endswith(".ipynb")]
        hint = (f" A notebook ({', '.join(notebooks)}) is not graded: submit the .py files."
                if notebooks and not notebook_functions else "")
        notes.append(f"None of the expected files ({', '.join(expected_files)}) were found; "
                     f"the submission holds: {', '.join(found) or 'nothing'}.{hint}")
    return LoadedSubmission(dest, notes)


def _starts_with_zip_magic(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"PK"


def _copy_tree(source: Path, dest: Path, max_bytes: int, max_files: int, notes: list) -> None:
    budget = _Budget(max_bytes, max_files, notes)
    dest.mkdir(parents=True)
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS
                             and not os.path.islink(os.path.join(dirpath, d)))
        rel = Path(dirpath).relative_to(source)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                notes.append(f"ignored {rel / name}: not a regular file (symlinks are not followed)")
            elif budget.admit(str(rel / name), info.st_size):
                (dest / rel).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest / rel / name, follow_symlinks=False)


def _extract_zip(source: Path, dest: Path, max_bytes: int, max_files: int, notes: list) -> None:
    dest.mkdir(parents=True)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SubmissionError(f"{source.name} is not a readable zip archive ({exc})") from None
    budget = _Budget(max_bytes, max_files, notes)
    with archive:
        for info in archive.infolist():
            name = info.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if info.is_dir() or any(p in IGNORED_DIRS for p in parts):
                continue
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                notes.append(f"ignored {name!r}: paths outside the submission are not allowed")
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                notes.append(f"ignored {name!r}: symlinks are not allowed")
                continue
            if not _is_clean_name(name, info):
                notes.append(f"ignored a file with an unreadable (non-UTF-8) name: {name!r}")
                continue
            if not budget.admit(name, info.file_size):
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:  # count real bytes: the sizes in a crafted header can lie (zip bombs)
                written = 0
                with archive.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if budget.overflows(name, written - info.file_size):
                            break
                        out.write(chunk)
                    else:
                        budget.left -= max(0, written - info.file_size)
                        continue
                target.unlink()
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
                raise SubmissionError(f"{source.name}: member {name!r} cannot be extracted ({exc})") from None


class _Budget:
    """Admits files while the submission stays within its size and count limits; a file that
    does not fit is left out with a note, so the rest of the submission is still graded."""

    def __init__(self, max_bytes: int, max_files: int, notes: list) -> None:
        self.left, self.files_left, self.notes = max_bytes, max_files, notes
        self.max_bytes, self.max_files = max_bytes, max_files

    def admit(self, name: str, size: int) -> bool:
        if self.files_left <= 0:
            self.notes.append(f"ignored {name}: the submission may hold at most {self.max_files} files")
            return False
        if size > self.left:
            self.notes.append(f"ignored {name} ({size / 2**20:.1f} MiB): the whole submission may "
                              f"hold at most {self.max_bytes // 2**20} MiB")
            return False
        self.files_left -= 1
        self.left -= size
        return True

    def overflows(self, name: str, beyond_declared: int) -> bool:
        """True (and a note) when a member has expanded past what the submission may hold."""
        if beyond_declared <= self.left:
            return False
        self.notes.append(f"ignored {name}: it expands to more than the submission's limit "
                          f"of {self.max_bytes // 2**20} MiB (a zip bomb?)")
        return True


def _is_clean_name(name: str, info: zipfile.ZipInfo) -> bool:
    if info.flag_bits & 0x800:  # the archive says UTF-8
        return True
    try:  # zipfile decoded it as cp437; it is clean only if it was plain ASCII
        name.encode("ascii")
        return True
    except UnicodeEncodeError:
        return False


def _find_root(staging: Path, expected_files: list, notes: list) -> Path:
    """The folder that holds the expected files: the top, or the shallowest one that has them."""
    def hits(folder: Path) -> int:
        return sum((folder / name).is_file() for name in expected_files)

    if hits(staging):
        return staging
    candidates = sorted((p for p in staging.rglob("*") if p.is_dir() and hits(p)),
                        key=lambda p: (len(p.relative_to(staging).parts), -hits(p), str(p)))
    if candidates:
        notes.append(f"graded the files in the folder {candidates[0].relative_to(staging)}/")
        return candidates[0]
    return staging
