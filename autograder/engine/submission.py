"""Turn what a student handed in (a folder or a .zip) into a clean folder of regular files.

Hostile input is expected: zip members with ``../`` or absolute paths, symlinks, zip bombs,
non-UTF-8 names, names too long for the file system, a file and a folder of the same name, deep
nesting, hundreds of thousands of entries, fifos and devices, notebooks instead of .py files. The
result is a fresh folder holding only regular files, never more than the configured size, plus
notes that tell the student what was ignored and why; a submission that cannot be read at all
raises ``SubmissionError`` with the reason.

The loader's own time and memory are bounded by MAX_ENTRIES: a zip's entry count and central
directory size are read from its end record before ``zipfile`` loads the directory, and a
folder is walked lazily, one entry at a time, stopping at the limit.
"""
from __future__ import annotations

import dataclasses
import lzma
import os
import shutil
import stat
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from autograder.engine.notebook_submission import write_notebook_parts

IGNORED_DIRS = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints"}
MAX_ENTRIES = 10_000  # files and folders in a submission (walked or listed), ignored ones included
MAX_CENTRAL_DIRECTORY_BYTES = 4 * 2**20  # what zipfile reads and parses at once: ~100 KB is usual
MAX_DEPTH = 32  # folders within folders
NAME_MAX, PATH_MAX = 255, 4096  # bytes in one name and in a whole path (Linux's limits)
MAX_NOTES = 20  # notes about ignored entries; the rest are counted in one more
# What zipfile raises on a damaged, encrypted or exotic archive (zlib's and lzma's errors leak).
_MEMBER_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
                  NotImplementedError, RuntimeError, struct.error, zlib.error, lzma.LZMAError)
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")


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
    notes = _Notes()
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
        raise SubmissionError(f"{source} does not exist (or is not a regular file or folder)")
    root = _find_root(staging, expected_files, notes)
    shutil.copytree(root, dest, symlinks=True)
    shutil.rmtree(staging, ignore_errors=True)
    notes = notes.finish()
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


def _copy_tree(source: Path, dest: Path, max_bytes: int, max_files: int, notes: "_Notes") -> None:
    budget = _Budget(max_bytes, max_files, notes)
    dest.mkdir(parents=True)
    for rel, entry in _walk(source, notes):
        if entry.is_dir(follow_symlinks=False):
            continue
        info = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            notes.append(f"ignored {rel}: not a regular file (symlinks are not followed)")
        elif budget.admit(str(rel), info.st_size):
            try:
                (dest / rel.parent).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(entry.path, dest / rel, follow_symlinks=False)
            except OSError as exc:  # e.g. it vanished, or cannot be read
                notes.append(f"ignored {rel}: it cannot be copied ({exc.strerror or exc})")


def _walk(source: Path, notes: "_Notes"):
    """(relative path, DirEntry) of every entry worth copying, in a stable order, lazily: a
    folder's listing is read one entry at a time and the walk stops at MAX_ENTRIES."""
    seen = 0
    stack = [PurePosixPath()]
    while stack:
        folder = stack.pop()
        entries = []
        try:
            with os.scandir(source / folder) as listing:
                for entry in listing:
                    seen += 1
                    if seen > MAX_ENTRIES:
                        raise SubmissionError(f"the submission holds more than {MAX_ENTRIES} files "
                                              "and folders; hand in only the assignment's files")
                    entries.append(entry)
        except OSError as exc:
            notes.append(f"ignored the folder {folder}: it cannot be read ({exc.strerror or exc})")
            continue
        subfolders = []
        for entry in sorted(entries, key=lambda e: e.name):
            path = folder / entry.name
            if entry.name in IGNORED_DIRS:
                continue
            problem = _name_problem(path.parts, _has_surrogates(entry.name))
            if problem:
                notes.append(f"ignored {str(path)[:300]!r}: {problem}")
                continue
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(path)
            yield path, entry
        stack += reversed(subfolders)


def _extract_zip(source: Path, dest: Path, max_bytes: int, max_files: int, notes: "_Notes") -> None:
    dest.mkdir(parents=True)
    check_zip_directory(source)
    try:
        archive = zipfile.ZipFile(source)
    except _MEMBER_ERRORS as exc:
        raise SubmissionError(f"{source.name} is not a readable zip archive ({exc})") from None
    budget = _Budget(max_bytes, max_files, notes)
    with archive:
        if len(archive.infolist()) > MAX_ENTRIES:
            raise SubmissionError(f"{source.name} holds {len(archive.infolist())} entries; at "
                                  f"most {MAX_ENTRIES} are read")
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
            problem = _name_problem(parts, not _is_clean_name(name, info))
            if problem:
                notes.append(f"ignored {name[:300]!r}: {problem}")
                continue
            if not budget.admit(name, info.file_size):
                continue
            target = dest.joinpath(*parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                open(target, "wb").close()
            except OSError:  # a file and a folder of the same name, or a name the disk refuses
                notes.append(f"ignored {name[:300]!r}: a file and a folder of the same name "
                             "(or a name this file system refuses)")
                budget.give_back(info.file_size)
                continue
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
            except _MEMBER_ERRORS as exc:
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

    def give_back(self, size: int) -> None:
        """A file admitted but then not written after all."""
        self.files_left += 1
        self.left += size

    def overflows(self, name: str, beyond_declared: int) -> bool:
        """True (and a note) when a member has expanded past what the submission may hold."""
        if beyond_declared <= self.left:
            return False
        self.notes.append(f"ignored {name}: it expands to more than the submission's limit "
                          f"of {self.max_bytes // 2**20} MiB (a zip bomb?)")
        return True


class _Notes(list):
    """Notes for the student, the first MAX_NOTES kept; the rest counted in a last one."""

    dropped = 0

    def append(self, note: str) -> None:
        if len(self) < MAX_NOTES:
            super().append(note)
        else:
            self.dropped += 1

    def finish(self) -> list:
        return list(self) + ([f"... and {self.dropped} more entries ignored"] if self.dropped else [])


def _name_problem(parts: tuple, unreadable: bool) -> str | None:
    """Why a path cannot be taken as it is (None when it can)."""
    if unreadable:
        return "its name is not readable text (non-UTF-8)"
    if any(ord(c) < 32 or ord(c) == 127 for part in parts for c in part):
        return "its name holds control characters"
    encoded = [part.encode("utf-8", "surrogateescape") for part in parts]
    if any(len(part) > NAME_MAX for part in encoded) or sum(len(p) + 1 for p in encoded) > PATH_MAX:
        return f"its name is too long (at most {NAME_MAX} bytes a name, {PATH_MAX} in all)"
    if len(parts) > MAX_DEPTH:
        return f"it is nested more than {MAX_DEPTH} folders deep"
    return None


def _has_surrogates(name: str) -> bool:
    try:
        name.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def check_zip_directory(source: Path) -> None:
    """Refuse a zip whose end record declares more than MAX_ENTRIES entries or a central
    directory larger than MAX_CENTRAL_DIRECTORY_BYTES, before zipfile reads the directory (it
    parses the whole directory, whatever the count says, into one object per entry)."""
    with open(source, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        tail_start = max(0, size - _EOCD.size - 0xFFFF)  # the record, then a comment of <= 64 KiB
        f.seek(tail_start)
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _EOCD.size > len(tail):
            return  # not a zip: zipfile says so
        entries, directory_bytes = _EOCD.unpack_from(tail, at)[4:6]
        locator_at = at - _ZIP64_LOCATOR.size
        if locator_at >= 0 and tail[locator_at:locator_at + 4] == b"PK\x06\x07":
            offset = _ZIP64_LOCATOR.unpack_from(tail, locator_at)[2]
            f.seek(min(offset, size))
            record = f.read(_ZIP64_EOCD.size)
            if len(record) == _ZIP64_EOCD.size and record[:4] == b"PK\x06\x06":
                entries, directory_bytes = _ZIP64_EOCD.unpack(record)[7:9]
    if entries > MAX_ENTRIES or directory_bytes > MAX_CENTRAL_DIRECTORY_BYTES:
        raise SubmissionError(f"{source.name} holds {entries} entries in a directory of "
                              f"{directory_bytes / 2**20:.1f} MiB; at most {MAX_ENTRIES} entries "
                              "are read: hand in only the assignment's files")


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
