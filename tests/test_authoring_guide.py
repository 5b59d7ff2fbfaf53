"""docs/authoring.md's worked example runs as written, on a copy of the project: its files are
written, its commands succeed, and the part it builds gives the reference full marks."""
import re
import shutil
import subprocess
from pathlib import Path

from tests.test_new_part import PROJECT, SKIPPED

GUIDE = PROJECT / "docs" / "authoring.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def test_every_block_of_the_authoring_guide_runs(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=SKIPPED)
    text = GUIDE.read_text()
    blocks = BLOCK.findall(text)
    assert 2 * len(blocks) == text.count("```") and sum(kind == "bash" for kind, _ in blocks) == 3
    for kind, code in blocks:
        first, _, rest = code.partition("\n")
        if first.startswith("# file: "):
            (project / first.removeprefix("# file: ")).write_text(rest)
            continue
        assert kind == "bash", f"a {kind} block that is neither a file nor a command"
        script = f"set -euo pipefail\ngrade() {{ python cli.py \"$@\"; }}\n{code}"
        done = subprocess.run(["bash", "-c", script], cwd=project, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{code}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
