"""The CPUs a grader process runs on: every submission graded on a machine gets a group of CPUs
of its own for its whole grade, so that the timed tests of two submissions graded at once never
share a CPU and a speed verdict does not depend on what else the machine is grading.

The groups are the CPUs this process may use, cut into runs of ``size``. A CPU is held with an
exclusive flock on a file named after it, so that separately started Dask workers on one machine
agree without talking to each other; a lock dies with the last process holding it (the grader
process inherits it, so a group is not handed on while an orphaned grader is still stopping).
When every group is taken, the lease waits: more graders than groups would only share CPUs.
The grader process is pinned to its group as it starts (``task``) and its sandboxes inherit
that; the timing harness times both sides on CPUs of that group.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

LOCKS = Path(tempfile.gettempdir()) / ".grade-cpu-locks"
POLL_SECONDS = 0.2


def cpu_groups(size: int) -> list:
    """This process's CPUs in groups of ``size`` (one group of all of them if there are fewer)."""
    cpus = sorted(os.sched_getaffinity(0))
    size = min(max(1, size), len(cpus))
    return [tuple(cpus[i:i + size]) for i in range(0, len(cpus) - size + 1, size)]


@contextlib.contextmanager
def cpu_group(size: int) -> Iterator[tuple]:
    """Hold a group of ``size`` CPUs, waiting until one is free; yields (its CPUs, the file
    descriptors of its locks, to hand on to the process that runs on them)."""
    LOCKS.mkdir(mode=0o700, exist_ok=True)
    groups = cpu_groups(size)
    first = os.getpid() % len(groups)  # workers starting together try different groups first
    while True:
        for offset in range(len(groups)):
            group = groups[(first + offset) % len(groups)]
            held = _lock_all(group)
            if held is None:
                continue
            try:
                yield group, held
            finally:
                for fd in held:
                    os.close(fd)
            return
        time.sleep(POLL_SECONDS)


def _lock_all(group: tuple) -> list | None:
    """The locks of every CPU of ``group``, or None (and none held) if one is taken."""
    held = []
    for cpu in group:
        fd = os.open(LOCKS / f"cpu{cpu}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            for other in held:
                os.close(other)
            return None
        held.append(fd)
    return held
