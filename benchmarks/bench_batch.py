"""Time ``grade batch`` on a generated class three ways: serial (one worker), a LocalCluster of two
workers, and two workers started as separate processes (``dask scheduler`` / ``dask worker``)
reached through the scheduler's address.

    python -m benchmarks.bench_batch [--students 200] [--part shapes ...]

Prints submissions per minute and the peak resident memory of the batch process (the grader
side: Dask client, cache, gradebook) for each, and the submissions whose scores differ from the
serial run's (timed tests included: each submission is graded on CPUs of its own). Every run
starts with an empty cache.
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.batch.command import BatchOutputs, run_batch
from autograder.batch.grade import BatchSettings
from autograder.run import PROJECT_ROOT
from benchmarks.make_class import make_class


def _timed(class_dir: Path, out: Path, settings: BatchSettings) -> float:
    start = time.perf_counter()
    run_batch(class_dir, settings, BatchOutputs(gradebook=out / "gradebook.csv"))
    return time.perf_counter() - start


def _scores(out: Path) -> dict:
    """student -> the gradebook row without its notes (which name each run's own paths)."""
    with open(out / "gradebook.csv", newline="") as f:
        return {row["student"]: {k: v for k, v in row.items() if k != "notes"} for row in csv.DictReader(f)}


def _separate_cluster(folder: Path, workers: int) -> tuple:
    """A scheduler and ``workers`` one-thread workers, each a process of its own."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    scheduler_file = folder / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
                               "--dashboard-address", ":0", "--scheduler-file", str(scheduler_file)],
                              env=env, stderr=subprocess.DEVNULL)]
    while not scheduler_file.exists():
        time.sleep(0.2)
    procs += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--nthreads", "1",
                                "--scheduler-file", str(scheduler_file)], env=env, stderr=subprocess.DEVNULL)
              for _ in range(workers)]
    from distributed import Client

    with Client(scheduler_file=str(scheduler_file)) as client:
        client.wait_for_workers(workers)
        address = client.scheduler.address
    return address, procs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--part", action="append", dest="parts", help="default: shapes, layers, fast_layers")
    args = parser.parse_args()
    parts = tuple(args.parts or ("shapes", "layers", "fast_layers"))
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp = Path(tmp)
        make_class(tmp / "class", args.students)
        runs = {"serial (1 worker)": BatchSettings(parts=parts, jobs=1),
                "LocalCluster, 2 workers": BatchSettings(parts=parts, jobs=2)}
        times = {name: _timed(tmp / "class", tmp / f"out{i}", settings)
                 for i, (name, settings) in enumerate(runs.items())}
        address, procs = _separate_cluster(tmp, 2)
        try:
            times["2 separate workers via --scheduler"] = _timed(
                tmp / "class", tmp / "out-remote", BatchSettings(parts=parts, scheduler=address))
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait()
        outs = [tmp / "out0", tmp / "out1", tmp / "out-remote"]
        serial = _scores(outs[0])
        differ = {name: sorted(s for s, row in _scores(out).items() if row != serial.get(s))
                  for name, out in zip(times, outs)}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.students} submissions, parts {', '.join(parts)}; batch process peak RSS {peak_mib:.0f} MiB")
    for name, seconds in times.items():
        print(f"{name:38s} {seconds:7.1f} s  {60 * args.students / seconds:6.1f} submissions/min  "
              + (f"scores differ from serial: {', '.join(differ[name])}" if differ[name] else "same scores"))


if __name__ == "__main__":
    main()
