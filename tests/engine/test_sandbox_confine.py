"""The process isolation's own allow-list (``childside.confine``): what a confined process can
still reach, tried from a real process that confined itself."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.engine.childside import confine
from autograder.engine.sandbox import Isolation, _confinement_usable

CHILDSIDE = Path(confine.__file__).parent

needs_confinement = pytest.mark.skipif(
    confine.landlock_abi() < 6 or not confine.seccomp_supported(),
    reason="needs Landlock ABI 6+ and a seccomp filter for this machine")

# Runs in a fresh interpreter: confine, then try each way out and report what happened.
PROBE = """
import ctypes, json, os, socket, sys
sys.path.insert(0, sys.argv[1])
import confine
args = json.loads(sys.argv[2])
confine.restrict_files([sys.base_prefix, sys.prefix, "/usr", "/lib", "/lib64"], [args["work"]], ["/dev/null"])
confine.refuse_ipc()
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return type(exc).__name__
libc = ctypes.CDLL(None, use_errno=True)
def shm():
    if libc.shmget(0x7e57, 4096, 0o1666) < 0:
        raise OSError(ctypes.get_errno(), "shmget")
print(json.dumps({
    "write work": attempt(lambda: open(os.path.join(args["work"], "x"), "w").write("x")),
    "write outside": attempt(lambda: open(args["outside"], "w").write("x")),
    "read project": attempt(lambda: open(args["project"]).read()),
    "write /dev/null": attempt(lambda: open("/dev/null", "w").write("x")),
    "shmget": attempt(shm),
    "connect": attempt(lambda: socket.create_connection(("127.0.0.1", args["port"]), timeout=5)),
    "signal parent": attempt(lambda: os.kill(os.getppid(), 0)),
}))
"""


@needs_confinement
def test_a_confined_process_reaches_only_its_allow_list(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        args = {"work": str(work), "outside": str(tmp_path / "outside"), "project": __file__,
                "port": listener.getsockname()[1]}
        done = subprocess.run([sys.executable, "-I", "-c", PROBE, str(CHILDSIDE), json.dumps(args)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "write work": "ok", "write outside": "PermissionError", "read project": "PermissionError",
        "write /dev/null": "ok", "shmget": "PermissionError", "connect": "PermissionError",
        "signal parent": "PermissionError"}
    assert not (tmp_path / "outside").exists()


def test_the_report_names_what_the_process_isolation_lacks():
    bare = Isolation("process", switch_user=False).describe()
    assert "Landlock unavailable" in bare and "leave files in /tmp and /dev/shm" in bare
    assert "network refusal" in bare and "IPC refusal" in bare and "PID namespace" in bare
    confined = Isolation("process", switch_user=False, landlock=6, seccomp=True).describe()
    assert "Landlock domain (ABI 6)" in confined
    assert "network refusal" not in confined and "IPC refusal" not in confined


@needs_confinement
def test_what_a_process_cannot_apply_is_not_promised(monkeypatch):
    """A container may refuse what the kernel offers: the child would die before student code
    runs, so the grader tries each in a forked process first."""
    assert _confinement_usable() == (confine.landlock_abi(), True)

    def refused(*args):
        raise PermissionError(1, "refused by the container")

    monkeypatch.setattr(confine, "restrict_files", refused)
    assert _confinement_usable() == (0, True)
    monkeypatch.setattr(confine, "refuse_ipc", refused)
    assert _confinement_usable() == (0, False)
