"""Reading the container's memory limit and OOM-kill count, and what a memory-killed child reports."""
import math
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from autograder.engine.memory import memory_limit_mb, oom_kill_count

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _tree(tmp_path: Path, proc_cgroup: str, files: dict) -> tuple:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(proc_cgroup)
    return root, proc


def test_cgroup_v2_own_group(tmp_path):
    root, proc = _tree(tmp_path, "0::/grader\n", {
        "grader/memory.max": "805306368\n",
        "grader/memory.events": "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\n",
        "memory.max": "max\n"})
    assert memory_limit_mb(root, proc) == 768
    assert oom_kill_count(root, proc) == 2


def test_cgroup_v2_container_view_falls_back_to_the_root(tmp_path):
    # Inside a container the path in /proc/self/cgroup need not exist under the mount.
    root, proc = _tree(tmp_path, "0::/docker/abc\n", {"memory.max": "max\n",
                                                    "memory.events": "oom_kill 0\n"})
    assert memory_limit_mb(root, proc) == math.inf
    assert oom_kill_count(root, proc) == 0


def test_cgroup_v1(tmp_path):
    root, proc = _tree(tmp_path, "9:pids:/\n4:memory:/job\n0::/\n", {
        "memory/job/memory.limit_in_bytes": str(2 * 2**30),
        "memory/job/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n",
        "memory/memory.limit_in_bytes": "9223372036854771712"})
    assert memory_limit_mb(root, proc) == 2048
    assert oom_kill_count(root, proc) == 5


def test_cgroup_v1_unlimited_and_no_cgroups(tmp_path):
    root, proc = _tree(tmp_path, "4:memory:/\n", {
        "memory/memory.limit_in_bytes": "9223372036854771712",
        "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n"})
    assert memory_limit_mb(root, proc) == math.inf
    assert oom_kill_count(root, proc) is None  # old kernels do not count
    empty = tmp_path / "none"
    empty.mkdir()
    assert memory_limit_mb(empty, tmp_path / "missing") == math.inf
    assert oom_kill_count(empty, tmp_path / "missing") is None


# --- a real memory cgroup: the kernel kills the child, the grader carries on and says why -----

def _memory_cgroup(limit_mb: int) -> Path | None:
    """A new v1 or v2 memory cgroup under this process's own, or None where none can be made."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            parent, limit_file = Path("/sys/fs/cgroup/memory") / path.lstrip("/"), "memory.limit_in_bytes"
            break
    else:
        v2 = [line.split(":", 2)[2] for line in lines if line.startswith("0::")]
        parent, limit_file = Path("/sys/fs/cgroup") / (v2[0].lstrip("/") if v2 else ""), "memory.max"
    group = parent / f"grade-test-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
        (group / limit_file).write_text(str(limit_mb * 2**20))
    except OSError:
        return None
    return group


CHILD_EATS_MEMORY = textwrap.dedent("""
    import math, sys
    from pathlib import Path
    from autograder.engine.proxy import Session, StudentCodeError, StudentModule
    from autograder.engine.sandbox import Limits, Sandbox, detect_isolation
    folder = Path(sys.argv[1])
    sandbox = Sandbox(folder, Limits(call_timeout=60, memory_mb=4096), detect_isolation(),
                      hidden_paths=(folder.parent,))
    module = StudentModule(Session(sandbox, 120), "mod")
    try:
        module.eat(600)
        print("no error")
    except StudentCodeError as exc:
        print("error:", type(exc).__name__, exc)
    print("sandbox still answers:", StudentModule(Session(sandbox, 60), "mod").small())
    sandbox.close()
""")


def test_a_child_killed_for_memory_says_so_and_the_grader_survives(tmp_path):
    group = _memory_cgroup(300)
    if group is None:
        pytest.skip("no memory cgroup can be made here (needs root and a writable cgroup mount)")
    try:
        folder = tmp_path / "submission"
        folder.mkdir()
        (folder / "mod.py").write_text(
            "import numpy as np\n"
            "def eat(mb):\n    return float(np.ones(mb * 2**20 // 8).sum())\n"
            "def small():\n    return 1\n")
        script = f"echo $$ > {group}/cgroup.procs && exec {sys.executable} -c \"$0\" \"$1\""
        run = subprocess.run(["sh", "-c", script, CHILD_EATS_MEMORY, str(folder)], capture_output=True,
                             text=True, timeout=180, cwd=PROJECT_ROOT,
                             env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
        assert run.returncode == 0, run.stderr[-2000:]
        assert "error: MachineOutOfMemory" in run.stdout, run.stdout
        assert "killed by the kernel's out-of-memory killer" in run.stdout, run.stdout
        assert "sandbox still answers: 1" in run.stdout, run.stdout
    finally:
        group.rmdir()


def test_grade_notes_an_out_of_memory_kill(monkeypatch):
    import autograder.engine.memory as memory
    import autograder.run as run

    monkeypatch.setattr(run, "memory_limit_mb", lambda: 768.0)
    monkeypatch.setattr(memory, "oom_kill_count", lambda: 4)
    assert run._out_of_memory_notes(4) == []
    assert run._out_of_memory_notes(None) == []
    (note,) = run._out_of_memory_notes(1)
    assert "ran out of memory (its limit: 768 MiB)" in note and "killed 3 process(es)" in note


CHURN = """
import numpy as np

def churn():
    keep = []
    for _ in range(2):
        big = []
        for _ in range(100):  # 3 MiB buffers, each followed by a small one that stays alive
            big.append(np.ones(3 * 2**20 // 8))
            keep.append(np.ones(17_000))
        del big
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
"""


def test_the_child_gives_freed_buffers_back(make_module):
    # With glibc's default (a threshold that rises after each large free) the freed 3 MiB
    # buffers stay in the heap behind the small ones: about 350 MiB resident instead of ~55.
    resident_mb = make_module(CHURN).churn()
    assert resident_mb < 150, f"{resident_mb} MiB resident after freeing 600 MiB of buffers"
