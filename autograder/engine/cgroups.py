"""A control group per sandbox: memory (shmem, memfd and tmpfs pages included), processes, CPU
time, freezing, and killing everything in it.

The kernel charges a page of shared memory or tmpfs to the cgroup of the process that first
touched it, so a memory limit here holds what ``RLIMIT_AS`` misses (a memfd written with
``write``, files on a tmpfs). Both cgroup versions are driven: v1 (one hierarchy per controller,
``memory``, ``pids``, ``freezer``, ``cpuacct``) and v2 (one unified hierarchy). A sandbox's
cgroup is made under the grader's own cgroup, so a container's limit still covers it.

``detect()`` says which controllers this host lets us use; where it refuses (not root, a
read-only ``/sys/fs/cgroup``), ``Cgroup.create`` returns None and ``Support.missing`` names the
guarantees that are lost, for the report.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import signal
import time
from pathlib import Path

PREFIX = "grade-sandbox-"
# Every guarantee a cgroup gives, by the controller that gives it (v1 names; v2 has them all in
# one hierarchy, freezing and CPU accounting without a controller).
GUARANTEES = {
    "memory": "a memory limit that counts shared memory, memfd and tmpfs",
    "pids": "a process-count limit for the whole sandbox",
    "freezer": "freezing the sandbox (it cannot run while the reference is timed)",
    "cpuacct": "the sandbox's CPU time, counted by the kernel",
}
V2_CONTROLLERS = ("memory", "pids")  # enabled in subtree_control; freeze and cpu.stat are core
# A v1 peak this close to the limit means the limit was reached (charges come in pages and
# batches, and reclaim keeps the peak just under the limit).
LIMIT_SLACK_BYTES = 1 << 20
_serial = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class MemoryEvents:
    oom_kills: int
    limit_hits: int


@dataclasses.dataclass(frozen=True)
class Support:
    """Which cgroup controllers this process can use, in which version, and where to make
    sandboxes: ``parents`` maps each usable controller to the folder new cgroups go in."""

    version: int | None  # 1, 2, or None when no controller is usable
    parents: dict
    reason: str = ""  # why some or all are unusable

    @property
    def controllers(self) -> frozenset:
        return frozenset(self.parents)

    def missing(self) -> list:
        """The guarantees that are lost on this host, in words."""
        return [text for name, text in GUARANTEES.items() if name not in self.parents]


def _mounts(mounts_file: Path) -> list:
    """(mount point, fstype, options) of every cgroup file system."""
    found = []
    for line in mounts_file.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            found.append((Path(fields[1]), fields[2], set(fields[3].split(","))))
    return found


def _own_paths(proc_cgroup: Path) -> dict:
    """This process's cgroup path per v1 controller, and under key ``""`` in the v2 hierarchy."""
    paths = {}
    for line in proc_cgroup.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path.lstrip("/")
    return paths


def _can_make_children(folder: Path) -> bool:
    probe = folder / f"{PREFIX}probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


@functools.lru_cache(maxsize=None)
def detect(mounts_file: Path = Path("/proc/self/mounts"),
           proc_cgroup: Path = Path("/proc/self/cgroup")) -> Support:
    """Probe once: v1 controllers where mounted as v1, else the v2 hierarchy."""
    try:
        mounts, own = _mounts(mounts_file), _own_paths(proc_cgroup)
    except (OSError, ValueError) as exc:
        return Support(None, {}, f"cgroups unreadable: {exc}")
    v1, refused = {}, []
    for point, fstype, options in mounts:
        for name in GUARANTEES:
            if fstype == "cgroup" and name in options and name in own:
                folder = point / own[name]
                if folder.is_dir() and _can_make_children(folder):
                    v1[name] = folder
                else:
                    refused.append(name)
    if refused and not v1:
        return Support(None, {}, f"cgroup v1 {', '.join(refused)} not writable (not root?)")
    if v1:
        _remove_stale(v1.values())
        return Support(1, v1, "" if len(v1) == len(GUARANTEES) else "some v1 controllers are not writable")
    v2 = next((point for point, fstype, _ in mounts if fstype == "cgroup2"), None)
    if v2 is None or "" not in own:
        return Support(None, {}, "no cgroup file system is mounted")
    folder = v2 / own[""]
    try:
        enabled = _delegate_v2(folder)
    except OSError as exc:
        return Support(None, {}, f"cgroup v2 at {folder} is not writable: {exc.strerror}")
    parents = {"freezer": folder, "cpuacct": folder}
    parents.update({name: folder for name in V2_CONTROLLERS if name in enabled})
    _remove_stale([folder])
    return Support(2, parents, "" if len(parents) == len(GUARANTEES) else
                   "the v2 memory or pids controller is not available here")


def _delegate_v2(folder: Path) -> set:
    """Enable the controllers for children of ``folder``; returns those enabled. A v2 cgroup
    that holds processes cannot hand controllers down, so the grader (and whatever shares its
    cgroup, e.g. a container's shell) first moves into a leaf of its own."""
    available = set((folder / "cgroup.controllers").read_text().split())
    enabled = {name for name in V2_CONTROLLERS if name in available}
    wanted = " ".join(f"+{name}" for name in sorted(enabled))
    if not wanted:
        if not _can_make_children(folder):
            raise PermissionError(13, "cannot create cgroups", str(folder))
        return enabled
    try:
        (folder / "cgroup.subtree_control").write_text(wanted)
        return enabled
    except OSError:
        pass
    leaf = folder / f"{PREFIX}grader"
    leaf.mkdir(exist_ok=True)
    for pid in (folder / "cgroup.procs").read_text().split():
        try:
            (leaf / "cgroup.procs").write_text(pid)
        except ProcessLookupError:
            pass
    (folder / "cgroup.subtree_control").write_text(wanted)
    return enabled


def _remove_stale(parents) -> None:
    """Remove sandbox cgroups left by a grader that died (named after its pid)."""
    stale = [child for parent in set(parents) for child in parent.glob(f"{PREFIX}*-*")
             if (pid := child.name[len(PREFIX):].split("-")[0]).isdigit()
             and not Path(f"/proc/{pid}").exists()]
    for child in stale:  # every hierarchy first: a task frozen in one cannot leave any other
        try:
            tasks = (child / "cgroup.procs").read_text().split()
        except FileNotFoundError:  # another grader starting at the same time removed it
            continue
        for task in tasks:
            _try(lambda: os.kill(int(task), signal.SIGKILL))
        # A grader killed while the student was frozen (its reference being timed) leaves the
        # cgroup frozen, and a frozen task does not act on SIGKILL until thawed.
        version = 2 if (child / "cgroup.freeze").exists() else 1
        if version == 2 or (child / "freezer.state").exists():
            _try(lambda: _set_frozen(child, version, False))
    for child in stale:
        _try(lambda: _remove(child))


class Cgroup:
    """One sandbox's cgroup, in every usable controller's hierarchy (v1) or in the unified one."""

    def __init__(self, support: Support, memory_bytes: int, max_pids: int) -> None:
        self.support = support
        name = f"{PREFIX}{os.getpid()}-{next(_serial)}"
        self.folders = {c: parent / name for c, parent in support.parents.items()}
        for folder in set(self.folders.values()):
            folder.mkdir()
        if "memory" in self.folders:
            self._set_memory(memory_bytes)
        if "pids" in self.folders:
            self._write("pids", "pids.max", str(max_pids))

    @classmethod
    def create(cls, memory_bytes: int, max_pids: int, support: Support | None = None) -> Cgroup | None:
        """A new cgroup with these limits; None where this host gives no cgroups."""
        support = support or detect()
        if not support.parents:
            return None
        return cls(support, memory_bytes, max_pids)

    # -- joining: the child enters before it runs anything --

    def enter_command(self, cmd: list) -> list:
        """``cmd`` prefixed by a shell that moves itself into this cgroup, then execs ``cmd``:
        everything the child ever starts is inside from its first instruction."""
        procs = [str(folder / "cgroup.procs") for folder in dict.fromkeys(self.folders.values())]
        script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
        return ["/bin/sh", "-c", script, "sh", *procs, "--", *cmd]

    # -- control --

    def freeze(self) -> None:
        """Stop every process in the cgroup until ``thaw``; returns once they are stopped."""
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used by every process that ever ran in this cgroup."""
        if "cpuacct" not in self.folders:
            raise RuntimeError("no CPU accounting on this host")
        if self.support.version == 1:
            return int(self._read("cpuacct", "cpuacct.usage")) / 1e9
        stat = dict(line.split() for line in self._read("cpuacct", "cpu.stat").splitlines())
        return int(stat["usage_usec"]) / 1e6

    def memory_events(self) -> MemoryEvents:
        """Processes killed for memory, and times the cgroup's own limit was reached (v1: 1
        when the peak since ``reset_peak`` reached it, as this kernel's v1 ``failcnt`` may stay
        0). A kill with no limit hit here was the machine's or a container's: both versions
        count a kill in the victim's cgroup whichever limit ran out."""
        if "memory" not in self.folders:
            return MemoryEvents(0, 0)
        if self.support.version == 1:
            events = dict(line.split() for line in self._read("memory", "memory.oom_control").splitlines())
            peak = int(self._read("memory", "memory.max_usage_in_bytes"))
            limit = int(self._read("memory", "memory.limit_in_bytes"))
            return MemoryEvents(int(events.get("oom_kill", 0)), int(peak >= limit - LIMIT_SLACK_BYTES))
        events = dict(line.split() for line in self._read("memory", "memory.events").splitlines())
        return MemoryEvents(int(events.get("oom_kill", 0)), int(events.get("max", 0)))

    def reset_peak(self) -> None:
        """Start v1's peak (see ``memory_events``) afresh; v2 counts limit hits instead."""
        if self.support.version == 1 and "memory" in self.folders:
            self._write("memory", "memory.max_usage_in_bytes", "0")

    def pids(self) -> list:
        return sorted({int(pid) for folder in set(self.folders.values())
                       for pid in (folder / "cgroup.procs").read_text().split()})

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup, those forking during the kill included, and
        wait until none is left."""
        folders = list(dict.fromkeys(self.folders.values()))
        if self.support.version == 2 and (folders[0] / "cgroup.kill").exists():
            (folders[0] / "cgroup.kill").write_text("1")
        freezer = self.folders.get("freezer")
        for _ in range(2000):
            pids = self.pids()
            if not pids:
                return
            # frozen, nothing forks between reading the list and the kill; killed tasks die
            # once thawed
            frozen = freezer is not None and _try(lambda: _set_frozen(freezer, self.support.version, True))
            for pid in pids:
                _try(lambda: os.kill(pid, signal.SIGKILL))
            if frozen:
                _set_frozen(freezer, self.support.version, False)
            time.sleep(0.005)
        raise TimeoutError(f"processes {self.pids()} survived SIGKILL")

    def close(self) -> None:
        """Kill what is left and remove the cgroup; safe to call twice."""
        if self.folders:
            self.kill_all()
        for folder in set(self.folders.values()):
            _remove(folder)
        self.folders = {}

    # -- helpers --

    def _set_memory(self, limit: int) -> None:
        if self.support.version == 2:
            self._write("memory", "memory.max", str(limit))
            if (self.folders["memory"] / "memory.swap.max").exists():
                self._write("memory", "memory.swap.max", "0")
            return
        self._write("memory", "memory.limit_in_bytes", str(limit))
        if (self.folders["memory"] / "memory.memsw.limit_in_bytes").exists():
            self._write("memory", "memory.memsw.limit_in_bytes", str(limit))  # no way out via swap

    def _set_frozen(self, frozen: bool) -> None:
        folder = self.folders.get("freezer")
        if folder is None:
            raise RuntimeError("no freezer on this host")
        _set_frozen(folder, self.support.version, frozen)

    def _read(self, controller: str, name: str) -> str:
        return (self.folders[controller] / name).read_text()

    def _write(self, controller: str, name: str, value: str) -> None:
        (self.folders[controller] / name).write_text(value)


def _set_frozen(folder: Path, version: int | None, frozen: bool) -> None:
    if version == 2:
        (folder / "cgroup.freeze").write_text("1" if frozen else "0")
        done = lambda: f"frozen {int(frozen)}" in (folder / "cgroup.events").read_text()
    else:
        want = "FROZEN" if frozen else "THAWED"
        (folder / "freezer.state").write_text(want)
        done = lambda: (folder / "freezer.state").read_text().strip() == want
    began = time.monotonic()
    while not done():
        waited = time.monotonic() - began
        if waited > 1.0:
            raise TimeoutError(f"{folder} did not {'freeze' if frozen else 'thaw'}")
        # It takes microseconds: yield at first rather than sleep (a 1 ms sleep lasted 4 ms on a
        # busy host, and the timing harness pauses a sandbox twice per 50 ms measurement).
        os.sched_yield() if waited < 0.005 else time.sleep(0.001)


def _remove(folder: Path) -> None:
    """rmdir, retried while the kernel finishes reaping the cgroup's last tasks (EBUSY)."""
    for _ in range(200):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
    folder.rmdir()


def _try(action) -> bool:
    try:
        action()
        return True
    except (OSError, TimeoutError):
        return False
