"""What a Dask worker runs for one submission: the grader in a process of its own, under a
wall-clock limit, and back to the batch as plain data.

Dask sends this function by reference (its module and name), a request of paths, numbers and
strings, and gets back a dict of JSON-ready values: the result, an error in words, the worker
process's log and the worker's grader fingerprint. Student code runs only inside the sandbox
that ``autograder.batch.worker`` starts; nothing the student wrote is ever unpickled, by Dask or
by anything else, and no process serves two submissions. The grader process is forked from
this worker's warm zygote (``autograder.batch.zygote``), which has the grader imported already.
"""
from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path

from autograder.batch.cache import grader_fingerprint, read_result, result_to_dict
from autograder.batch.cpus import cpu_group
from autograder.batch.zygote import GraderProcess, Zygote, ZygoteGone
from autograder.config import load_config
from autograder.run import PROJECT_ROOT

# After SIGTERM, time for the worker to close its sandbox before it is killed outright.
STOP_GRACE = 15.0
# The end of the worker's log that comes back to the batch (the start is import noise).
LOG_TAIL_CHARS = 20_000


def grade_on_worker(request: dict) -> dict:
    """Grade ``request["submission"]`` (a path the worker can read) with ``autograder.batch.worker``.

    ``request`` holds the worker's REQUEST keys except ``output`` and ``parent_pid``, plus ``limit``
    (wall-clock seconds), ``score_inputs`` (for this machine's grader fingerprint) and ``cpus``
    (how many of this machine's CPUs the submission gets to itself: ``autograder.batch.cpus``).
    Returns ``result`` (a GradeResult as a dict, or None), ``error``, ``log`` and ``fingerprint``.
    """
    fingerprint = grader_fingerprint(Path(request["config"]) if request["config"] else None,
                                     request["score_inputs"])
    with tempfile.TemporaryDirectory(prefix="grade-batch-") as scratch, \
            cpu_group(request["cpus"]) as (cpus, locks):
        output, log = Path(scratch) / "result.json", Path(scratch) / "worker.log"
        worker_request = {key: request[key] for key in ("submission", "parts", "config", "thresholds",
                                                        "device", "data_dir", "call_timeout",
                                                        "seed")}
        worker_request.update(output=str(output), hide=[*request["hide"], scratch])
        limit = request["limit"]
        with open(log, "w") as log_file:
            grader = _fork_grader(worker_request, [log_file.fileno(), *locks])
            _pin(grader.pid, cpus)
            try:
                timed_out = grader.wait(timeout=limit) is None
            finally:
                _stop(grader)
        result = read_result(output)  # a result written just as the limit ran out still counts
        error = ""
        if result is None:
            error = (f"time limit of {limit:.0f} s for the whole submission exceeded" if timed_out
                     else f"the grader failed on this submission (exit status {grader.returncode})")
        return {"result": result_to_dict(result) if result else None, "error": error,
                "log": log.read_text(errors="replace")[-LOG_TAIL_CHARS:], "fingerprint": fingerprint}


def _pin(pid: int, cpus: tuple) -> None:
    """The grader process on ``cpus`` from its start-up on: every sandbox it starts inherits them."""
    try:
        os.sched_setaffinity(pid, cpus)
    except ProcessLookupError:  # already gone: its exit status says why
        pass


def _stop(grader: GraderProcess) -> None:
    """SIGTERM (the worker then closes its sandbox), SIGKILL after a grace period, then the group.
    A grader whose zygote died is left to stop itself (it watches its parent)."""
    try:
        with contextlib.suppress(ZygoteGone):
            if grader.wait(timeout=0) is None:
                grader.signal(signal.SIGTERM)
                if grader.wait(timeout=STOP_GRACE) is None:
                    grader.signal(signal.SIGKILL)
            grader.kill_group()  # the worker's session: anything it started and left behind
            grader.wait()
    finally:
        grader.close()


# This Dask worker's zygotes, by the modules they preload (one per set of parts graded).
_zygotes: dict = {}
_zygotes_lock = threading.Lock()


def _fork_grader(request: dict, fds: list) -> GraderProcess:
    """A grader process for ``request``, forked from this worker's zygote for its parts."""
    config = load_config(Path(request["config"]) if request["config"] else None)
    parts = config.select(request["parts"] or [])
    preload = tuple(dict.fromkeys(f"reference.{module}" for part in parts for module, _ in part.contract))
    zygote = _zygote(preload)
    try:
        return zygote.fork(request, fds)
    except ZygoteGone:
        return _zygote(preload, gone=zygote).fork(request, fds)


def _zygote(preload: tuple, gone: Zygote | None = None) -> Zygote:
    """This worker's zygote for ``preload``, started at the first submission, and again when it
    has exited or is ``gone`` (it failed a fork)."""
    with _zygotes_lock:
        zygote = _zygotes.get(preload)
        if zygote is None or zygote is gone or not zygote.alive:
            zygote = _zygotes[preload] = Zygote(preload, _worker_env())
        return zygote


def _worker_env() -> dict:
    env = dict(os.environ)
    # The workers run this same checkout of the grader, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    # Parallelism is across submissions: one BLAS thread per worker avoids oversubscribing the
    # cores (student code gets its own thread count from the configuration).
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    return env
