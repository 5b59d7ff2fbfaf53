"""``grade batch`` on Dask: a small class graded serially (stopped by Ctrl-C and resumed), on the
default LocalCluster and on a cluster reached by its scheduler's address, with Dask workers
killed mid-batch, gives the same gradebook; graders at work at once never share a CPU; a
submission whose grading keeps killing workers gets a row that says so; the class report reads
a real batch's results."""
import csv
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import psutil
import pytest
from click.testing import CliRunner
from distributed import LocalCluster

from autograder.batch.command import BatchOutputs, run_batch
from autograder.batch.grade import BatchSettings
from autograder.engine import cgroups
from autograder.examples import build_submission
from autograder.run import PROJECT_ROOT
from cli import main
from tests.batch.test_batch import BUGGY, PART, _folder, _quiet

GRADER_PROCESS = "autograder.batch.worker"
# Seconds after its fork at which a grader is at work (pinned to its CPUs, its sandbox starting):
# a shapes grade takes longer than this, the worker pins the fork at once.
MID_GRADE = 0.25


class WorkerKiller(threading.Thread):
    """SIGKILLs the Dask worker that is grading a submission whose path contains ``target``
    (any submission: ""), ``times`` times, each time a new grader process has started there."""

    def __init__(self, target: str = "", times: int = 1) -> None:
        super().__init__(daemon=True)
        self.target, self.times, self.killed, self.seen = target, times, 0, set()
        self.done = threading.Event()

    def run(self) -> None:
        while self.killed < self.times and not self.done.is_set():
            for grader in _grader_processes(where=self.target):
                try:
                    if grader.pid not in self.seen and time.time() - grader.create_time() > MID_GRADE:
                        self.seen.add(grader.pid)
                        # the Dask worker (the grader's parent is its zygote); its nanny starts a new one
                        grader.parent().parent().kill()
                        self.killed += 1
                        break
                except psutil.Error:
                    continue
            time.sleep(0.1)


class CpuWatcher(threading.Thread):
    """Records the CPUs of every grader process, and the pairs of graders that were at work at
    the same time while allowed on a common CPU."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.cpus, self.shared = {}, []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            alive = {}
            for grader in _grader_processes():
                try:
                    if time.time() - grader.create_time() > MID_GRADE:  # pinned by then
                        alive[grader.pid] = frozenset(grader.cpu_affinity())
                except psutil.Error:
                    continue
            self.cpus.update(alive)
            self.shared += [(a, b) for a in alive for b in alive if a < b and alive[a] & alive[b]]
            time.sleep(0.1)


def _grader_processes(procs=None, where: str = "") -> list:
    """Grader processes among ``procs`` (default: this test's descendants) whose command line,
    the grader's title with its request, holds ``where`` (a submission's path, a class folder)."""
    found = []
    for proc in psutil.Process().children(recursive=True) if procs is None else procs:
        try:
            command = " ".join(proc.cmdline())
            if GRADER_PROCESS in command and where in command:
                found.append(proc)
        except psutil.Error:
            pass
    return found


def _csv(path: Path) -> list:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _interrupted_then_resumed(class_dir: Path, out: Path) -> list:
    """``grade batch`` in a process of its own, stopped with SIGINT (Ctrl-C) once its first
    result is cached and the next submission is being graded, then run again: nothing of the
    stopped batch may be left running, and the second run grades only what the first did not.

    A last submission that takes seconds to import holds the batch open, so that Ctrl-C lands
    mid-batch however fast the others are graded (on a busy machine, the three of the class were
    all done before the signal came); it is graded by the resumed run and left out of the rows."""
    # In the environment of all it starts but sandboxes and graders (a grader's title, which
    # names its submission, takes the place of the environment it was forked with).
    marker = f"interrupted-batch-{os.getpid()}"
    slow = _folder(class_dir / "zz_slow", "import time\ntime.sleep(5)\n"
                   + (class_dir / "alice" / "shapes.py").read_text())
    command = [sys.executable, "-m", "cli", "batch", str(class_dir), "--output", str(out / "gradebook.csv"),
               "--part", PART, "--jobs", "1"]
    # Ctrl-C reaches a batch in the foreground; a test run started in the background (CI under
    # nohup, `cmd &`) hands its children SIGINT ignored, and Python then never raises
    # KeyboardInterrupt: the batch is given the terminal's default back.
    batch = subprocess.Popen(command, cwd=PROJECT_ROOT, env={**os.environ, "CLASS_TEST_RUN": marker},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    cache, deadline = out / ".grade-cache", time.time() + 120
    graders = set()
    while not (list(cache.glob("*.json")) and graders) and time.time() < deadline:
        graders |= {p.pid for p in _graders_of(class_dir)} if list(cache.glob("*.json")) else set()
        time.sleep(0.1)
    batch.send_signal(signal.SIGINT)
    assert batch.wait(timeout=60) != 0
    deadline = time.time() + 30  # graders orphaned by the cluster's shutdown close their sandboxes
    while (_marked(marker) or _graders_of(class_dir) or _sandboxed_by(graders)) and time.time() < deadline:
        time.sleep(0.2)
    assert not _marked(marker) and not _graders_of(class_dir) and not _sandboxed_by(graders)
    cached = len(list(cache.glob("*.json")))
    assert 1 <= cached < 4, cached
    report = run_batch(class_dir, BatchSettings(parts=(PART,), jobs=1), BatchOutputs(gradebook=out / "gradebook.csv"),
                       console=_quiet())
    assert sum(o.cached for o in report.outcomes) == cached
    (slow / "shapes.py").unlink()
    slow.rmdir()
    rows = _csv(out / "gradebook.csv")
    assert rows[-1][0] == "zz_slow" and rows[-1][5] == "15.00", rows[-1]
    return rows[:-1]


def _marked(marker: str) -> list:
    """Processes whose environment holds ``marker``."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("CLASS_TEST_RUN") == marker:
                found.append(proc)
        except psutil.Error:
            pass
    return found


def _graders_of(class_dir: Path) -> list:
    """Grader processes at work on a submission in ``class_dir``, wherever they are (a stopped
    batch's orphans are nobody's descendants)."""
    return _grader_processes(psutil.process_iter(), str(class_dir))


def _sandboxed_by(graders: set) -> list:
    """Processes in a sandbox cgroup of one of ``graders`` (named after the grader's pid)."""
    names = tuple(f"{cgroups.PREFIX}{pid}-" for pid in graders)
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if any(name in (proc / "cgroup").read_text() for name in names):
                found.append(int(proc.name))
        except OSError:
            pass
    return found


def _grade(class_dir: Path, out: Path, killer: WorkerKiller | None = None, **settings) -> list:
    watcher = CpuWatcher()
    for thread in (killer, watcher) if killer else (watcher,):
        thread.start()
    try:
        run_batch(class_dir, BatchSettings(parts=(PART,), **settings),
                  BatchOutputs(gradebook=out / "gradebook.csv"), console=_quiet())
    finally:
        for thread in (killer, watcher) if killer else (watcher,):
            thread.done.set()
    assert watcher.cpus and all(len(cpus) == 1 for cpus in watcher.cpus.values())  # shapes: 1 thread
    assert not watcher.shared
    deadline = time.time() + 30  # a grader orphaned by a killed worker stops on its own
    while _grader_processes() and time.time() < deadline:
        time.sleep(0.2)
    assert not _grader_processes()
    return _csv(out / "gradebook.csv")


@pytest.fixture
def small_class(tmp_path) -> Path:
    class_dir = tmp_path / "class"
    build_submission("reference", class_dir / "alice")
    build_submission("handout", class_dir / "bob")
    _folder(class_dir / "carol", BUGGY)
    return class_dir


@pytest.mark.slow
def test_serial_local_cluster_and_scheduler_address_give_the_same_gradebook(small_class, tmp_path):
    serial = _interrupted_then_resumed(small_class, tmp_path / "serial")
    assert [row[5] for row in serial[1:]] == ["15.00", "0.00", serial[3][5]] and serial[3][5] != "15.00"
    report = CliRunner().invoke(main, ["report", str(tmp_path / "serial")])  # from a real batch's results
    assert report.exit_code == 0, report.output
    assert "same_padding" in (tmp_path / "serial" / "class_report.html").read_text()

    mallory = _folder(small_class / "mallory", (small_class / "alice" / "shapes.py").read_text() + "\n# m\n")
    killer = WorkerKiller(target=str(mallory), times=2)  # every worker that grades mallory dies
    local = _grade(small_class, tmp_path / "local", killer, jobs=2, allowed_failures=1)
    assert killer.killed == 2
    assert [row for row in local if row[0] != "mallory"] == serial
    mallory_row = next(row for row in local if row[0] == "mallory")
    assert mallory_row[4] == "not graded: grading it stopped a grading worker 2 times; it was not tried again"
    assert mallory_row[5] == ""

    (mallory / "shapes.py").unlink()
    mallory.rmdir()
    settings = {"distributed.scheduler.worker-saturation": 1.0}
    with dask.config.set(settings), LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                 dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        killer = WorkerKiller(times=1)  # a worker lost mid-batch: its submission is graded elsewhere
        remote = _grade(small_class, tmp_path / "remote", killer, scheduler=cluster.scheduler_address)
    assert killer.killed == 1
    assert remote == serial
