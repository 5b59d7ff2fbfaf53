"""Loading what a student handed in: folders and zips, hostile ones included."""
import io
import os
import stat
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from autograder.engine.submission import SubmissionError, load_submission

EXPECTED = ["layers.py", "shapes.py"]
MB = 2**20


def load(source, tmp_path, max_bytes=10 * MB, max_files=50):
    return load_submission(source, tmp_path / "out", EXPECTED, max_bytes, max_files)


def make_zip(path, members, symlinks=()):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def test_folder_copy_keeps_regular_files_and_skips_symlinks(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "layers.py").write_text("x = 1\n")
    os.symlink("/etc/passwd", src / "shapes.py")
    loaded = load(src, tmp_path)
    assert (loaded.root / "layers.py").read_text() == "x = 1\n"
    assert not (loaded.root / "shapes.py").exists()
    assert any("not a regular file" in note for note in loaded.notes)


def test_zip_with_nested_folder_is_found(tmp_path):
    archive = make_zip(tmp_path / "s.zip", {"hw/layers.py": "a = 1\n", "hw/shapes.py": "b = 2\n",
                                             "__MACOSX/hw/._layers.py": "junk"})
    loaded = load(archive, tmp_path)
    assert sorted(p.name for p in loaded.root.iterdir()) == EXPECTED


def test_zip_traversal_and_symlinks_are_ignored(tmp_path):
    archive = make_zip(tmp_path / "s.zip", {"../evil.py": "x", "/abs.py": "x", "layers.py": "ok = 1\n"},
                       symlinks=[("shapes.py", "/autograder/source/reference/shapes.py")])
    loaded = load(archive, tmp_path)
    assert sorted(p.name for p in loaded.root.iterdir()) == ["layers.py"]
    assert not (tmp_path / "evil.py").exists()
    notes = " ".join(loaded.notes)
    assert "outside the submission" in notes and "symlinks are not allowed" in notes


def test_zip_bomb_is_left_out_and_the_rest_kept(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"layers.py": b"\0" * (50 * MB), "shapes.py": "ok = 1\n"})
    assert archive.stat().st_size < MB
    loaded = load(archive, tmp_path)
    assert [p.name for p in loaded.root.iterdir()] == ["shapes.py"]
    assert "at most 10 MiB" in " ".join(loaded.notes)


def test_zip_bomb_with_lying_header_is_cut_off(tmp_path):
    archive = make_zip(tmp_path / "liar.zip", {"layers.py": b"\0" * (30 * MB)})
    data = bytearray(archive.read_bytes())
    declared = (30 * MB).to_bytes(4, "little")
    data = data.replace(declared, (100).to_bytes(4, "little"))  # local and central headers lie
    archive.write_bytes(bytes(data))
    try:
        loaded = load(archive, tmp_path)
    except SubmissionError as exc:  # zipfile itself may notice the lie first: also fine
        assert "cannot be extracted" in str(exc)
    else:
        assert not (loaded.root / "layers.py").exists()
        assert "zip bomb" in " ".join(loaded.notes)


def test_too_many_files_are_left_out_with_a_note(tmp_path):
    archive = make_zip(tmp_path / "many.zip", {f"f{i:02d}.txt": "x" for i in range(60)})
    loaded = load(archive, tmp_path)
    assert len(list(loaded.root.iterdir())) == 50
    assert "at most 50 files" in " ".join(loaded.notes)


def test_corrupt_zip_and_other_files_give_clear_errors(tmp_path):
    good = make_zip(tmp_path / "s.zip", {"layers.py": "x = 1\n" * 1000})
    broken = tmp_path / "broken.zip"
    data = good.read_bytes()
    broken.write_bytes(data[:40] + b"\xff" * 200 + data[240:])
    with pytest.raises(SubmissionError, match="cannot be extracted|not a readable zip"):
        load(broken, tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(SubmissionError, match=r"neither a folder, a .zip archive nor a notebook \(.ipynb\)"):
        load(text, tmp_path)


def test_non_utf8_names_are_skipped_and_notebooks_explained(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cnn_assignment.ipynb", "{}")
        archive.writestr("cafX.py", "x = 1")
    # A Latin-1 name without the UTF-8 flag, as old Windows zip tools write them.
    (tmp_path / "nb.zip").write_bytes(buffer.getvalue().replace(b"cafX", b"caf\xe9"))
    loaded = load(tmp_path / "nb.zip", tmp_path)
    notes = " ".join(loaded.notes)
    assert "non-UTF-8" in notes and "notebook" in notes and "None of the expected files" in notes


def test_empty_submission_is_explained(tmp_path):
    (tmp_path / "empty").mkdir()
    loaded = load(tmp_path / "empty", tmp_path)
    assert "holds: nothing" in " ".join(loaded.notes)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_random_bytes_as_a_zip_never_escape_submission_error(tmp_path, data):
    target = tmp_path / "random.zip"
    target.write_bytes(b"PK\x03\x04" + data)
    out = tmp_path / "random-out"
    try:
        load_submission(target, out, EXPECTED, MB, 20)
    except SubmissionError:
        pass
    finally:
        import shutil
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tmp_path / "random-out-raw", ignore_errors=True)
