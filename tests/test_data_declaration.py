"""A part's ``[data]`` declaration is read strictly, and its finder's refusal becomes one line
naming what was given and the part (autograder/data.py)."""
from pathlib import Path

import pytest

from autograder.config import ConfigError, load_config
from autograder.data import DataDeclaration, DataError, find_data
from autograder.package import PackageError
from autograder.package.gradescope import GradescopeOptions, _data

PART = 'files = ["p.py"]\npoints = 1\n[contract]\np = ["f"]\n'
FINDS = 'what = "a test set"\nfind = "tests.test_data_declaration:refuse"\nfiles = ["test_batch"]\n'


def refuse(folder: str | None) -> Path:
    raise ValueError(f"nothing in {folder}")


def declared(tmp_path: Path, data: str):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "part.toml").write_text(PART + "[data]\n" + data)
    return load_config(suites_dir=tmp_path).parts["p"]


def test_a_declaration_is_read_and_its_finders_refusal_names_the_folder_and_the_part(tmp_path):
    part = declared(tmp_path, FINDS + 'environment = "P_DATA"\n')
    assert part.data == DataDeclaration("a test set", "tests.test_data_declaration:refuse", ("test_batch",),
                                        "P_DATA")
    with pytest.raises(DataError) as refused:
        find_data(part, "somewhere")
    assert str(refused.value) == "--data-dir somewhere: nothing in somewhere Or grade without the p part (--part)."


@pytest.mark.parametrize("data, complaint", [
    (FINDS + "url = 'x'\n", "data.url is not a key; the keys are what, find, files, environment"),
    ('what = "a test set"\nfiles = []\n', "data.find is missing"),
    (FINDS.replace('["test_batch"]', '"test_batch"'), "data.files must be a list of strings, got 'test_batch'"),
])
def test_a_wrong_declaration_is_refused_naming_its_file_and_key(tmp_path, data, complaint):
    with pytest.raises(ConfigError, match=complaint) as refused:
        declared(tmp_path, data)
    assert str(refused.value).startswith(str(tmp_path / "p" / "part.toml"))


def test_the_gradescope_zip_downloads_only_what_a_part_says_where_to_download(tmp_path):
    part = declared(tmp_path, FINDS)
    with pytest.raises(PackageError, match="^--download-data: the p part declares no download_url"):
        _data([part], GradescopeOptions(download_data=True))
    with pytest.raises(PackageError, match="^the p part needs a test set and Gradescope grades without network: "
                                           r"pass --data-dir DIR to put it in the zip, or leave the part out"):
        _data([part], GradescopeOptions())
