"""What the kernel says about memory: the container's limit, and how often its OOM killer struck.

Gradescope runs the grader in a container with a memory limit (768 MB by default); when the
processes in it need more, the kernel kills one of them (the sandboxed children volunteer, see
``childside.server._apply_limits``). Both cgroup versions are read: v2's ``memory.max`` and
``memory.events``, v1's ``memory.limit_in_bytes`` and ``memory.oom_control``, first in this
process's own cgroup, then at the mount's root (a container's usual view of itself).
"""
from __future__ import annotations

import math
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_UNLIMITED = 2**62  # v1 reports "no limit" as a huge page-rounded number


def _own_cgroup_dirs(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> list:
    """Candidate directories of this process's memory cgroup, most specific first."""
    dirs = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2 unified hierarchy
            dirs += [root / path.lstrip("/"), root]
        elif "memory" in controllers.split(","):
            dirs += [root / "memory" / path.lstrip("/"), root / "memory"]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def _read_first(names: tuple, root: Path, proc_cgroup: Path) -> str | None:
    for folder in _own_cgroup_dirs(root, proc_cgroup):
        for name in names:
            try:
                return (folder / name).read_text()
            except OSError:
                continue
    return None


def memory_limit_mb(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float:
    """The memory limit of this process's cgroup in MiB; ``math.inf`` when there is none."""
    text = _read_first(("memory.max", "memory.limit_in_bytes"), root, proc_cgroup)
    if text is None or text.strip() == "max":
        return math.inf
    try:
        limit = int(text.strip())
    except ValueError:
        return math.inf
    return math.inf if limit >= V1_UNLIMITED else limit / 2**20


def oom_kill_count(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int | None:
    """How many processes the OOM killer has killed in this cgroup; None when unknown."""
    text = _read_first(("memory.events", "memory.oom_control"), root, proc_cgroup)
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return None


def oom_kills_since(count_before: int | None) -> int:
    """Processes the OOM killer has killed in this cgroup since ``oom_kill_count()`` gave
    ``count_before``; 0 when either count is unknown."""
    now = oom_kill_count()
    return 0 if count_before is None or now is None else max(0, now - count_before)
