"""Build the submission folder (or zip) of a corpus case from the reference submission."""
from __future__ import annotations

import dataclasses
import stat
import textwrap
import zipfile
from pathlib import Path

from autograder.examples import build_submission

from . import Append, Case, Remove, Replace, Write

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Context:
    """Paths and tokens an attack may name (``@@NAME@@`` in its code), and the test checks.

    ``markers`` is a folder outside the submission that attacks try to write into: it must stay
    empty. ``secret`` is set in the grader's environment while the case is graded and must never
    reach student code. ``tag`` is unique to the case, for finding processes left behind.
    """

    root: Path  # the case's scratch folder (the test's tmp_path)
    secret: str
    tag: str
    port: int = 0  # a TCP port the grader listens on (loopback); nothing may connect to it

    @property
    def markers(self) -> Path:
        return self.root / "markers"

    @property
    def output(self) -> Path:
        return self.root / "out" / "results.json"

    @property
    def cwd(self) -> Path:
        return self.root / "grader-cwd"

    @property
    def other_student(self) -> Path:
        return self.root / "batch" / "other-student"

    @property
    def submission(self) -> Path:
        return self.root / "batch" / "submission"

    def substitutions(self) -> dict:
        return {"REPO": str(PROJECT_ROOT), "MARKERS": str(self.markers), "OUTPUT": str(self.output),
                "CWD": str(self.cwd), "OTHER": str(self.other_student),
                "SUBMISSION": str(self.submission), "TAG": self.tag, "PORT": str(self.port),
                "SECRET_NAME": SECRET_NAME}

    def fill(self, text: str) -> str:
        for key, value in self.substitutions().items():
            text = text.replace(f"@@{key}@@", value)
        assert "@@" not in text, f"unknown placeholder in {text[text.index('@@'):][:40]!r}"
        return text


SECRET_NAME = "CORPUS_GRADER_SECRET"


def build(case: Case, ctx: Context) -> Path:
    """The path to grade: a folder laid out as a student hands it in, or what ``package`` makes."""
    for folder in (ctx.markers, ctx.output.parent, ctx.cwd, ctx.other_student):
        folder.mkdir(parents=True, exist_ok=True)
    (ctx.other_student / "shapes.py").write_text(f"# another student's work: {ctx.secret}\n")
    folder = ctx.submission
    if case.base == "empty":
        folder.mkdir(parents=True)
    else:
        build_submission(case.base, folder)
    for edit in case.edits:
        apply_edit(folder, edit, ctx)
    return case.package(folder, ctx) if case.package else folder


def apply_edit(folder: Path, edit, ctx: Context) -> None:
    path = folder / edit.file
    if isinstance(edit, Replace):
        text = path.read_text()
        found = text.count(edit.old)
        assert found == edit.count, (
            f"{edit.file}: expected {edit.count} occurrence(s) of {edit.old!r}, found {found}; "
            "the reference changed, so update the case so that it still plants its bug")
        path.write_text(text.replace(edit.old, ctx.fill(edit.new)))
    elif isinstance(edit, Append):
        assert path.is_file(), f"{edit.file} is not in the submission to append to"
        path.write_text(path.read_text() + ctx.fill(edit.text))
    elif isinstance(edit, Write):
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(edit.content, bytes):
            path.write_bytes(edit.content)
        else:
            path.write_text(ctx.fill(textwrap.dedent(edit.content).lstrip("\n")))
    elif isinstance(edit, Remove):
        path.unlink()
    else:
        raise TypeError(f"unknown edit {edit!r}")


# --- packagers: turn the folder into what the student uploads --------------------------------

def zipped(*extra, symlinks: tuple = (), raw_names: tuple = ()):
    """A packager: the folder's files in a zip, plus ``extra`` (name, bytes) members, symlink
    members (name, target), and members whose names are raw non-UTF-8 bytes (name, bytes)."""
    def package(folder: Path, ctx: Context) -> Path:
        target = ctx.root / "upload.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
            for name, data in extra:
                archive.writestr(ctx.fill(name), data)
            for name, link in symlinks:
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, ctx.fill(link))
        if raw_names:
            _append_raw_named(target, raw_names)
        return target
    return package


def _append_raw_named(target: Path, members: tuple) -> None:
    """Add members whose names are bytes that are not UTF-8 (zipfile only writes str names)."""
    placeholder = "RAWNAME{:02d}"
    with zipfile.ZipFile(target, "a") as archive:
        for index, (_, data) in enumerate(members):
            archive.writestr(placeholder.format(index), data)
    blob = target.read_bytes()
    for index, (raw, _) in enumerate(members):
        name = placeholder.format(index).encode()
        assert len(raw) == len(name), "a raw name must have as many bytes as its placeholder"
        assert blob.count(name) == 2  # the local header and the central directory
        blob = blob.replace(name, raw)
    target.write_bytes(blob)


def zip_bomb(member: str = "shapes.py", size_mb: int = 512):
    """A packager: one member that inflates to ``size_mb`` MiB (a few hundred KiB compressed)."""
    def package(folder: Path, ctx: Context) -> Path:
        target = ctx.root / "bomb.zip"
        chunk = b"\0" * (1 << 20)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            with archive.open(member, "w", force_zip64=True) as out:
                for _ in range(size_mb):
                    out.write(chunk)
        return target
    return package


def raw_bytes(data: bytes, name: str = "upload.zip"):
    """A packager: the upload is these bytes, whatever the folder holds."""
    def package(folder: Path, ctx: Context) -> Path:
        target = ctx.root / name
        target.write_bytes(data)
        return target
    return package


def notebook(cells: list) -> bytes:
    """A minimal Jupyter notebook with these code cells."""
    import json

    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "execution_count": None,
                                  "outputs": [], "source": c} for c in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
