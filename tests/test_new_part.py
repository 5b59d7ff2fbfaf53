"""`grade new-part NAME` writes a part that every command takes up without any other edit, and
deleting its files takes it out of every command again (in one copy of the project)."""
import json
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from autograder.config import load_config
from autograder.package.handout_notebook import NOTEBOOK, build_handout_notebook
from reference.cifar10_data import write_fake_cifar10

PROJECT = Path(__file__).resolve().parents[1]
SKIPPED = shutil.ignore_patterns(".git", "__pycache__", "*.pt", "data", ".pytest_cache", "*.egg-info")


def grade(project: Path, *args) -> subprocess.CompletedProcess:
    """`python cli.py ARGS` run in ``project``, which it then imports (not the installed copy)."""
    return subprocess.run([sys.executable, "cli.py", *map(str, args)], cwd=project,
                          capture_output=True, text=True, timeout=300)


def packages(project: Path, out: Path, data: Path) -> dict:
    """What `grade package gradescope` (every part, no self-test) and `grade package student`
    build in ``project``: the zip's parts and files, the handout's files and notebook."""
    zipped = grade(project, "package", "gradescope", "--no-self-test", "--data-dir", data,
                   "--output", out / "autograder.zip")
    assert zipped.returncode == 0, zipped.stderr
    handout = grade(project, "package", "student", "--output", out / "handout.zip")
    assert handout.returncode == 0, handout.stderr
    with zipfile.ZipFile(out / "autograder.zip") as archive, zipfile.ZipFile(out / "handout.zip") as student:
        settings = archive.read("package_settings.sh").decode()
        [parts] = [shlex.split(line.partition("=")[2]) for line in settings.splitlines()
                   if line.startswith("GRADE_PARTS=")]
        return {"parts": parts[0].split(), "zip": set(archive.namelist()), "handout": set(student.namelist()),
                "notebook": student.read("cnn_handout/assignments/cnn_assignment.ipynb").decode(),
                "check.toml": student.read("cnn_handout/autograder/check.toml").decode()}


def test_a_new_part_is_taken_up_everywhere_and_removing_it_takes_it_out(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=SKIPPED)
    data = write_fake_cifar10(tmp_path / "data", n_train_per_batch=2, n_test=10)
    before = grade(project, "validate")
    assert before.returncode == 0, before.stderr
    built_before = packages(project, tmp_path, data)

    made = grade(project, "new-part", "demo")
    assert made.returncode == 0, made.stderr
    written = [Path(line.removeprefix("wrote ")) for line in made.stdout.splitlines() if line.startswith("wrote ")]
    assert len(written) == 7 and all(path.is_file() for path in written)
    assert grade(project, "new-part", "demo").returncode == 2  # never overwrites

    validated = grade(project, "validate")
    assert validated.returncode == 0, validated.stderr
    total = load_config().total_points + 10
    assert "demo: 10 points, 2 tests" in validated.stdout and f"Total: {total:g} points" in validated.stdout

    for which, score in (("reference", 10), ("assignments", 0)):  # full marks, and zero for the stub
        submission = tmp_path / which
        submission.mkdir()
        shutil.copyfile(project / which / "demo.py", submission / "demo.py")
        run = grade(project, "run", submission, "--part", "demo", "--format", "json")
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)
        assert (result["score"], len(result["tests"])) == (score, 2), result

    built = packages(project, tmp_path, data)
    assert built["parts"] == built_before["parts"] + ["demo"]
    assert {"autograder/suites/demo/part.toml", "autograder/suites/demo/test_demo.py",
            "reference/demo.py"} <= built["zip"]
    handout = {name.removeprefix("cnn_handout/") for name in built["handout"]}
    assert {"assignments/demo.py", "autograder/suites/demo/test_visible.py"} <= handout
    assert "autograder/suites/demo/test_demo.py" not in handout  # hidden tests stay home
    number = len(built_before["parts"]) + 1
    assert f"## Part {number}: demo (`demo.py`)" in built["notebook"] and 'show_check(\\"demo\\")' in built["notebook"]
    assert f"| {number} | `demo.py` |" in built["notebook"] and "[parts.demo]" in built["check.toml"]

    # Tests that do not add up to the declared points are refused, naming both numbers.
    declaration = project / "autograder" / "suites" / "demo" / "part.toml"
    declaration.write_text(declaration.read_text().replace("points = 10", "points = 11"))
    refused = grade(project, "validate")
    assert refused.returncode == 2 and "part demo: its tests' points add up to 10, its part.toml " \
                                       "declares 11" in refused.stderr, refused.stderr

    for path in written:
        path.unlink()
    shutil.rmtree(project / "autograder" / "suites" / "demo")
    after = grade(project, "validate")
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout and "demo" not in grade(project, "run", "--help").stdout
    assert packages(project, tmp_path, data) == built_before


def test_the_repository_notebook_is_the_one_built_from_the_parts():
    """``python -m autograder.package.handout_notebook`` rewrites it after a part's section changes."""
    assert NOTEBOOK.read_text() == build_handout_notebook(load_config())
