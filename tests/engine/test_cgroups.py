"""The per-sandbox cgroup: detection on both versions, limits that hold what rlimits miss
(memfd, tmpfs), freezing, CPU accounting, and nothing left once the sandbox closes."""
import os
import time
import uuid
from pathlib import Path

import pytest

from autograder.engine import cgroups
from autograder.engine.proxy import Session, StudentCrash, StudentModule
from autograder.engine.sandbox import Isolation, Limits, Sandbox

HOST = cgroups.detect()
needs_cgroups = pytest.mark.skipif(not HOST.parents, reason=f"no usable cgroups here: {HOST.reason}")


def _fake_host(tmp_path, mounts: str, own: str):
    (tmp_path / "mounts").write_text(mounts)
    (tmp_path / "cgroup").write_text(own)
    return tmp_path / "mounts", tmp_path / "cgroup"


def test_v1_controllers_are_found_under_the_graders_own_cgroups(tmp_path):
    for name, own in [("memory", "box/a"), ("pids", ""), ("freezer", "")]:
        (tmp_path / name / own).mkdir(parents=True, exist_ok=True)
    files = _fake_host(tmp_path, "".join(
        f"cgroup {tmp_path / name} cgroup rw,relatime,{name} 0 0\n" for name in ("memory", "pids", "freezer")),
        "4:memory:/box/a\n8:pids:/\n6:freezer:/\n0::/\n")
    support = cgroups.detect.__wrapped__(*files)
    assert support.version == 1
    assert support.parents["memory"] == tmp_path / "memory" / "box" / "a"
    assert support.missing() == [cgroups.GUARANTEES["cpuacct"]]


def test_v2_hands_controllers_down_and_sets_limits(tmp_path):
    own = tmp_path / "unified" / "container"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpu memory pids io\n")
    (own / "cgroup.subtree_control").write_text("")
    files = _fake_host(tmp_path, f"cgroup2 {tmp_path / 'unified'} cgroup2 rw 0 0\n", "0::/container\n")
    support = cgroups.detect.__wrapped__(*files)
    assert (support.version, support.missing()) == (2, [])
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids"
    cgroup = cgroups.Cgroup(support, 64 << 20, 10)
    folder = cgroup.folders["memory"]
    assert (folder / "memory.max").read_text() == str(64 << 20)
    assert (folder / "pids.max").read_text() == "10"
    assert cgroup.enter_command(["true"])[-3:] == [str(folder / "cgroup.procs"), "--", "true"]


def test_no_cgroups_means_every_guarantee_is_reported_missing(tmp_path):
    files = _fake_host(tmp_path, "proc /proc proc rw 0 0\n", "0::/\n")
    support = cgroups.detect.__wrapped__(*files)
    assert support.parents == {} and len(support.missing()) == len(cgroups.GUARANTEES)
    assert "missing: a memory limit that counts shared memory" in \
        Isolation("process", switch_user=False).describe()


@needs_cgroups
@pytest.mark.parametrize("fill", [
    "fd = os.memfd_create('hoard')\n    for _ in range(400): os.write(fd, bytes(1 << 20))",
    # the host's /dev/shm: only the process mode shows it (namespace modes give a small tmpfs)
    "with open(f'/dev/shm/hoard{os.getpid()}', 'wb') as f:\n"
    "        for _ in range(400): f.write(bytes(1 << 20))",
])
def test_memfd_and_tmpfs_count_against_the_memory_limit(tmp_path, fill):
    (tmp_path / "mod.py").write_text(f"import os\ndef hoard():\n    {fill}\n    return 'kept'\n")
    sandbox = Sandbox(tmp_path, Limits(memory_mb=256, file_size_mb=1024, call_timeout=30),
                      Isolation("process", switch_user=False, cgroups=True))
    try:
        with pytest.raises(StudentCrash, match="over its memory limit of 256 MiB"):
            StudentModule(Session(sandbox, 60), "mod").hoard()
    finally:
        sandbox.close()
        for leftover in Path("/dev/shm").glob("hoard*"):
            leftover.unlink()


@needs_cgroups
def test_freeze_stops_cpu_time_and_close_leaves_no_cgroup(make_module, isolation):
    if not isolation.cgroups:
        pytest.skip("the process-only fallback has no cgroup")
    # Tagged: other tests (and other test processes) run spinners of their own meanwhile.
    tag = f"spinner-{uuid.uuid4().hex}"
    mod = make_module(f"""
        import os, subprocess
        def spin():
            subprocess.Popen(["python3", "-c", "while True: pass  # {tag}"], start_new_session=True)
            return os.getpid()
    """)
    mod.spin()
    cgroup = mod._session.sandbox.cgroup
    time.sleep(0.5)
    cgroup.freeze()
    frozen_at = cgroup.cpu_seconds()
    time.sleep(0.5)
    assert cgroup.cpu_seconds() - frozen_at < 0.05
    cgroup.thaw()
    time.sleep(0.5)
    assert cgroup.cpu_seconds() - frozen_at > 0.1
    folders = list(cgroup.folders.values())
    mod._session.sandbox.close()
    assert not any(folder.exists() for folder in folders)
    assert cgroup.folders == {}
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _runs_spinner(p, tag)]


def _runs_spinner(pid: str, tag: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return tag.encode() in f.read()
    except OSError:
        return False


@needs_cgroups
def test_a_frozen_cgroup_left_by_a_dead_grader_is_thawed_killed_and_removed():
    # A grader killed while it timed the reference leaves the student frozen; SIGKILL alone
    # never reaches a frozen task, so it would hold its memory forever.
    import subprocess

    if "freezer" not in HOST.parents:
        pytest.skip("no freezer here")
    # The "grader" lives until its cgroup is set up: any grader starting meanwhile (tests run
    # in parallel) sweeps the cgroups of dead graders, and would take this one half made.
    grader = subprocess.Popen(["sleep", "600"])
    name = f"{cgroups.PREFIX}{grader.pid}-1"
    folders = {c: parent / name for c, parent in HOST.parents.items()}
    for folder in set(folders.values()):
        folder.mkdir()
    sleeper = subprocess.Popen(cgroups.Cgroup.enter_command(
        type("G", (), {"folders": folders})(), ["sleep", "600"]))
    time.sleep(0.3)
    cgroups._set_frozen(folders["freezer"], HOST.version, True)
    grader.kill()
    grader.wait()  # dead now: this sweep, or a parallel one, must thaw, kill and remove
    cgroups._remove_stale(HOST.parents.values())
    assert sleeper.wait(timeout=10) == -9
    assert not any(folder.exists() for folder in folders.values())
