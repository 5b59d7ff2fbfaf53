"""CPU groups: graders that run at once on one machine never share a CPU; one more waits."""
import os
import threading

from autograder.batch import cpus
from autograder.batch.cpus import cpu_group


def test_graders_at_once_get_disjoint_cpus_and_one_more_waits(tmp_path, monkeypatch):
    monkeypatch.setattr(cpus, "LOCKS", tmp_path)
    monkeypatch.setattr(cpus, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    later = []

    def one_more() -> None:
        with cpu_group(1) as (group, _):
            later.append(group)

    waiting = threading.Thread(target=one_more, daemon=True)
    with cpu_group(2) as (first, _), cpu_group(2) as (second, _):
        assert sorted(first + second) == [0, 1, 2, 3]
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive() and not later  # every CPU is held
    waiting.join(5)
    assert len(later) == 1 and len(later[0]) == 1
    with cpu_group(8) as (everything, _):  # more than there are: all of them, as one group
        assert everything == (0, 1, 2, 3)
