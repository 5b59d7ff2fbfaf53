"""Start, talk to and kill the child process that runs student code.

The grader (this process) holds the tests, the reference and the score; the child holds only a
scratch copy of the submission. Isolation is the strongest the host allows, detected once:

* ``namespaces+user``: new network, mount, PID, IPC and UTS namespaces (``unshare``), a root
  file system of its own that holds only what is allowed (Python, system libraries, a few
  devices, a copy of the submission on a size-capped tmpfs; see ``childside.server``), and an
  unprivileged uid of its own (needs root, as on Gradescope).
* ``namespaces``: the same inside a user namespace (no root needed), same uid, no capabilities.
* ``process``: a plain child process in its own session (a uid of its own when root), which
  confines itself where the kernel allows (``childside.confine``): a Landlock domain reaching
  only the same allow-list, no TCP, no signal out; SysV and POSIX message-queue IPC refused.

Every mode sets resource limits, passes a clean environment, and kills the child's whole process
tree (``setsid`` escapees included) when the sandbox is closed. Where the host allows, each
sandbox also has a cgroup (``cgroups``): memory including shared memory and tmpfs, a process
limit, CPU time, freezing. ``Isolation.describe`` names what a host could not give.
"""
from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import functools
import glob
import importlib.util
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from . import cgroups
from .childside import confine, protocol
from .memory import oom_kill_count, oom_kills_since
from .procfs import process_table

RUNTIME_PACKAGE = "_grader_runtime"
PR_SET_CHILD_SUBREAPER = 36
# glibc otherwise raises its mmap threshold after each large free (up to 32 MiB) and keeps what
# is freed below it: a torch child then holds its high-water mark, ~130 MiB above what it uses,
# and the CIFAR-10 part (two torch children) outgrows Gradescope's 768 MB. A fixed threshold
# gives large buffers back when freed, for ~15% more time in torch code (the same on both sides
# of a timing comparison).
MALLOC_MMAP_THRESHOLD_BYTES = 128 * 1024
# Tasks in a sandbox's cgroup besides student code: the entering shell, setpriv, unshare and
# the namespace's PID 1; the cgroup's process limit leaves room for them.
WRAPPER_TASKS = 4
# All a namespaced child sees of the host besides the Python installation (an allow-list):
# system folders the interpreter and its libraries load from, read-only, and a few devices.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                "/etc/ld.so.cache", "/etc/localtime", "/sys/devices/system/cpu")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
# With an NVIDIA GPU: its device nodes, and the hardware description its driver library reads.
GPU_DEVICES, GPU_PATHS = "/dev/nvidia*", ("/sys/bus/pci", "/sys/devices")
# Room on the child's own root (a tmpfs) beyond its copy of the submission: /tmp, /dev/shm and
# what student code writes, all charged to the sandbox's memory cgroup.
ROOT_SPARE_MB = 16


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits for one child process (see ``autograder.config`` for the descriptions)."""

    call_timeout: float = 30.0
    memory_mb: int = 2048
    cpu_seconds: int = 600
    file_size_mb: int = 64
    max_processes: int = 64
    max_output_kb: int = 64
    max_message_mb: int = 512
    threads: int = 1


@dataclasses.dataclass(frozen=True)
class Isolation:
    mode: str  # "namespaces+user" | "namespaces" | "process"
    switch_user: bool
    cgroups: bool = False  # a cgroup per sandbox (``cgroups.detect()`` says with which controllers)
    landlock: int = 0  # process mode: the Landlock ABI the child confines itself with (0: none)
    seccomp: bool = False  # process mode: the child refuses IPC objects with a seccomp filter

    @property
    def namespaces(self) -> bool:
        return self.mode.startswith("namespaces")

    def missing(self) -> list:
        """The guarantees this host could not give, in words (empty when none is missing)."""
        support = cgroups.detect() if self.cgroups else cgroups.Support(None, {})
        missing = support.missing()
        if self.namespaces:
            return missing
        return missing + [text for lacking, text in (
            (True, "PID namespace (student code sees the host's processes)"),
            (True, "disk quota (its working folder is on the host's disk; RLIMIT_FSIZE bounds each file)"),
            (self.landlock < 4, "network refusal (student code may open TCP connections)"),
            (self.landlock < 6, "signal scoping (student code may signal this user's processes)"),
            (not self.seccomp, "IPC refusal (SysV IPC objects it creates are visible to, and "
                               "outlive, other sandboxes)"),
        ) if lacking]

    def describe(self) -> str:
        parts = {
            "namespaces+user": "separate process in new network, mount, PID, IPC and UTS "
                               "namespaces, seeing only Python and its submission, running as "
                               "an unprivileged user",
            "namespaces": "separate process in new user, network, mount, PID, IPC and UTS "
                          "namespaces, seeing only Python and its submission (same user: not "
                          "running as root)",
            "process": (f"separate process with resource limits, in a Landlock domain (ABI "
                        f"{self.landlock}) seeing only Python and its submission (namespaces "
                        "unavailable)" if self.landlock else
                        "separate process with resource limits only (namespaces and Landlock "
                        "unavailable: student code could read files this user can read, and "
                        "leave files in /tmp and /dev/shm)"),
        }[self.mode]
        if self.mode == "process" and self.switch_user:
            parts += ", running as an unprivileged user"
        elif self.mode == "process" and os.geteuid() == 0:
            parts += ", NOT switching user: Python is not readable by other users here"
        missing = self.missing()
        return parts + (f"; missing: {'; '.join(missing)}" if missing else "")


@functools.lru_cache(maxsize=None)
def detect_isolation(allow_namespaces: bool = True) -> Isolation:
    """Probe once for the strongest isolation this host allows."""
    root = os.geteuid() == 0
    with_cgroups = bool(cgroups.detect().parents)
    unshare = shutil.which("unshare")
    if allow_namespaces and unshare:
        base = [unshare, "--net", "--mount", "--pid", "--fork", "--mount-proc"]
        attempts = ([(base, "namespaces+user")] if root else []) + [
            (base[:1] + ["--user", "--map-root-user"] + base[1:], "namespaces")]
        for cmd, mode in attempts:
            try:
                ok = subprocess.run(cmd + ["true"], capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            if ok:
                return Isolation(mode, switch_user=(mode == "namespaces+user"), cgroups=with_cgroups)
    # Without mount namespaces the child can only switch user if it can still read Python.
    landlock, seccomp = _confinement_usable()
    return Isolation("process", switch_user=root and python_readable_by_others(), cgroups=with_cgroups,
                     landlock=landlock, seccomp=seccomp)


def _confinement_usable() -> tuple:
    """(Landlock ABI, seccomp filter) a process here can really confine itself with, tried in
    a forked process: a container may refuse what the kernel offers, and a child that cannot
    confine itself dies before student code runs, failing every test."""
    abi, seccomp = confine.landlock_abi(), confine.seccomp_supported()
    if not (abi or seccomp):
        return 0, False
    pid = os.fork()
    if pid == 0:
        failed = 0
        for bit, attempt in ((1, lambda: abi and confine.restrict_files([], [], [])),
                             (2, lambda: seccomp and confine.refuse_ipc())):
            try:
                attempt()
            except OSError:
                failed |= bit
        os._exit(failed)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    failed = 3 if code < 0 else code  # killed by a signal: neither can be trusted
    return (0 if failed & 1 else abi), (seccomp and not failed & 2)


@dataclasses.dataclass(frozen=True)
class SandboxFactory:
    """The one way to start student code: every command that runs it (``grade run``, ``grade
    check``, ``grade calibrate``) makes its sandboxes here, with the configured limits.

    ``general``: the configuration's process limits (grading.toml's ``[limits]`` as a mapping,
    or the handout's ``check.toml``); each ``Limits`` field found there is used, the rest keep
    their defaults. ``hidden``: paths no sandbox of this run may see.
    """

    general: Mapping
    isolation: Isolation
    hidden: tuple = ()

    def limits(self, call_timeout: float, memory_mb: int, threads: int | None = None) -> Limits:
        """A part's limits: its call time-out, memory and threads over the general limits."""
        shared = {f.name: self.general[f.name] for f in dataclasses.fields(Limits) if f.name in self.general}
        return Limits(**{**shared, "call_timeout": call_timeout, "memory_mb": memory_mb,
                         "threads": threads or shared.get("threads", Limits.threads)})

    def open(self, root: Path, limits: Limits, forbid: tuple = (), forbid_reason: str = "") -> Sandbox:
        """A sandbox over ``root`` (its child starts at the first request) in which the
        packages ``forbid`` cannot be used."""
        return Sandbox(root, limits, self.isolation, self.hidden, forbid, forbid_reason)


class ChildFailed(Exception):
    """The child died, hung or broke the protocol; ``reason`` says which, for the student."""

    def __init__(self, reason: str, timed_out: bool = False, out_of_memory: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out
        self.out_of_memory = out_of_memory  # killed by the kernel because the machine ran out


class _OutputTap(threading.Thread):
    """Drains the child's stdout/stderr so it can never block, keeping a bounded head."""

    def __init__(self, fd: int, limit: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.limit = fd, limit
        self.kept = bytearray()
        self.dropped = 0

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            room = self.limit - len(self.kept)
            self.kept += chunk[:max(room, 0)]
            self.dropped += max(len(chunk) - max(room, 0), 0)
        os.close(self.fd)

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n... [{self.dropped} more bytes of output not shown]"
        return text


class Sandbox:
    """One isolated child at a time over one submission; restarted on demand after a failure.

    ``request`` sends one protocol message and waits for the reply within a deadline. On a
    time-out, crash or garbled reply the child's whole process tree is killed and ``ChildFailed``
    is raised; the next ``request`` starts a fresh child on a fresh copy of the submission.
    """

    def __init__(self, submission_dir: Path, limits: Limits, isolation: Isolation,
                 hidden_paths: tuple = (), forbid: tuple = (), forbid_reason: str = "") -> None:
        """``hidden_paths``: folders the child must not see even inside the Python installation
        (the grader's package when it is installed there). ``forbid``: packages the student may
        not use (``forbid_reason`` says why), refused from the child's first instruction: the
        import hook refuses them, the namespace modes hide their folders, and the grader kills a
        child that has their libraries loaded anyway (see ``_refuse_forbidden_libraries``)."""
        self.submission_dir = Path(submission_dir)
        self.limits = limits
        self.isolation = isolation
        self.hidden_paths = tuple(str(Path(p).resolve()) for p in hidden_paths)
        self.forbid, self.forbid_reason = tuple(forbid), forbid_reason
        self.denied_paths = tuple(str(Path(p).resolve()) for p in package_paths(self.forbid))
        self.incarnation = 0
        self._uid_lease = _UidLease() if isolation.switch_user else None
        self.uid = self._uid_lease.uid if self._uid_lease else None
        self._scratch = Path(tempfile.mkdtemp(prefix="grade-sandbox-"))
        os.chmod(self._scratch, 0o711)
        self._runtime = self._scratch / "runtime"
        self._root = self._scratch / "root"  # where a namespaced child mounts its own root
        self._root.mkdir()
        self._shared = self._scratch / "shared"  # the only host folder a namespaced child sees
        self._shared.mkdir(mode=0o711)
        shutil.copytree(Path(__file__).parent / "childside", self._runtime / RUNTIME_PACKAGE,
                        ignore=shutil.ignore_patterns("__pycache__"), copy_function=shutil.copyfile)
        for path in [self._runtime, *self._runtime.rglob("*")]:
            # readable by the unprivileged child, whatever the modes of the installed source
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        # Everything the child ever starts runs in this cgroup (None where the host has none).
        self.cgroup = cgroups.Cgroup.create(limits.memory_mb * 1024 * 1024,
                                            limits.max_processes + WRAPPER_TASKS) if isolation.cgroups else None
        self._proc: subprocess.Popen | None = None
        self._taps: list[_OutputTap] = []
        self._reader: protocol.MessageReader | None = None
        if not isolation.namespaces:
            _become_subreaper()

    # -- lifecycle --

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's first process, the root of its process tree (``engine.guard``)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def scratch(self) -> Path:
        """A folder the child sees at the same path and may write (``engine.arena``)."""
        return self._shared

    def start(self) -> None:
        self.kill()
        self.incarnation += 1
        workdir = self._scratch / f"work{self.incarnation}"
        shutil.copytree(self.submission_dir, workdir, symlinks=True)  # never follow links
        if self.uid is not None and not self.isolation.namespaces:  # there the child copies it
            for path in [workdir, *workdir.rglob("*")]:
                os.lchown(path, self.uid, self.uid)
        os.chmod(workdir, 0o700)
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        out_r, out_w = os.pipe()
        config = {
            "namespaces": self.isolation.namespaces,
            "uid": self.uid,
            "workdir": str(workdir),
            "runtime": str(self._runtime),
            "fds": [to_child_r, from_child_w],
            "limits": {**dataclasses.asdict(self.limits), "nproc": self._nproc_limit()},
            "forbid": list(self.forbid), "forbid_reason": self.forbid_reason,
            "confine": {"landlock": self.isolation.landlock, "seccomp": self.isolation.seccomp},
            **self._root_config(workdir),
        }
        boot = (f"import sys; sys.path.insert(0, {str(self._runtime)!r}); "
                f"from {RUNTIME_PACKAGE}.server import main; main(sys.argv[1])")
        cmd = [sys.executable, "-I", "-c", boot, json.dumps(config)]
        if self.isolation.namespaces:
            prefix = ["unshare"]
            if self.isolation.mode == "namespaces":
                prefix += ["--user", "--map-root-user"]
            cmd = prefix + ["--net", "--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--"] + cmd
        if shutil.which("setpriv"):  # the child dies with the grader, even a SIGKILLed grader
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        if self.cgroup is not None:
            cmd = self.cgroup.enter_command(cmd)
            self.cgroup.reset_peak()
            self._memory_events_at_start = self.cgroup.memory_events()
        self._oom_kills_at_start = oom_kill_count()
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w,
                pass_fds=(to_child_r, from_child_w), env=self._child_env(workdir),
                start_new_session=True, cwd=str(workdir))
        finally:
            for fd in (to_child_r, from_child_w, out_w):
                os.close(fd)
        self._to_child, self._from_child = to_child_w, from_child_r
        os.set_blocking(self._to_child, False)
        os.set_blocking(self._from_child, False)
        self._reader = protocol.MessageReader(self.limits.max_message_mb * 1024 * 1024)
        tap = _OutputTap(out_r, self.limits.max_output_kb * 1024)
        tap.start()
        self._taps.append(tap)

    def kill(self) -> None:
        """Kill the child and everything it started; safe to call at any time."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        try:  # the whole session; in namespace mode this takes down PID 1 and so the namespace
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self.uid is not None:
            _kill_all_of_uid(self.uid)
        if not self.isolation.namespaces:
            _kill_orphans()

    def close(self) -> None:
        self.kill()
        for tap in self._taps:
            tap.join(timeout=2)
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self.cgroup is not None:
            self.cgroup.close()
        if self._uid_lease:
            self._uid_lease.release()

    def output(self) -> str:
        """What student code printed (bounded), across all incarnations."""
        return "".join(tap.text() for tap in self._taps)

    # -- requests --

    def request(self, header: dict, buffers: list, timeout: float, reply_limit: int | None = None):
        """Send a message, return the reply ``(header, buffers)``; ``ChildFailed`` on trouble,
        ``ProtocolError`` for a reply that is malformed or longer than ``reply_limit`` bytes
        (default: ``limits.max_message_mb``); the child is killed in both cases."""
        if not self.alive:
            self.start()
        deadline = time.monotonic() + timeout
        try:
            self._send(protocol.pack(header, buffers), deadline)
            reply = self._receive(deadline, reply_limit or self.limits.max_message_mb * 2**20)
            if self.denied_paths and not header.get("discard"):  # not in timed runs: see there
                self._refuse_forbidden_libraries()
            return reply
        except (ChildFailed, protocol.ProtocolError):
            self.kill()
            raise

    def _send(self, chunks: list, deadline: float) -> None:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                self._wait(self._to_child, deadline, write=True)
                try:
                    view = view[os.write(self._to_child, view):]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    raise self._death() from None

    def _receive(self, deadline: float, reply_limit: int):
        """The next reply; the reader refuses it once it announces more than ``reply_limit``
        bytes, so no more than that is ever held for it."""
        self._reader.max_bytes = reply_limit
        while True:
            message = self._reader.take()
            if message is not None:
                return message
            self._wait(self._from_child, deadline, write=False)
            try:
                chunk = os.read(self._from_child, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise self._death()
            self._reader.feed(chunk)

    def _wait(self, fd: int, deadline: float, write: bool) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChildFailed("time limit exceeded", timed_out=True)
        ready = select.select([], [fd], [], remaining) if write else select.select([fd], [], [], remaining)
        if not any(ready):
            raise ChildFailed("time limit exceeded", timed_out=True)

    def _death(self) -> ChildFailed:
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return ChildFailed("the student process stopped answering")
        if code < 0 or code > 128:
            signum = -code if code < 0 else code - 128
            name = signal.Signals(signum).name if signum in signal.valid_signals() else str(signum)
            hint = {"SIGSEGV": " (a segmentation fault)", "SIGKILL": " (often: out of memory)",
                    "SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)"}.get(name, "")
            if name == "SIGKILL" and self._hit_own_memory_limit():
                return ChildFailed(f"the student process went over its memory limit of "
                                   f"{self.limits.memory_mb} MiB (shared memory and tmpfs files "
                                   "count) and was killed")
            if name == "SIGKILL" and (oom_kills_since(self._oom_kills_at_start) or self._killed_for_memory()):
                return ChildFailed("the student process was killed by the kernel's out-of-memory "
                                   "killer (SIGKILL): the grading machine or container ran out of "
                                   "memory", out_of_memory=True)
            return ChildFailed(f"the student process was killed by {name}{hint}")
        return ChildFailed(f"the student process exited with code {code} (did the code call os._exit?)")

    # -- helpers --

    def _refuse_forbidden_libraries(self) -> None:
        """Fail the request when a process of the child has a file of a forbidden package
        mapped (e.g. torch's libraries, loaded by path or after removing the import hook).

        Read by the grader from the kernel's ``/proc/PID/maps``, which nothing in the child can
        patch. Timed runs (``discard``) are not checked, so that the check costs neither side
        of a timing comparison; the untimed call that follows them is, and a library once
        loaded stays mapped.
        """
        pids = self.cgroup.pids() if self.cgroup is not None else [self._proc.pid]
        for pid in pids:
            try:
                with open(f"/proc/{pid}/maps", "rb") as maps:
                    raw = maps.read()
            except OSError:  # gone, or no /proc (macOS): the import hook alone refuses
                continue
            # Decoded and parsed only when a refused folder appears at all (this runs after
            # every request: parsing every map cost 0.4 s of CPU per submission).
            if not any(os.fsencode(denied + os.sep) in raw for denied in self.denied_paths):
                continue
            mapped = {line.split(maxsplit=5)[-1].strip() for line in os.fsdecode(raw).splitlines() if "/" in line}
            for path in sorted(mapped):
                if any(path.startswith(denied + os.sep) for denied in self.denied_paths):
                    raise ChildFailed(f"the student process loaded {path.rsplit(os.sep, 1)[-1]} "
                                      f"of a package this part refuses ({self.forbid_reason})")

    def _root_config(self, workdir: Path) -> dict:
        """What the child puts on its own root (see ``childside.server._build_root``); in the
        process mode, what its Landlock domain reaches (``childside.server._confine``)."""
        python = _python_paths()
        gpu = sorted(glob.glob(GPU_DEVICES))
        size = sum(p.lstat().st_size for p in workdir.rglob("*")) // 2**20
        user = f"sandbox:x:{self.uid}:{self.uid}::{workdir}:/bin/sh\n" if self.uid is not None else ""
        return {
            "root": str(self._root),
            "root_mb": size + self.limits.file_size_mb + ROOT_SPARE_MB,
            "expose_ro": sorted(set(python) | set(SYSTEM_PATHS) | {str(self._runtime)}
                                | (set(GPU_PATHS) if gpu else set())),
            "devices": list(DEVICES) + gpu,
            "expose_rw": [str(self._shared)],
            "hide": sorted(set(self.hidden_paths) | set(self.denied_paths) | set(_editable_finders(python))),
            "etc": {"passwd": "root:x:0:0::/:/bin/sh\n" + user, "group": "root:x:0:\n"},
        }

    def _killed_for_memory(self) -> bool:
        return (self.cgroup is not None
                and self.cgroup.memory_events().oom_kills > self._memory_events_at_start.oom_kills)

    def _hit_own_memory_limit(self) -> bool:
        return (self._killed_for_memory()
                and self.cgroup.memory_events().limit_hits > self._memory_events_at_start.limit_hits)

    def _child_env(self, workdir: Path) -> dict:
        n = str(self.limits.threads)
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir),
                "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
                "OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n,
                "MALLOC_MMAP_THRESHOLD_": str(MALLOC_MMAP_THRESHOLD_BYTES)}

    def _nproc_limit(self) -> int | None:
        if self.uid is not None:
            return self.limits.max_processes  # counted for the sandbox's own uid only
        if os.geteuid() == 0:
            return None  # root ignores RLIMIT_NPROC; the PID namespace contains the tree
        running = _count_processes_of(os.getuid())
        return None if running is None else running + self.limits.max_processes


def python_readable_by_others() -> bool:
    """Whether an unprivileged uid can reach the interpreter's files (not so under /root)."""
    for prefix in {sys.base_prefix, sys.prefix}:
        path = Path(prefix).resolve()
        for folder in [path, *path.parents]:
            if not folder.stat().st_mode & 0o001:
                return False
    return True


def package_paths(names: tuple) -> tuple:
    """Where the installed packages ``names`` live (found without importing them)."""
    paths = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            paths += list(spec.submodule_search_locations or [spec.origin])
    return tuple(p for p in paths if p)


def _editable_finders(python_paths: list) -> list:
    """The files of editable installs (``pip install -e``) in the exposed site-packages: they
    map packages such as ``reference`` to a checkout, which the child must not even look for."""
    return [str(p) for folder in python_paths for p in Path(folder).glob("__editable__*")]


def _python_paths() -> list:
    """The interpreter and its packages, exposed read-only to a namespaced child."""
    import site

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(site.getsitepackages())
    return sorted(p for p in {os.path.realpath(p) for p in paths} if os.path.isdir(p))


class _UidLease:
    """A uid no other live sandbox on this host uses, held by an flock until released.

    Sandboxes must not share a uid: each is killed with ``kill(-1)`` as its uid, and NPROC counts
    per uid. The lock dies with the process holding it, so a crashed grader frees its uid.
    """

    FIRST, COUNT = 61000, 4000
    LOCKS = Path(tempfile.gettempdir()) / ".grade-sandbox-uids"

    def __init__(self) -> None:
        self.LOCKS.mkdir(mode=0o700, exist_ok=True)
        start = (os.getpid() * 7919) % self.COUNT
        for offset in range(self.COUNT):
            uid = self.FIRST + (start + offset) % self.COUNT
            fd = os.open(self.LOCKS / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise RuntimeError(f"all {self.COUNT} sandbox uids are in use")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _count_processes_of(uid: int) -> int | None:
    """Processes of ``uid`` now; None where there is no /proc to count them (macOS)."""
    if not os.path.isdir("/proc/self"):
        return None
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


def _kill_all_of_uid(uid: int) -> None:
    """kill(-1) as the sandbox uid kills every process of that uid, wherever it hides."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _become_subreaper() -> None:
    """Orphans of the child (e.g. after ``setsid``) re-parent to us, so we can find and kill them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _kill_orphans() -> None:
    if not os.path.isdir("/proc/self"):
        return  # no /proc (macOS): only the session's process group was killed
    me = os.getpid()
    for _ in range(50):
        children = [pid for pid, (ppid, _) in process_table().items() if ppid == me]
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
