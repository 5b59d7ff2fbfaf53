"""The sandboxed child: sets up its own isolation, then serves call requests from the grader.

Started by ``autograder.engine.sandbox`` as ``python -I -c BOOT CONFIG_JSON``, in the sandbox's
cgroup, possibly inside ``unshare`` (new network, mount, PID, IPC and UTS namespaces). Steps, in
order:

0. the import hook that refuses the part's forbidden packages, before anything else.
1. (namespaces) a root of its own that holds only what the config allows (``_build_root``),
   then fork: this process stays as the namespace's PID 1 and reaps, the fork goes on. When
   the fork exits, the kernel kills everything left in the namespace, including processes that
   called ``setsid``.
2. resource limits, then (when started as root) a switch to an unprivileged uid, else (a user
   namespace) every capability dropped; without namespaces, the same allow-list and no IPC
   objects through Landlock and seccomp where the kernel has them (``confine``).
3. serve requests on the protocol pipes until the grader closes them.

Student code runs only in step 3. Nothing here is secret: the student may read or patch this
module, and gains nothing, because every verdict is computed in the grader from returned values.
"""
from __future__ import annotations

import contextlib
import ctypes
import importlib
import importlib.abc
import json
import mmap
import os
import platform
import resource
import shutil
import sys
import traceback
import types

import numpy as np

from . import confine, protocol

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_NOATIME, MS_NODIRATIME = 1, 2, 4, 8, 32, 1024, 2048
MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 4096, 16384, 1 << 18, 1 << 21
MNT_DETACH = 2
# statvfs flag -> mount flag, for the flags a remount in a user namespace must keep
KEPT_MOUNT_FLAGS = {os.ST_NOEXEC: MS_NOEXEC, os.ST_NOATIME: MS_NOATIME,
                    os.ST_NODIRATIME: MS_NODIRATIME, os.ST_RELATIME: MS_RELATIME}
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217}
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
LINUX_CAPABILITY_VERSION_3, CAP_LAST_POSSIBLE = 0x20080522, 63
MAX_MESSAGE_CHARS = 4000


def main(config_json: str) -> None:
    config = json.loads(config_json)
    if config["forbid"]:  # before anything of the student's can be imported, whatever comes first
        _refuse_imports(config["forbid"], config["forbid_reason"])
    if config["namespaces"]:
        _build_root(config)
        _become_reaper_of_forked_worker()
    _apply_limits(config["limits"])
    if config["uid"] is not None:
        _drop_privileges(config["uid"])
    elif config["namespaces"]:
        _drop_capabilities()
    if not config["namespaces"]:
        _confine(config)
    os.chdir(config["workdir"])
    sys.path[:] = [config["workdir"]] + [p for p in sys.path if p and not p.startswith(config["runtime"])]
    Server(config).serve()


# --- isolation (runs as root in the new namespaces, before any student code) ----------------

def _mount(source, target, fstype, flags, data=None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.mount(source.encode() if source else None, target.encode(),
                    fstype.encode() if fstype else None, flags, data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _build_root(config: dict) -> None:
    """Give this mount namespace a root of its own: a size-capped tmpfs holding only what
    ``config`` allows, then ``pivot_root`` into it and detach the old root, so that nothing
    else on the host exists for the child (there is no path to it, not even for a process
    with every capability in its user namespace).

    On the tmpfs: the Python installation and system libraries bound read-only
    (``expose_ro``), a few devices, the folder of files the grader shares (``expose_rw``), a
    fresh ``/proc`` for the PID namespace, a minimal ``/etc``, writable ``/tmp`` and
    ``/dev/shm``, and a copy of the submission at its usual path (the child's writable working
    folder; pages here count against the sandbox's memory cgroup).
    ``hide`` paths inside the exposed folders (the grader's package when installed there,
    editable-install finders, packages the part refuses, e.g. torch) are covered by empty
    mounts.
    """
    new = config["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=755,size={config['root_mb']}m")
    for path in sorted(config["expose_ro"], key=len):
        _expose(path, new + path, read_only=True)
    for path in config["devices"] + config["expose_rw"]:
        _expose(path, new + path, read_only=False)
    for path in config["hide"]:
        # Only inside an exposed folder is there anything to cover: elsewhere the new root holds
        # just the way to the child's own folders (a hidden /tmp may be their parent).
        if any(path == shown or path.startswith(shown.rstrip("/") + "/") for shown in config["expose_ro"]):
            _cover(new + path)
    for folder, mode in (("/tmp", 0o1777), ("/dev/shm", 0o1777), ("/proc", 0o555), ("/etc", 0o755)):
        os.makedirs(new + folder, exist_ok=True)
        os.chmod(new + folder, mode)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{new}/dev/{name}")
    for name, text in config["etc"].items():
        with open(f"{new}/etc/{name}", "w") as f:
            f.write(text)
    _mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _copy_workdir(config["workdir"], new + config["workdir"], config["uid"])
    os.chdir(new)
    _pivot_root(".", ".")
    _umount("/", MNT_DETACH)  # the old root, stacked under the new one
    os.chdir("/")


def _expose(source: str, target: str, read_only: bool) -> None:
    """Bind ``source`` at ``target`` (a symlink is recreated as one); skipped where ``source``
    is missing or already visible through an exposed parent."""
    if os.path.lexists(target) or not os.path.lexists(source):
        return
    try:
        if os.path.islink(source):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.readlink(source), target)
            return
        if os.path.isdir(source):
            os.makedirs(target)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "w").close()
    except OSError:  # under a read-only parent that is already exposed
        return
    _mount(source, target, None, MS_BIND)
    if read_only:  # keep the flags the source mount has (a user namespace may not drop them)
        flags = os.statvfs(source).f_flag
        kept = sum(ms for st, ms in KEPT_MOUNT_FLAGS.items() if flags & st)
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def _cover(target: str) -> None:
    if os.path.isdir(target) and not os.path.islink(target):
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "mode=555,size=4k")
    elif os.path.isfile(target):
        _mount("/dev/null", target, None, MS_BIND)
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)


def _copy_workdir(source: str, target: str, uid: int | None) -> None:
    shutil.copytree(source, target, symlinks=True)
    os.chmod(target, 0o700)
    if uid is not None:
        for folder, dirs, files in os.walk(target):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                os.lchown(name, uid, uid)


def _pivot_root(new_root: str, put_old: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(SYS_PIVOT_ROOT[platform.machine()], new_root.encode(), put_old.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")


def _umount(target: str, flags: int) -> None:
    if ctypes.CDLL(None, use_errno=True).umount2(target.encode(), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def _become_reaper_of_forked_worker() -> None:
    worker = os.fork()
    if worker == 0:
        return
    # PID 1 of the namespace: reap everything, exit with the worker's status.
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        if pid == worker:
            if os.WIFSIGNALED(status):
                os._exit(128 + os.WTERMSIG(status))
            os._exit(os.WEXITSTATUS(status))


def _apply_limits(limits: dict) -> None:
    mb = 1024 * 1024
    settings = {
        resource.RLIMIT_AS: limits["memory_mb"] * mb,
        resource.RLIMIT_CPU: limits["cpu_seconds"],
        resource.RLIMIT_FSIZE: limits["file_size_mb"] * mb,
        resource.RLIMIT_NOFILE: 256,
        resource.RLIMIT_CORE: 0,
    }
    if limits.get("nproc") is not None:
        settings[resource.RLIMIT_NPROC] = limits["nproc"]
    for which, value in settings.items():
        hard = resource.getrlimit(which)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):  # e.g. macOS refuses RLIMIT_AS; the time limits still hold
            pass
    try:  # when the machine runs out of memory, the kernel kills this process, never the grader
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def _confine(config: dict) -> None:
    """Without namespaces: reach only what a namespaced child would see (its own /proc entry
    for /proc), and make no IPC object, as the grader detected the kernel allows."""
    if config["confine"]["landlock"]:
        # (an NVIDIA driver also reads its /proc entries, which a namespaced child's /proc has;
        # untested here: no GPU)
        gpu = ["/proc/driver/nvidia"] if any(d.startswith("/dev/nvidia") for d in config["devices"]) else []
        confine.restrict_files(config["expose_ro"] + [f"/proc/{os.getpid()}"] + gpu,
                               config["expose_rw"] + [config["workdir"]], config["devices"])
    if config["confine"]["seccomp"]:
        confine.refuse_ipc()


def _drop_capabilities() -> None:
    """Without a uid of its own, the child is root in its user namespace, with every capability
    over the mounts it made: it could unmount what covers a refused package. It keeps none."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(CAP_LAST_POSSIBLE + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past this kernel's last: ignored
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


# --- serving ------------------------------------------------------------------------------

class _ForbiddenImports(importlib.abc.MetaPathFinder):
    """Refuses imports of whole packages (e.g. torch in a numpy-only part) with a clear reason."""

    def __init__(self, names: list, reason: str) -> None:
        self.names, self.reason = set(names), reason

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ImportError(f"importing {fullname!r} is not allowed here: {self.reason}")
        return None


def _refuse_imports(names: list, reason: str) -> None:
    """Refuse ``names`` from now on (added to the refusals already in place)."""
    guard = next((f for f in sys.meta_path if isinstance(f, _ForbiddenImports)), None)
    if guard is None:
        sys.meta_path.insert(0, _ForbiddenImports(names, reason))
    else:
        guard.names.update(names)


class StudentFailure(Exception):
    """Carries a structured error reply back to the grader."""

    def __init__(self, kind: str, message: str, exc: BaseException | None = None, **extra) -> None:
        super().__init__(message)
        self.reply = {"ok": False, "kind": kind, "message": message[:MAX_MESSAGE_CHARS], **extra}
        if exc is not None:
            self.reply["types"] = [cls.__name__ for cls in type(exc).__mro__][:20]
            self.reply["type"] = type(exc).__name__


class Server:
    def __init__(self, config: dict) -> None:
        self.workdir = config["workdir"]
        self.fd_in, self.fd_out = config["fds"]
        self.max_bytes = config["limits"]["max_message_mb"] * 1024 * 1024
        self.objects: dict = {}
        self.next_id = 1
        self.last_result = None
        # The arena of the timed requests, mapped once: a mapping made anew for each request
        # took a page fault per page on every run, inside the timed window (both sides alike,
        # which pulled every ratio towards 1: a 4x slower max pool measured 2.2x, not 3.7x).
        self.arena: _GraderMemory | None = None

    def serve(self) -> None:
        while True:
            message = protocol.read_message(self.fd_in, self.max_bytes)
            if message is None:
                os._exit(0)
            header, buffers = message
            out_buffers: list = []
            try:
                reply = {"ok": True, **self.dispatch(header, buffers, out_buffers)}
            except StudentFailure as failure:
                reply, out_buffers = failure.reply, []
            except protocol.ProtocolError as exc:
                reply, out_buffers = {"ok": False, "kind": "bad_request", "message": str(exc)}, []
            except BaseException as exc:  # e.g. a grader helper that hit broken student code
                reply, out_buffers = StudentFailure("exception", _describe(exc), exc,
                                                    traceback=self.student_frames(exc)).reply, []
            protocol.write_message(self.fd_out, reply, out_buffers)

    def arena_at(self, path: str) -> _GraderMemory:
        """The arena at ``path``, kept mapped while requests name it; one at a time, so that a
        finished comparison's memory is let go."""
        if self.arena is None or self.arena.path != path:
            self.arena = _GraderMemory(path)
        return self.arena

    def dispatch(self, header: dict, buffers: list, out: list) -> dict:
        op = header.get("op")
        if op == "ping":
            return {}
        if op == "import":
            return self.import_module(header["module"], header.get("forbid") or [], header.get("reason", ""))
        if op == "load_helper":
            module = types.ModuleType(header["name"])
            exec(compile(header["source"], f"<grader helper {header['name']}>", "exec"), module.__dict__)
            sys.modules[header["name"]] = module
            return {}
        if op == "put":
            value = protocol.decode(header["value"], buffers, self.resolve)
            return {"value": protocol.encode(self.store(value), out)}
        if op == "release":
            for ident in header["ids"]:
                self.objects.pop(ident, None)
            return {}
        if op == "call":
            return self.call(header, buffers, out)
        if op == "resend":
            return {"value": protocol.encode(_arrays_of(self.last_result), out)}
        raise protocol.ProtocolError(f"unknown op {op!r}")

    # -- ops --

    def import_module(self, name: str, forbid: list, reason: str) -> dict:
        if forbid:
            _refuse_imports(forbid, reason)
        if name not in sys.modules and not os.path.exists(os.path.join(self.workdir, name + ".py")):
            raise StudentFailure("missing_module", f"{name}.py is not in the submission")
        try:
            module = importlib.import_module(name)
        except BaseException as exc:  # SyntaxError, SystemExit at import, anything
            raise StudentFailure("import", _describe(exc), exc, traceback=self.student_frames(exc)) from None
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        return {"functions": sorted(names)}

    def call(self, header: dict, buffers: list, out: list) -> dict:
        target = header["target"]
        if "handle" in target:
            obj = self.lookup(target["handle"])
        else:
            obj = sys.modules.get(target["module"])
            if obj is None:
                raise StudentFailure("bad_request", f"module {target['module']} was not imported")
        label = target.get("label", "function")
        if target.get("attr"):
            try:
                obj = getattr(obj, target["attr"])
            except BaseException as exc:
                raise StudentFailure("missing_attr", f"{label} not found: {_describe(exc)}") from None
        if not callable(obj):
            raise StudentFailure("missing_attr", f"{label} is not callable (it is a {type(obj).__name__})")
        args = protocol.decode(header.get("args", []), buffers, self.resolve)
        kwargs = protocol.decode(header.get("kwargs", {}), buffers, self.resolve)
        check = header.get("check_mutation", False)
        result = None
        timed = _TimedSlots(header["timed"], args, self.arena_at(header["timed"]["path"])) \
            if header.get("timed") else None
        if header.get("shared"):  # the purity checks read these arrays in the grader's memory
            _GraderMemory(header["shared"]["path"]).place(header["shared"]["args"], args)
        with _pinned(header.get("cpus")):
            for run in range(max(1, int(header.get("repeat", 1)))):
                if timed is not None:
                    timed.give_input(run)
                try:
                    result = obj(*args, **kwargs)
                except BaseException as exc:  # includes SystemExit and KeyboardInterrupt on purpose
                    raise StudentFailure("exception", _describe(exc), exc,
                                         traceback=self.student_frames(exc)) from None
                if timed is not None:
                    timed.keep_output(run, result)
            if header.get("sync"):
                _synchronize(header["sync"])
        reply: dict = {}
        opaque = header.get("opaque")
        if check:  # the grader compares dict and list arguments with its own copies
            reply["args_after"] = [_encode_plain(a, out) for a in args]
        if header.get("shared"):
            self.last_result = result  # sent again (``resend``) after the grader changed the inputs
        if header.get("discard"):
            return reply
        if opaque == "all":
            result = self.store(result)
        elif opaque and isinstance(result, (tuple, list)):
            result = type(result)(self.store(v) if i in opaque and v is not None else v
                                  for i, v in enumerate(result))
        try:
            reply["value"] = protocol.encode(result, out)
        except protocol.Unencodable as exc:
            raise StudentFailure("encode", f"{label} returned {exc}") from None
        return reply

    # -- objects kept behind handles --

    def store(self, obj) -> protocol.Handle:
        ident, self.next_id = self.next_id, self.next_id + 1
        self.objects[ident] = obj
        return protocol.Handle(ident, type(obj).__name__)

    def lookup(self, ident: int):
        if ident not in self.objects:
            raise StudentFailure("stale_handle", f"object {ident} no longer exists in the sandbox")
        return self.objects[ident]

    def resolve(self, ident: int, type_name: str):
        return self.lookup(ident)

    def student_frames(self, exc: BaseException) -> list:
        """The traceback lines that point into the submission (not the grader's own frames)."""
        frames = traceback.extract_tb(exc.__traceback__)
        if isinstance(exc, SyntaxError) and exc.filename:
            frames.append(traceback.FrameSummary(exc.filename, exc.lineno or 0, "<module>",
                                                 line=(exc.text or "").strip()))
        lines = []
        for frame in frames:
            if frame.filename.startswith(self.workdir):
                name = os.path.relpath(frame.filename, self.workdir)
                lines.append(f'File "{name}", line {frame.lineno}, in {frame.name}: {(frame.line or "").strip()}'[:300])
        return lines[-8:]


@contextlib.contextmanager
def _pinned(cpus):
    """Run the block with every thread of this process on ``cpus`` (None: anywhere), then
    restore each thread's affinity.

    Both sides of a timing comparison are pinned to the same CPUs, so that neither is timed on
    a core that another process hogs while the other side runs on a free one. Every thread,
    not only this one: a thread pool (BLAS, torch) started earlier keeps its own affinity.
    """
    previous = {}
    try:
        if cpus is not None:
            wanted = {int(cpu) for cpu in cpus}
            for tid in map(int, os.listdir("/proc/self/task")):
                previous[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, wanted)
    except (OSError, ValueError, TypeError, AttributeError):  # not allowed (or macOS): unpinned
        pass
    try:
        yield
    finally:
        for tid, cpus_before in previous.items():
            try:
                os.sched_setaffinity(tid, cpus_before)
            except OSError:  # the thread has ended
                pass


class _GraderMemory:
    """A file the grader made in the scratch folder and reads itself (``engine.arena``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "r+b") as f:
            self.map = mmap.mmap(f.fileno(), 0)

    def view(self, slot: dict, base: int = 0) -> np.ndarray:
        dtype = np.dtype(slot["dtype"])
        count = int(np.prod(slot["shape"], dtype=np.int64))
        return np.frombuffer(self.map, dtype, count, base + int(slot["offset"])).reshape(slot["shape"])

    def place(self, slots: list, args: list) -> None:
        """Each argument named in ``slots`` becomes its array in this memory."""
        for slot in slots:
            args[int(slot["position"])] = self.view(slot)


class _TimedSlots:
    """The grader's arena seen from the child: run ``r`` gets slot ``r``'s input in place of
    argument ``arg`` and leaves its results in slot ``r``'s outputs, where the grader reads
    them. A result that does not fit its slot is left out (the slot keeps the grader's NaN,
    which matches nothing)."""

    def __init__(self, spec: dict, args: list, memory: _GraderMemory) -> None:
        self.memory, self.spec, self.args = memory, spec, args
        self.base = int(spec["slot_bytes"])

    def give_input(self, run: int) -> None:
        self.args[int(self.spec["arg"])] = self.memory.view(self.spec["input"], run * self.base)

    def keep_output(self, run: int, result) -> None:
        for slot in self.spec["outputs"]:
            item = result
            try:
                for index in slot["at"]:
                    item = item[index]
                np.copyto(self.memory.view(slot, run * self.base), np.asarray(item),
                          casting="same_kind")
            except Exception:  # not an array of the slot's shape: the slot stays NaN
                pass


def _cuda_synchronize() -> None:
    """Wait for every CUDA kernel this process queued: the grader's clock stops at the reply.

    The wait goes through the CUDA runtime's C entry point, found in the kernel's list of this
    process's mappings, so a submission that replaces ``torch.cuda.synchronize`` (or
    ``torch.cuda.Event``) in Python cannot shorten it. ``torch.cuda.synchronize`` is only the
    fallback for a runtime linked statically; with neither loaded, nothing ran on a GPU.
    """
    with open("/proc/self/maps") as maps:
        cudart = next((line.split()[-1] for line in maps if "libcudart.so" in line), None)
    if cudart is not None:
        status = ctypes.CDLL(cudart).cudaDeviceSynchronize()
        if status != 0:
            raise RuntimeError(f"CUDA error {status} while waiting for the GPU")
        return
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.synchronize()


# Device name (the ``sync`` field of a call request) -> how to wait for its queued work.
SYNCHRONIZERS = {"cuda": _cuda_synchronize}


def _synchronize(device: str) -> None:
    wait = SYNCHRONIZERS.get(device)
    if wait is None:
        raise protocol.ProtocolError(f"no way to synchronize device {device!r}")
    try:
        wait()
    except BaseException as exc:  # an asynchronous error of the student's kernels surfaces here
        raise StudentFailure("exception", f"waiting for the {device} device: {_describe(exc)}",
                             exc) from None


def _encode_plain(value, out: list):
    """A dict or list argument as it is after the call; None for anything else (arrays are
    read by the grader in its own memory)."""
    if not isinstance(value, (dict, list)):
        return None
    try:
        return protocol.encode(value, out)
    except protocol.Unencodable:
        return None


def _arrays_of(result) -> list:
    """The arrays among a result's items (None for the others), for the view check."""
    items = result if isinstance(result, (tuple, list)) else (result,)
    return [item if isinstance(item, np.ndarray) else None for item in items]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit: your code called sys.exit({exc.code!r})"[:MAX_MESSAGE_CHARS]
    try:  # a hostile __str__ may raise or return a non-string
        text = str(exc)[:MAX_MESSAGE_CHARS]
    except BaseException:
        text = "<the exception could not be turned into text>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
