"""Hostile submissions against the sandbox's containment (issue 13, classes 3, 4, 5 and 7), each
with its exact credit, and a batch of them after which nothing of theirs is left on the host.

Class 3: SysV shared memory, semaphores and message queues (an IPC namespace per sandbox).
Class 4: files outside the allow-list (the child's root holds only what it needs).
Class 5: memory hidden in a memfd, and tmpfs and disk filled from the child (a memory cgroup
that counts shmem pages; a size-capped tmpfs as the child's only writable place). A file left
in the host's /dev/shm in the process mode is charged too (tests/engine/test_cgroups.py).
Class 7: forbidden packages, whatever is imported first and however they are loaded.

The ``_process_mode`` cases hold the process isolation (no namespaces) to the same allow-list,
through Landlock and a seccomp filter (``engine.childside.confine``).
"""
from __future__ import annotations

import ctypes
import glob
import os
import tempfile
from pathlib import Path

import pytest

from autograder.engine import cgroups
from autograder.engine.sandbox import detect_isolation

from . import AllOf, Append, Write
from .harness import grade_and_check, params, processes_tagged, skipped_here
from .hostile import (S, SAME_PADDING_LOST, all_of, mentions, once, process_mode, says, shapes,
                      wrap_same_padding)

ISOLATION = detect_isolation()
FALLBACK = detect_isolation(allow_namespaces=False)
needs_namespaces = pytest.mark.skipif(not ISOLATION.namespaces, reason="namespaces refused here")
needs_confinement = pytest.mark.skipif(not (FALLBACK.landlock >= 4 and FALLBACK.seccomp), reason=(
    "no Landlock (ABI 4+) or no seccomp filter for this machine: the process isolation cannot "
    "hold files, network and IPC"))
needs_cgroups = pytest.mark.skipif(not ISOLATION.cgroups, reason="no cgroups here")
IPC_KINDS = ("shm", "sem", "msg")
# A SysV key of the case's own, from its unique tag (attacks compute the same).
KEY_CODE = 'int("@@TAG@@"[:7], 16)'

# --- class 3: SysV IPC -------------------------------------------------------------------------

CREATE_IPC = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
key = {KEY_CODE}
shm = libc.shmget(key, 1 << 20, 0o1666)  # IPC_CREAT | rw for all
libc.shmat.restype = ctypes.c_void_p
if shm >= 0:  # (refused without namespaces: -1)
    ctypes.memmove(libc.shmat(shm, None, 0), b"left by a student", 17)
print("ATTACK ipc created", shm, libc.semget(key, 1, 0o1666), libc.msgget(key, 0o1666))
"""

PROBE_HOST_IPC = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
found = libc.shmget({KEY_CODE} + 1, 0, 0)
if found >= 0:
    libc.shmat.restype = ctypes.c_void_p
    print("ATTACK CHEAT-WORKED", ctypes.string_at(libc.shmat(found, None, 0), 40))
else:
    print("ATTACK no host segment", ctypes.get_errno())
"""


def _ipc_keys(kind: str) -> set:
    """Keys of the host's SysV objects of ``kind`` (shm, sem or msg), from the kernel's list."""
    lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
    return {int(line.split()[0]) for line in lines}


def _case_key(outcome) -> int:
    return int(outcome.ctx.tag[:7], 16)


def no_ipc_left(outcome) -> None:
    key = _case_key(outcome)
    for kind in IPC_KINDS:
        assert key not in _ipc_keys(kind), f"a SysV {kind} object of the submission survived it"


def _host_segment(folder: Path, ctx) -> Path:
    """Before grading: a shared memory segment on the host holding the grader's secret."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    segment = libc.shmget(int(ctx.tag[:7], 16) + 1, 4096, 0o1600)
    assert segment >= 0, f"shmget failed: errno {ctypes.get_errno()}"
    ctypes.memmove(libc.shmat(segment, None, 0), ctx.secret.encode(), len(ctx.secret))
    return folder


def host_segment_unreached(outcome) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    segment = libc.shmget(_case_key(outcome) + 1, 0, 0)
    libc.shmctl(segment, 0, None)  # IPC_RMID: the segment was the test's own
    says("ATTACK no host segment", absent=("CHEAT-WORKED",))(outcome)


# --- class 4: files outside the allow-list ----------------------------------------------------

READ_OUTSIDE = """
import os
for path in ["/etc/passwd", "/etc/shadow", "/etc/hostname", "/work", "/opt", "/home", "/srv",
             "/mnt", "/var", "/root/.bashrc", "/sys/fs/cgroup", "/proc/1/root/work",
             "@@OTHER@@/shapes.py", "@@MARKERS@@", "@@REPO@@/reference/shapes.py",
             "@@REPO@@/autograder/suites", "@@CWD@@"]:
    try:
        seen = os.listdir(path) if os.path.isdir(path) else open(path).read()
    except OSError as exc:
        print("ATTACK unreadable", path, type(exc).__name__)
        continue
    if path != "/etc/passwd" or "root:/root" in seen:  # the sandbox's own passwd names no home
        print("ATTACK CHEAT-WORKED read", path, str(seen)[:80])
print("ATTACK outside probed")
"""

# An editable install (pip install -e) maps ``reference`` to a checkout through a finder in
# site-packages: read the finder, then import the reference from every folder it names.
EDITABLE_FINDER = """
import glob, importlib, importlib.util, os, re, sys
roots = {"@@REPO@@"}
for site in [p for p in sys.path if p.endswith("-packages")]:
    for finder in glob.glob(os.path.join(site, "__editable__*")):
        text = open(finder).read()
        print("ATTACK finder", os.path.basename(finder), len(text), "bytes")
        roots.update(os.path.dirname(p) for p in re.findall(r"'(/[^']+/reference)'", text))
stolen = None
for name in ["reference.shapes", "autograder.suites.shapes.test_shapes"]:
    try:
        stolen = importlib.import_module(name)
        print("ATTACK CHEAT-WORKED import", name)
    except Exception as exc:
        print("ATTACK import refused", name, type(exc).__name__)
for root in sorted(roots):
    try:
        spec = importlib.util.spec_from_file_location("stolen", os.path.join(root, "reference", "shapes.py"))
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        print("ATTACK CHEAT-WORKED by path", root)
    except Exception as exc:
        print("ATTACK by path refused", root, type(exc).__name__)
"""

# --- class 5: memory outside the address space, tmpfs and disk ---------------------------------

# 48 memfds of 32 MiB: beyond the part's 1024 MiB, each under RLIMIT_FSIZE, and write() maps
# nothing, so RLIMIT_AS does not see them either.
MEMFD_HOARD = """
import os
fds = [os.memfd_create("hoard") for _ in range(48)]
for fd in fds:
    for _ in range(32):
        os.write(fd, bytes(1 << 20))
print("ATTACK CHEAT-WORKED memfds kept 1.5 GiB")
"""

def fill(folders: str) -> str:
    """Write 8 MiB files into each of ``folders`` until refused; say how much fitted (once)."""
    return f"""
import os, sys
if not hasattr(sys, "_filled"):
    sys._filled = {{}}
    for folder in {folders}:
        written = 0
        try:
            while written < (2 << 30):
                with open(os.path.join(folder, f"fill-@@TAG@@-{{written}}"), "wb") as f:
                    f.write(bytes(8 << 20))
                written += 8 << 20
        except OSError as exc:
            sys._filled[folder] = (written >> 20, type(exc).__name__)
    print("ATTACK filled", sys._filled)
"""


def filled_at_most(mib: int):
    def check(outcome) -> None:
        line = next(x for x in outcome.student_output.splitlines() if x.startswith("ATTACK filled"))
        filled = eval(line.removeprefix("ATTACK filled "))  # the attack's own dict literal
        assert filled and all(size <= mib for size, _ in filled.values()), line
        assert not glob.glob(f"/tmp/fill-{outcome.ctx.tag}-*") + glob.glob(f"/dev/shm/fill-{outcome.ctx.tag}-*")
    return check


# --- class 7: forbidden packages ---------------------------------------------------------------

LOAD_TORCH_BY_PATH = """
import ctypes, glob, importlib.util, os, sys
loaded = []
for site in [p for p in sys.path if p.endswith("-packages")]:
    for library in sorted(glob.glob(os.path.join(site, "torch", "lib", "libtorch*.so"))):
        try:
            ctypes.CDLL(library)
            loaded.append(os.path.basename(library))
        except OSError:
            pass
    init = os.path.join(site, "torch", "__init__.py")
    if os.path.exists(init):
        spec = importlib.util.spec_from_file_location("torch", init)
        try:
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
            loaded.append("torch by path")
        except Exception as exc:
            print("ATTACK torch by path failed", type(exc).__name__)
print("ATTACK CHEAT-WORKED torch loaded" if loaded else "ATTACK torch nowhere", loaded)
"""

HOOK_REMOVED_THEN_TORCH = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "Forbidden" not in type(f).__name__]
for name in list(sys.modules):
    if name.startswith("torch"):
        del sys.modules[name]
torch = __import__("torch")
print("ATTACK CHEAT-WORKED torch imported", hasattr(torch, "relu"))
"""

SIBLING_UNHOOKS_TORCH = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "Forbidden" not in type(f).__name__]
from torch import relu
"""

CASES = [
    # class 3
    shapes("ipc_objects_left_behind", "same_padding creates a SysV shared memory segment, a "
           "semaphore and a message queue under a fixed key: they die with the sandbox",
           wrap_same_padding(CREATE_IPC), check=all_of(says("ATTACK ipc created"), no_ipc_left),
           marks=(needs_namespaces,)),
    shapes("ipc_reads_the_hosts_segment", "same_padding attaches to a shared memory segment the "
           "grader's host holds (as a later submission would read an earlier one's)",
           wrap_same_padding(PROBE_HOST_IPC), package=_host_segment, check=host_segment_unreached,
           marks=(needs_namespaces,)),
    # class 4
    shapes("read_outside_the_allow_list", "same_padding lists and reads the host's folders, "
           "/etc/passwd, another student's files and the grader's checkout: none exists for it",
           wrap_same_padding(READ_OUTSIDE),
           check=says("ATTACK outside probed", absent=("CHEAT-WORKED",)), marks=(needs_namespaces,)),
    shapes("reference_through_editable_install", "same_padding imports the reference through "
           "the editable install's finder in site-packages, and by every path the finder names",
           wrap_same_padding(EDITABLE_FINDER),
           check=says("ATTACK import refused reference.shapes", absent=("CHEAT-WORKED",)),
           marks=(needs_namespaces,)),
    # class 5
    shapes("memfd_beyond_the_memory_limit", "same_padding(1) writes 1.5 GiB into a memfd "
           "(no mapping, so RLIMIT_AS does not see it): the memory cgroup stops it",
           wrap_same_padding(once(MEMFD_HOARD)), fails=SAME_PADDING_LOST,
           check=all_of(mentions("shapes::test_same_padding", "over its memory limit of 1024 MiB"),
                        says(absent=("CHEAT-WORKED",))), marks=(needs_cgroups,)),
    shapes("fill_tmp_and_shm", "same_padding fills /tmp and /dev/shm with 8 MiB files: the "
           "child's tmpfs root is capped, and nothing lands on the host",
           wrap_same_padding(fill('["/tmp", "/dev/shm"]')), check=filled_at_most(128),
           marks=(needs_namespaces,)),
    shapes("fill_the_working_folder", "same_padding fills its working folder (once on the "
           "host's disk) with 8 MiB files: it lives on the capped tmpfs",
           wrap_same_padding(fill('["."]')), check=filled_at_most(128), marks=(needs_namespaces,)),
    # class 7
    shapes("torch_through_a_sibling_module", "shapes.py first imports the submission's own "
           "nn_utils.py, which imports torch: refused from the child's first instruction",
           Write("nn_utils.py", "import torch\n"), Append(S, "import nn_utils\n"),
           fails_all=(AllOf("shapes"),),
           check=mentions("shapes::test_same_padding", "importing 'torch' is not allowed here")),
    shapes("sibling_removes_the_hook_then_torch", "shapes.py imports nn_utils.py, which removes "
           "the import hook, then takes relu from torch: its folder is empty in the sandbox",
           Write("nn_utils.py", SIBLING_UNHOOKS_TORCH), Append(S, "import nn_utils\n"),
           fails_all=(AllOf("shapes"),),
           check=mentions("shapes::test_same_padding", "cannot import name 'relu' from 'torch'"),
           marks=(needs_namespaces,)),
    shapes("torch_libraries_by_path", "same_padding loads torch's shared libraries with ctypes "
           "and torch/__init__.py by path: the namespace modes hide the files",
           wrap_same_padding(LOAD_TORCH_BY_PATH),
           check=says("ATTACK torch nowhere", absent=("CHEAT-WORKED",)), marks=(needs_namespaces,)),
    shapes("torch_libraries_by_path_process_mode", "same_padding(1) loads torch's shared "
           "libraries by path (process isolation: the files are there): the grader sees them "
           "mapped and fails the call", wrap_same_padding(once(LOAD_TORCH_BY_PATH)),
           fails=SAME_PADDING_LOST, namespaces=False,
           check=mentions("shapes::test_same_padding", "of a package this part refuses")),
    shapes("hook_removed_then_torch_process_mode", "same_padding(1) removes the import hook, "
           "clears torch from sys.modules and imports it (process isolation)",
           wrap_same_padding(once(HOOK_REMOVED_THEN_TORCH)), fails=SAME_PADDING_LOST,
           namespaces=False, check=mentions("shapes::test_same_padding", "of a package this part refuses")),
]


# The same attacks without namespaces: Landlock keeps the files, seccomp the IPC objects.
CASES += [process_mode(c, needs_confinement) for c in CASES if c.name in (
    "ipc_objects_left_behind", "read_outside_the_allow_list", "reference_through_editable_install",
    "fill_tmp_and_shm")]


# The cases that try to leave something on the host are graded (once) in the leftovers batch.
LEAVE_SOMETHING = ("ipc_objects_left_behind", "fill_tmp_and_shm", "fill_the_working_folder",
                   "memfd_beyond_the_memory_limit")


def _leaves_something(case) -> bool:
    return case.name.removesuffix("_process_mode") in LEAVE_SOMETHING


@pytest.mark.parametrize("case", params([c for c in CASES if not _leaves_something(c)]))
def test_hostile_isolation(case, tmp_path, validator):
    grade_and_check(case, tmp_path, validator)


# --- leftovers: nothing of a hostile batch survives it ----------------------------------------

LEFTOVERS = {mode: [c for c in CASES if _leaves_something(c) and not skipped_here(c)
                    and c.namespaces == (mode == "namespaces")] for mode in ("namespaces", "process")}


def _snapshot(tags: list) -> dict:
    """What a submission could leave on the host: processes (tagged, or in a sandbox cgroup of
    this process), SysV objects, files in the scratch folder and (tagged) in /dev/shm and /tmp,
    cgroups, mounts."""
    mine = f"{cgroups.PREFIX}{os.getpid()}-"
    in_my_cgroups = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and mine in Path(f"/proc/{entry.name}/cgroup").read_text():
                in_my_cgroups.append(int(entry.name))
        except OSError:
            pass
    support = cgroups.detect()
    return {
        "processes": sorted(in_my_cgroups + [p for tag in tags for p in processes_tagged(tag)]),
        "ipc": {kind: sorted(_ipc_keys(kind)) for kind in IPC_KINDS},
        "scratch": sorted(os.listdir(tempfile.gettempdir())),
        "tmp": sorted(n for n in os.listdir("/tmp") if any(tag in n for tag in tags)),
        # (others' processes use the host's /dev/shm meanwhile; the attacks name files by tag)
        "dev_shm": sorted(n for n in os.listdir("/dev/shm") if any(tag in n for tag in tags)),
        "cgroups": sorted(str(p) for parent in set(support.parents.values()) for p in parent.glob(f"{mine}*")),
        "mounts": Path("/proc/self/mountinfo").read_text(),
    }


@pytest.mark.parametrize("mode", [pytest.param("namespaces", marks=needs_namespaces),
                                  pytest.param("process", marks=needs_confinement)])
def test_nothing_survives_a_hostile_batch(mode, tmp_path, monkeypatch, validator):
    """Each case of the batch gets its exact credit; before and after it, processes, SysV
    objects, the grader's scratch folder, the attacks' files in /tmp and /dev/shm, sandbox
    cgroups and mounts are the same."""
    scratch = tmp_path / "scratch"  # the grader's temporary files: none of other test runs
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = _snapshot([])
    tags = []
    for case in LEFTOVERS[mode]:
        tags.append(grade_and_check(case, tmp_path / case.name, validator).ctx.tag)
    after = _snapshot(tags)
    assert after == before
    assert os.listdir(scratch) == []
