"""Grade a class on a Dask cluster: one task per submission, each in a grader process of its own
on a worker (``task``), under a wall-clock limit.

Submissions with the same content (and the same grader) are graded once. A result from an earlier
run is reused when the cache holds one for the same key (see ``cache``); each result is cached as
soon as it comes back, so a batch stopped at any point resumes where it was. A submission that runs
past its limit, on which the grader fails, or whose grading killed workers again and again,
becomes an outcome with an error instead of a result: it never stops the batch, and it is retried
on the next run. Results come back as plain data, one per task, so a task run again after a
worker died is counted once.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Callable

from autograder.batch.cache import ResultCache, cache_key, content_digest, grader_fingerprint, result_from_dict
from autograder.batch.cluster import cpus_per_submission, dask_client, local_workers
from autograder.batch.discover import Submission
from autograder.batch.task import grade_on_worker
from autograder.config import GradingConfig, load_config
from autograder.engine.results import GradeResult
from autograder.data import find_data
from autograder.engine.seeds import new_grade_seed

# Worker start-up, loading the submission and the grader's own work between student calls:
# added to the parts' time budgets (which bound the student's calls) for the default limit.
STARTUP_ALLOWANCE = 120.0
# A task whose own code raised (not the grader: the task around it) is tried once more.
TASK_RETRIES = 1
# In the cache folder: the seed of the hidden inputs that a batch without --seed grades with.
SEED_FILE = "seed"


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
    jobs: int | None = None  # workers of the LocalCluster; None: sized to this machine
    scheduler: str | None = None  # an existing Dask cluster's scheduler address, instead
    allowed_failures: int = 2  # workers that may die grading one submission before it is given up
    seed: int | None = None  # the hidden inputs' seed for every submission (see batch_seed)

    def score_inputs(self) -> dict:
        """The settings a score depends on (part of the cache key); jobs and limits are not."""
        thresholds = Path(self.thresholds).read_text() if self.thresholds else None
        return {"parts": sorted(self.parts), "call_timeout": self.call_timeout, "device": self.device,
                "data_dir": str(self.data_dir) if self.data_dir else None, "thresholds": thresholds,
                "seed": self.seed}


@dataclasses.dataclass
class Outcome:
    submission: Submission
    result: GradeResult | None = None
    error: str = ""  # why there is no result, in words the student may read
    log: Path | None = None  # the worker's output, for the instructor
    cached: bool = False


def check_settings(settings: BatchSettings) -> GradingConfig:
    """The configuration, once the settings are known to be usable: a bad config, an unknown
    part or a part's missing data stop the batch before any submission is graded."""
    config = load_config(settings.config_path)
    selected = config.select(settings.parts)
    if settings.jobs is not None and settings.scheduler:
        raise BatchError("--jobs sizes the local cluster; a cluster at --scheduler has its own workers")
    if settings.jobs is not None and settings.jobs < 1:
        raise BatchError("--jobs must be at least 1")
    for part in selected:
        if part.data:
            find_data(part, str(settings.data_dir) if settings.data_dir else None)
    return config


def grade_class(submissions: list, settings: BatchSettings, cache_dir: Path, hide: tuple,
                on_done: Callable[[Outcome], None] = lambda outcome: None) -> list:
    """Grade every submission; return one Outcome per submission, in the order given."""
    config = check_settings(settings)
    settings = dataclasses.replace(settings, seed=batch_seed(settings.seed, cache_dir))
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
    if to_grade:
        workers = settings.jobs or min(len(to_grade), local_workers(config, parts))
        cpus = cpus_per_submission(config, parts)
        requests = {task_key(groups[key][0].label, key): (key, _request(groups[key][0], settings, limit, hide, cpus))
                    for key in to_grade}
        with dask_client(settings.scheduler, workers, settings.allowed_failures) as client:
            for key, result, error, log in _run(client, requests, settings.allowed_failures, fingerprint):
                if result is not None and not result.grader_errors:
                    cache.store(key, result)  # the grader's own failures are retried, never kept
                finish(key, Outcome(groups[key][0], result=result, error=error,
                                    log=_write_log(cache.folder / "logs", key, log)))
    return [outcomes[s.label] for s in submissions]


def batch_seed(seed: int | None, cache_dir: Path) -> int:
    """The one seed of a batch's hidden inputs: ``seed`` (--seed), else the seed that the first
    batch into ``cache_dir`` drew and kept there, so that a resumed batch grades the rest with the
    seed of its cached results. Every student gets the same inputs (the reference's outputs can
    be computed once per batch), and the cache folder, like the results, is the instructor's."""
    if seed is not None:
        return seed
    path = Path(cache_dir) / SEED_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{new_grade_seed()}\n")
    return int(path.read_text())


def task_key(label: str, key: str) -> str:
    """The Dask task's name: the submission's label (as the dashboard shows it) and its cache key."""
    return f"grade-{re.sub(r'[^A-Za-z0-9_.-]', '_', label)[:60]}-{key}"


def _request(submission: Submission, settings: BatchSettings, limit: float, hide: tuple, cpus: int) -> dict:
    return {"submission": str(submission.path.resolve()), "parts": list(settings.parts),
            "config": str(settings.config_path) if settings.config_path else None,
            "score_inputs": settings.score_inputs(),
            "thresholds": str(settings.thresholds) if settings.thresholds else None,
            "device": settings.device, "data_dir": str(settings.data_dir) if settings.data_dir else None,
            "call_timeout": settings.call_timeout, "hide": list(hide), "limit": limit, "cpus": cpus,
            "seed": settings.seed}


def _run(client, requests: dict, allowed_failures: int, fingerprint: str):
    """(cache key, GradeResult or None, error, log) as each task ends; ``requests``: task name ->
    (cache key, request).

    No more tasks are out than the cluster has threads: every task the scheduler placed on a
    worker that dies counts towards its ``allowed_failures``, so none may wait on a worker behind
    another; a lost worker's threads leave the count until its nanny starts a new one. Ctrl-C
    cancels what is out; the caller's cluster shutdown then stops the grader processes still running.
    """
    from distributed import KilledWorker, as_completed

    waiting = list(requests.items())
    out: dict = {}  # future -> cache key
    finished = as_completed()

    def top_up() -> None:
        while waiting and len(out) < max(1, sum(client.nthreads().values())):
            name, (key, request) = waiting.pop(0)
            future = client.submit(grade_on_worker, request, key=name, pure=False, retries=TASK_RETRIES)
            out[future] = key
            finished.add(future)

    try:
        top_up()
        for future in finished:
            key = out.pop(future)
            try:
                reply = future.result()
            except KilledWorker:
                reply = {"result": None, "log": "", "fingerprint": fingerprint,
                         "error": f"grading it stopped a grading worker {allowed_failures + 1} times; "
                                  "it was not tried again"}
            except Exception as exc:  # the task's own code failed, even when tried again
                reply = {"result": None, "log": repr(exc), "fingerprint": fingerprint,
                         "error": f"the grader failed on this submission ({type(exc).__name__})"}
            future.release()  # the reply is here now: no worker needs to keep it
            if reply["fingerprint"] != fingerprint:
                raise BatchError("a Dask worker runs a different grader (code, reference or "
                                 "configuration) than this machine: install the same version on every "
                                 "worker, with the same paths")
            result = result_from_dict(reply["result"]) if reply["result"] else None
            top_up()
            yield key, result, reply["error"], reply["log"]
    except BaseException:
        client.cancel(list(out))
        raise


def _write_log(folder: Path, key: str, text: str) -> Path:
    """The worker's log, written here (the worker may be another machine) for the instructor."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{key}.log"
    log.write_text(text, encoding="utf-8")
    return log
