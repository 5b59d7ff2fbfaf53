"""Keeping a sandbox still while the other side of a timing comparison is measured, and
reading the CPU time the kernel counted for it.

Processes that a submission leaves behind could stop themselves while the student's code is timed
and hog the CPUs while the reference's is, slowing only the reference. So while the reference is
timed, everything of the submission is stopped, by the strongest means the host gives:

* ``cgroup freezer``: the sandbox's cgroup (``autograder.engine.cgroups``) is frozen; every
  process in it, however it was started, stays stopped until the grader thaws it (a frozen task
  ignores ``SIGCONT``). Its CPU time is the kernel's count for the whole cgroup.
* ``SIGSTOP``: without cgroups, every process descended from the sandbox's first process (in the
  namespace modes: everything in its PID namespace) and every process of its own uid gets
  ``SIGSTOP``, then ``SIGCONT``. Its CPU time is not cross-checked (the per-process counts tick
  in 10 ms steps, too coarse for a measurement of 50 ms). One gap remains, in ``process``
  isolation without root only (no namespace, no cgroup, no uid of its own): a process that
  forks twice leaves the tree (it re-parents to the grader) and is not stopped, so it can slow
  the reference; the speed tests' points are all it can gain, and that mode is not for graded
  work (README, "How student code is kept at arm's length").
"""
from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

from .procfs import process_table

CGROUP_FREEZER = "cgroup freezer"
STOP_SIGNALS = "SIGSTOP"


class SandboxGuard:
    """Freezes (``paused``) and accounts (``cpu_seconds``) one sandbox's processes."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox

    @property
    def cgroup(self):
        return getattr(self.sandbox, "cgroup", None)

    @property
    def kind(self) -> str:
        return CGROUP_FREEZER if self._freezer() is not None else STOP_SIGNALS

    def _freezer(self):
        """The sandbox's cgroup, if it can be frozen."""
        cgroup = self.cgroup
        return cgroup if cgroup is not None and "freezer" in cgroup.folders else None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing of the sandbox runs inside the block."""
        cgroup = self._freezer()
        if cgroup is not None:
            cgroup.freeze()
            try:
                yield
            finally:
                cgroup.thaw()
            return
        stopped = _signal_all(self._processes(), signal.SIGSTOP)
        try:
            yield
        finally:
            _signal_all(stopped, signal.SIGCONT)

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds of everything that ran in the sandbox; None without a
        cgroup (see the module's docstring)."""
        cgroup = self.cgroup
        if cgroup is None:
            return None
        try:
            return float(cgroup.cpu_seconds())
        except (OSError, RuntimeError):  # no CPU accounting on this host
            return None

    def _processes(self) -> list:
        root = getattr(self.sandbox, "pid", None)
        uid = getattr(self.sandbox, "uid", None)
        return processes_of(root, uid) if root is not None else []


def processes_of(root: int, uid: int | None = None) -> list:
    """``root`` and its descendants, and every process of ``uid`` (when given), from /proc."""
    children: dict = {}
    owned = []
    for pid, (ppid, owner) in process_table(with_uids=uid is not None).items():
        children.setdefault(ppid, []).append(pid)
        if uid is not None and owner == uid:
            owned.append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return list(dict.fromkeys(found + owned))


def _signal_all(pids: list, signum: int) -> list:
    """Send ``signum`` to each pid; returns those that got it."""
    done = []
    for pid in pids:
        try:
            os.kill(pid, signum)
            done.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return done
