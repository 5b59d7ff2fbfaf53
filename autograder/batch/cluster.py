"""Where a batch's submissions are graded: a Dask LocalCluster sized to this machine, or an
existing Dask cluster reached through its scheduler's address.

Each Dask worker grades one submission at a time (one thread), in a grader process of its own
(``task``); the worker itself only waits. A worker that dies mid-submission (killed, out of
memory, its machine lost) has its submission run again on another worker by the scheduler; a
submission on which ``allowed_failures`` + 1 workers died is given up (Dask's ``KilledWorker``).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

from autograder.config import GradingConfig

# The grader's own process and the reference beside the student's sandbox, per submission.
GRADER_MEMORY_MB = 512
# How long to wait for an existing cluster's scheduler to answer.
CONNECT_TIMEOUT = "30s"


def local_workers(config: GradingConfig, parts: list) -> int:
    """Submissions this machine can grade at once: one per free core (or per ``threads`` cores
    for a part that asks for more), and no more than its available memory holds at each part's
    memory limit plus the grader's share."""
    import psutil

    cores = len(os.sched_getaffinity(0))
    per_submission = (max(config.parts[p].memory_mb for p in parts) + GRADER_MEMORY_MB) * 2**20
    return max(1, min(cores // cpus_per_submission(config, parts),
                      psutil.virtual_memory().available // per_submission))


def cpus_per_submission(config: GradingConfig, parts: list) -> int:
    """The CPUs a submission is graded on: the most threads any of its parts may run."""
    return max(config.parts[p].threads or config.limits.threads for p in parts)


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int, allowed_failures: int) -> Iterator:
    """A ``distributed.Client``: on the cluster at ``scheduler``, else on a LocalCluster of
    ``workers`` processes that is shut down (its grader processes with it) on the way out."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        # allowed-failures is the scheduler's own setting there (DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES).
        with Client(scheduler, timeout=CONNECT_TIMEOUT) as client:
            yield client
        return
    settings = {"distributed.scheduler.allowed-failures": allowed_failures,
                # One task on a worker at a time: a worker that dies takes no queued innocent with it
                # (every task on a dead worker counts as a suspect towards allowed-failures).
                "distributed.scheduler.worker-saturation": 1.0,
                # A worker only waits on its grader process: Dask's memory pausing has nothing to act on.
                "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": False,
                # A worker's stack sampler (every 10 ms) and system monitor (every 0.5 s) feed the
                # dashboard's profiles: an idle one-worker cluster spent 1.7 to 2.2 CPU-s per 30 s
                # on them and its event loops, 0.75 with these four settings.
                "distributed.worker.profile.enabled": False,
                "distributed.admin.system-monitor.interval": "5s",
                # Queued tasks (worker-saturation) leave work stealing nothing to do, and the event
                # loops need no 20 ms tick: together another 0.9 CPU-s per 30 s of an idle cluster.
                "distributed.scheduler.work-stealing": False, "distributed.admin.tick.interval": "100ms"}
    with dask.config.set(settings), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                         dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client
