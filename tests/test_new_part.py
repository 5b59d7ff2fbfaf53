"""`grade new-part NAME` writes a part that every command takes up without any other edit, and
deleting its files takes it out of every command again (in a copy of the project)."""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
SKIPPED = shutil.ignore_patterns(".git", "__pycache__", "*.pt", "data", ".pytest_cache", "*.egg-info")


def grade(project: Path, *args) -> subprocess.CompletedProcess:
    """`python cli.py ARGS` run in ``project``, which it then imports (not the installed copy)."""
    return subprocess.run([sys.executable, "cli.py", *map(str, args)], cwd=project,
                          capture_output=True, text=True, timeout=300)


def test_a_new_part_is_taken_up_everywhere_and_removing_it_takes_it_out(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=SKIPPED)
    before = grade(project, "validate")
    assert before.returncode == 0, before.stderr

    made = grade(project, "new-part", "demo")
    assert made.returncode == 0, made.stderr
    written = [Path(line.removeprefix("wrote ")) for line in made.stdout.splitlines() if line.startswith("wrote ")]
    assert len(written) == 6 and all(path.is_file() for path in written)
    assert grade(project, "new-part", "demo").returncode == 2  # never overwrites

    validated = grade(project, "validate")
    assert validated.returncode == 0, validated.stderr
    assert "demo: 10 points, 2 tests" in validated.stdout and "Total: 110 points" in validated.stdout

    for which, score in (("reference", 10), ("assignments", 0)):
        submission = tmp_path / which
        submission.mkdir()
        shutil.copyfile(project / which / "demo.py", submission / "demo.py")
        run = grade(project, "run", submission, "--part", "demo", "--format", "json")
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)
        assert (result["score"], len(result["tests"])) == (score, 2), result

    zipped = grade(project, "package", "gradescope", "--part", "demo", "--no-self-test",
                   "--output", tmp_path / "autograder.zip")
    assert zipped.returncode == 0, zipped.stderr
    names = zipfile.ZipFile(tmp_path / "autograder.zip").namelist()
    assert {"autograder/suites/demo/part.toml", "autograder/suites/demo/test_demo.py",
            "reference/demo.py"} <= {name.split("/", 1)[1] if name.startswith("source/") else name
                                     for name in names}, names
    handout = grade(project, "package", "student", "--output", tmp_path / "handout.zip")
    assert handout.returncode == 0, handout.stderr
    names = zipfile.ZipFile(tmp_path / "handout.zip").namelist()
    assert any(n.endswith("assignments/demo.py") for n in names)
    assert any(n.endswith("autograder/suites/demo/test_visible.py") for n in names)
    assert not any(n.endswith("suites/demo/test_demo.py") for n in names)  # hidden tests stay home

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
