"""What a Dask worker runs for one submission: the grader in a process of its own, under a
wall-clock limit, and back to the batch as plain data.

Dask sends this function by reference (its module and name), a request of paths, numbers and
strings, and gets back a dict of JSON-ready values: the result, an error in words, the worker
process's log and the worker's grader fingerprint. Student code runs only inside the sandbox
that ``autograder.batch.worker`` starts; nothing the student wrote is ever unpickled, by Dask or
by anything else, and no process serves two submissions.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.batch.cache import grader_fingerprint, read_result, result_to_dict
from autograder.batch.cpus import cpu_group
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
        worker_request.update(output=str(output), parent_pid=os.getpid(),
                              hide=[*request["hide"], scratch])
        limit = request["limit"]
        with open(log, "w") as log_file:
            # A session of its own: a kill of its process group takes whatever it left behind.
            proc = subprocess.Popen([sys.executable, "-m", "autograder.batch.worker", json.dumps(worker_request)],
                                    stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                    env=_worker_env(), start_new_session=True, pass_fds=locks)
            _pin(proc.pid, cpus)
            timed_out = False
            try:
                proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _stop(proc)
        result = read_result(output)  # a result written just as the limit ran out still counts
        error = ""
        if result is None:
            error = (f"time limit of {limit:.0f} s for the whole submission exceeded" if timed_out
                     else f"the grader failed on this submission (exit status {proc.returncode})")
        return {"result": result_to_dict(result) if result else None, "error": error,
                "log": log.read_text(errors="replace")[-LOG_TAIL_CHARS:], "fingerprint": fingerprint}


def _pin(pid: int, cpus: tuple) -> None:
    """The grader process on ``cpus`` from its start-up on: every sandbox it starts inherits them."""
    try:
        os.sched_setaffinity(pid, cpus)
    except ProcessLookupError:  # already gone: its exit status says why
        pass


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the worker then closes its sandbox), SIGKILL after a grace period, then the group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            pass
    try:  # the worker's session: anything it started and left behind
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _worker_env() -> dict:
    env = dict(os.environ)
    # The workers run this same checkout of the grader, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    # Parallelism is across submissions: one BLAS thread per worker avoids oversubscribing the
    # cores (student code gets its own thread count from the configuration).
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    return env
