"""The warm grader process of a Dask worker: each submission is graded in a fork of its own, with
its log and its exit status; a zygote that dies mid-grade is reported, and its orphaned grader
stops itself."""
import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from autograder.batch.zygote import Zygote, ZygoteGone
from autograder.examples import build_submission
from tests.batch.test_batch import PART, POINTS, _folder


def _request(submission: Path, output: Path) -> dict:
    return {"submission": str(submission), "output": str(output), "parts": [PART], "config": None,
            "thresholds": None, "device": "cpu", "data_dir": None, "call_timeout": None, "seed": 1,
            "hide": [str(output.parent)]}


def _titled(pid: int, submission: str) -> bool:
    """The fork's command line becomes the grader's, with its request (set just after the fork)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        command = " ".join(psutil.Process(pid).cmdline())
        if "autograder.batch.worker" in command and submission in command:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def zygote():
    warm = Zygote(("reference.shapes",), {**os.environ, "OMP_NUM_THREADS": "1"})
    yield warm
    warm._proc.kill()  # a no-op once it has exited
    warm._proc.wait()


def test_each_submission_is_graded_in_a_fork_of_its_own(tmp_path, zygote):
    outcomes = []
    for name in ("reference", "handout"):
        submission = build_submission(name, tmp_path / name)
        output = tmp_path / f"{name}.json"
        with open(tmp_path / f"{name}.log", "w") as log:
            grader = zygote.fork(_request(submission, output), [log.fileno()])
        assert psutil.Process(grader.pid).ppid() == zygote._proc.pid
        assert _titled(grader.pid, str(submission))  # ps names what it grades
        assert grader.wait(timeout=120) == 0
        grader.close()
        tests = json.loads(output.read_text())["tests"]
        outcomes.append((grader.pid, sum(t["score"] for t in tests)))
    (first_pid, reference_score), (second_pid, handout_score) = outcomes
    assert first_pid != second_pid != zygote._proc.pid
    assert reference_score == POINTS and handout_score == 0
    assert zygote.alive  # it only forks: grading either submission did not touch it


def test_a_grader_that_fails_reports_its_status_and_writes_its_log(tmp_path, zygote):
    request = _request(tmp_path / "nowhere", tmp_path / "result.json")
    request["parts"] = ["no-such-part"]
    with open(tmp_path / "worker.log", "w") as log:
        grader = zygote.fork(request, [log.fileno()])
    assert grader.wait(timeout=60) not in (0, None)
    grader.close()
    assert "no-such-part" in (tmp_path / "worker.log").read_text()
    assert not (tmp_path / "result.json").exists()


@pytest.mark.slow
def test_a_zygote_that_dies_mid_grade_is_reported_and_its_grader_stops(tmp_path, zygote):
    slow = _folder(tmp_path / "slow", "import time\ntime.sleep(30)\n")
    with open(tmp_path / "worker.log", "w") as log:
        grader = zygote.fork(_request(slow, tmp_path / "result.json"), [log.fileno()])
    time.sleep(2)  # importing shapes.py in the sandbox
    assert grader.wait(timeout=0) is None
    zygote._proc.send_signal(signal.SIGKILL)
    zygote._proc.wait()
    with pytest.raises(ZygoteGone):
        grader.wait(timeout=10)
    grader.signal(signal.SIGKILL)  # a no-op: the pid is no longer kept for the worker
    # so the grader must stop by itself: it notices its parent is gone (getppid changes)
    deadline = time.time() + 30
    while psutil.pid_exists(grader.pid) and psutil.Process(grader.pid).status() != psutil.STATUS_ZOMBIE \
            and time.time() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(grader.pid) or psutil.Process(grader.pid).status() == psutil.STATUS_ZOMBIE
    grader.close()
