"""Grade one submission in a process of its own: ``python -m autograder.batch.worker REQUEST``.

The batch starts one worker per submission, so that whatever happens while grading one (a crash
of the grader, a leak, a hang past every limit) ends with that process. It starts it as a fork of
its Dask worker's zygote (``autograder.batch.zygote``), which calls ``main`` as this command
line would and leaves ``parent_pid`` to the fork. REQUEST is a JSON object:
``submission``, ``output`` (where the result goes), ``parts``, ``config``, ``thresholds``,
``device``, ``data_dir``, ``call_timeout``, ``seed``, ``hide`` and ``parent_pid`` (the Dask
worker that started it). Exit status 0: the result was written.

SIGTERM is the batch's wall-clock limit running out: it is turned into a KeyboardInterrupt, which
pytest answers by ending the session, so that the engine's clean-up runs (it closes the sandbox
and kills every process the student started; those live in sessions and namespaces of their own
that a kill of this process would not reach). The death of the Dask worker that started it (a
lost machine, a cluster shut down by Ctrl-C) is answered the same way: its submission is
graded again elsewhere, and this grade would be counted by no one.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from autograder.batch.cache import result_to_dict
from autograder.config import load_config
from autograder.engine.results import write_json_atomically
from autograder.run import GraderError, RunOptions, grade_submission

EXIT_GRADER_ERROR = 3
EXIT_INTERRUPTED = 4
PARENT_CHECK_SECONDS = 0.5


def _interrupt(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one must not cut the clean-up short
    raise KeyboardInterrupt("stopped by the batch: wall-clock limit")


def _stop_when_orphaned(parent_pid: int) -> None:
    """SIGTERM to this process once its parent is gone (it is then re-parented: getppid changes)."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def main(argv: list) -> int:
    request = json.loads(argv[1])
    signal.signal(signal.SIGTERM, _interrupt)
    _stop_when_orphaned(request["parent_pid"])
    options = RunOptions(device=request["device"], data_dir=request["data_dir"],
                         call_timeout=request["call_timeout"], hide=tuple(request["hide"]),
                         thresholds=request["thresholds"], seed=request["seed"])
    config = load_config(Path(request["config"]) if request["config"] else None)
    try:
        result = grade_submission(Path(request["submission"]), request["parts"] or None, config, options)
    except KeyboardInterrupt:  # outside pytest; inside, pytest turns it into a GraderError
        print("stopped by the batch (wall-clock limit)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except GraderError as exc:
        print(f"grader error: {exc}", file=sys.stderr)
        return EXIT_GRADER_ERROR
    write_json_atomically(result_to_dict(result), Path(request["output"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
