"""Grade a class: one worker process per submission, ``jobs`` at a time, each under a wall-clock limit.

Submissions with the same content (and the same grader) are graded once. A result from an earlier
run is reused when the cache holds one for the same key (see ``cache``). A submission that runs
past its limit, or on which the grader fails, becomes an outcome with an error instead of a result:
it never stops the batch, and it is retried on the next run.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

from autograder.batch.cache import ResultCache, cache_key, content_digest, grader_fingerprint, read_result
from autograder.batch.discover import Submission
from autograder.config import GradingConfig, load_config
from autograder.engine.results import GradeResult
from autograder.run import PROJECT_ROOT, cifar10_test_data

# Worker start-up, loading the submission and the grader's own work between student calls:
# added to the parts' time budgets (which bound the student's calls) for the default limit.
STARTUP_ALLOWANCE = 120.0
# After SIGTERM, time for the worker to close its sandbox before it is killed outright.
STOP_GRACE = 15.0


class BatchError(Exception):
    """The batch cannot start as asked; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class BatchSettings:
    parts: tuple = ()  # empty: every part
    config_path: Path | None = None
    thresholds: Path | None = None
    call_timeout: float | None = None
    submission_timeout: float | None = None  # None: the grade's budget + STARTUP_ALLOWANCE
    device: str = "cpu"
    data_dir: Path | None = None
    jobs: int = 1

    def score_inputs(self) -> dict:
        """The settings a score depends on (part of the cache key); jobs and limits are not."""
        thresholds = Path(self.thresholds).read_text() if self.thresholds else None
        return {"parts": sorted(self.parts), "call_timeout": self.call_timeout, "device": self.device,
                "data_dir": str(self.data_dir) if self.data_dir else None, "thresholds": thresholds}


@dataclasses.dataclass
class Outcome:
    submission: Submission
    result: GradeResult | None = None
    error: str = ""  # why there is no result, in words the student may read
    log: Path | None = None  # the worker's output, for the instructor
    cached: bool = False


def check_settings(settings: BatchSettings) -> GradingConfig:
    """The configuration, once the settings are known to be usable: a bad config, an unknown
    part or missing CIFAR-10 data stop the batch before any submission is graded."""
    config = load_config(settings.config_path)
    unknown = [p for p in settings.parts if p not in config.parts]
    if unknown:
        raise BatchError(f"unknown part(s) {unknown}; the parts are {list(config.parts)}")
    if settings.jobs < 1:
        raise BatchError("--jobs must be at least 1")
    if "cifar10" in (settings.parts or config.parts):
        cifar10_test_data(str(settings.data_dir) if settings.data_dir else None, config)
    return config


def grade_class(submissions: list, settings: BatchSettings, cache_dir: Path, hide: tuple,
                on_done: Callable[[Outcome], None] = lambda outcome: None) -> list:
    """Grade every submission; return one Outcome per submission, in the order given."""
    config = check_settings(settings)
    parts = list(settings.parts) or list(config.parts)
    budget = min(config.limits.grade_budget_seconds, sum(config.parts[p].timeout for p in parts))
    limit = settings.submission_timeout or budget + STARTUP_ALLOWANCE
    fingerprint = grader_fingerprint(settings.config_path, settings.score_inputs())
    cache = ResultCache(cache_dir)
    groups: dict = {}
    for submission in submissions:
        groups.setdefault(cache_key(content_digest(submission.path), fingerprint), []).append(submission)

    outcomes: dict = {}

    def finish(key: str, outcome: Outcome) -> None:
        for submission in groups[key]:
            outcomes[submission.label] = dataclasses.replace(outcome, submission=submission)
            on_done(outcomes[submission.label])

    to_grade = []
    for key, group in groups.items():
        cached = cache.load(key)
        if cached is not None:
            finish(key, Outcome(group[0], result=cached, cached=True))
        else:
            to_grade.append(key)
    workers = _Workers(settings, limit, hide, cache)
    with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
        futures = {pool.submit(workers.grade, key, groups[key][0]): key for key in to_grade}
        try:
            for future in as_completed(futures):
                finish(futures[future], future.result())
        except BaseException:  # Ctrl-C: stop the running workers; finished results stay cached
            workers.stop_all()
            pool.shutdown(cancel_futures=True)
            raise
    return [outcomes[s.label] for s in submissions]


class _Workers:
    """Starts, times and stops worker processes; thread-safe."""

    def __init__(self, settings: BatchSettings, limit: float, hide: tuple, cache: ResultCache) -> None:
        self.settings, self.limit, self.hide, self.cache = settings, limit, hide, cache
        self.pending = cache.folder / "pending"
        self.logs = cache.folder / "logs"
        self.pending.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = _worker_env()
        self._running: set = set()
        self._lock = threading.Lock()
        self._stopping = False

    def grade(self, key: str, submission: Submission) -> Outcome:
        output, log = self.pending / f"{key}.json", self.logs / f"{key}.log"
        output.unlink(missing_ok=True)
        request = {"submission": str(submission.path.resolve()), "output": str(output),
                   "parts": list(self.settings.parts),
                   "config": str(self.settings.config_path) if self.settings.config_path else None,
                   "thresholds": str(self.settings.thresholds) if self.settings.thresholds else None,
                   "device": self.settings.device,
                   "data_dir": str(self.settings.data_dir) if self.settings.data_dir else None,
                   "call_timeout": self.settings.call_timeout, "hide": list(self.hide)}
        timed_out = False
        with open(log, "w") as log_file:
            with self._lock:
                if self._stopping:
                    return Outcome(submission, error="the batch was interrupted")
                # A session of its own: the batch's Ctrl-C does not reach it, and a kill of its
                # process group takes whatever it left behind.
                command = [sys.executable, "-m", "autograder.batch.worker", json.dumps(request)]
                proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file,
                                        stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
                self._running.add(proc)
            try:
                proc.wait(timeout=self.limit)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _stop(proc)
                with self._lock:
                    self._running.discard(proc)
        result = read_result(output)  # a result written just as the limit ran out still counts
        output.unlink(missing_ok=True)
        if result is None:
            error = (f"time limit of {self.limit:.0f} s for the whole submission exceeded" if timed_out
                     else f"the grader failed on this submission (exit status {proc.returncode})")
            return Outcome(submission, error=error, log=log)
        if not result.grader_errors:  # the grader's own failures are retried, never kept
            self.cache.store(key, result)
        return Outcome(submission, result=result, log=log)

    def stop_all(self) -> None:
        with self._lock:
            self._stopping = True
            running = list(self._running)
        for proc in running:
            _stop(proc)


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
