"""A warm grader per Dask worker: one process imports the grader once, then forks a fresh grader
process for each submission.

Starting Python and importing the grader (numpy, pytest, the engine, the suites' helpers, the
reference) cost about 0.4 CPU-s per submission, as much as grading a submission that fails
early. The zygote pays it once per worker. It never grades: it imports, forks and reports exit
statuses. Each fork is what ``python -m autograder.batch.worker`` was: a process of its own for
one submission (its own session, its own log on stdout and stderr, the CPU locks it was handed),
whose parent-death watch now watches the zygote, which exits when its Dask worker is gone.
Nothing of one submission outlives its fork, so no process is shared between two submissions.

Protocol, on Unix sockets (SOCK_SEQPACKET: one message per send): the worker sends the grader's
request as JSON with file descriptors attached (a socket for the replies, the log, the CPU
locks); the zygote answers ``{"pid": N}`` on the reply socket, then ``{"exit": CODE}`` when the
grader has exited. It reaps the grader only once the worker has closed its reply socket, so the
pid stays the grader's for as long as the worker may still signal it.
"""
from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import pkgutil
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from pathlib import Path

MAX_MESSAGE = 1 << 20
MAX_FDS = 256  # the reply socket, the log and one lock per CPU of the submission
# Exit status of a fork whose grader raised instead of returning one.
EXIT_CRASHED = 1


class ZygoteGone(Exception):
    """The zygote died or could not start; the message says why."""


class GraderProcess:
    """A fork of the zygote grading one submission: its ``pid``, and its exit status to wait for."""

    def __init__(self, pid: int, replies: socket.socket) -> None:
        self.pid, self._replies = pid, replies
        self.returncode: int | None = None
        self._orphaned = False  # the zygote died first: the pid is no longer kept for us

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status, or None if it has not exited within ``timeout`` seconds.
        ``ZygoteGone`` if the zygote died (the grader, orphaned, then stops itself)."""
        if self.returncode is None:
            if self._orphaned:
                raise ZygoteGone("the warm grader process died while grading")
            self._replies.settimeout(timeout)
            try:
                message = self._replies.recv(MAX_MESSAGE)
            except (TimeoutError, BlockingIOError):  # BlockingIOError: a timeout of 0
                return None
            if not message:
                self._orphaned = True
                raise ZygoteGone("the warm grader process died while grading")
            self.returncode = json.loads(message)["exit"]
        return self.returncode

    def signal(self, signum: int) -> None:
        """Signals the grader while its pid is surely its own: the zygote reaps it only after
        ``close``."""
        if self.returncode is None and not self._orphaned:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill_group(self) -> None:
        """SIGKILL to the grader's session: whatever it started there and left behind."""
        if self._orphaned:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        """Lets the zygote reap the grader (wait for its exit first)."""
        self._replies.close()


class Zygote:
    """The warm process of this Dask worker for the parts whose reference modules (``references``,
    e.g. ``reference.layers``) it preloads besides the grader itself."""

    def __init__(self, references: tuple, env: dict) -> None:
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "autograder.batch.zygote", str(theirs.fileno()), *references],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env)
        finally:
            theirs.close()
        self._lock = threading.Lock()

    def fork(self, request: dict, fds: list) -> GraderProcess:
        """A grader process for ``request`` (``autograder.batch.worker``'s REQUEST) that inherits
        ``fds``: the first becomes its stdout and stderr, the others stay open (locks)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._lock:
                socket.send_fds(self._control, [json.dumps(request).encode()], [theirs.fileno(), *fds])
        except OSError as exc:
            mine.close()
            raise ZygoteGone(f"the warm grader process is gone ({exc})") from None
        finally:
            theirs.close()
        reply = mine.recv(MAX_MESSAGE)  # the zygote answers at once: it only forks
        if not reply:
            mine.close()
            raise ZygoteGone(f"the warm grader process exited (status {self._proc.poll()})")
        return GraderProcess(json.loads(reply)["pid"], mine)

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None


def _preload_modules(references: list) -> list:
    """What a zygote imports: the grader, the suites' shared helpers and ``references``, the
    reference modules of the parts graded."""
    import autograder.suites

    helpers = [f"autograder.suites.{m.name}" for m in pkgutil.iter_modules(autograder.suites.__path__)
               if not m.ispkg]
    return ["autograder.batch.worker", *helpers, *references]


# --- the zygote's side -----------------------------------------------------------------------

def _preload(references: list) -> None:
    for name in _preload_modules(references):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the fork imports it again and reports what fails
            pass
    gc.freeze()  # imported objects stay out of the collector: their pages stay shared


def _serve(control: socket.socket) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    zygote = os.getpid()  # the forks' parent, taken before the fork: it may die just after
    running: dict = {}  # pid -> reply socket
    exited: dict = {}  # reply socket -> pid, reaped once the worker closes the socket
    while True:
        readable, _, _ = select.select([control, wake_r, *exited], [], [])
        if control in readable:
            message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, MAX_FDS)
            if not message:  # the Dask worker is gone
                return
            replies = socket.socket(fileno=fds[0])
            pid = os.fork()
            if pid == 0:
                _grade(json.loads(message), fds[1:], [control, replies, *running.values(), *exited],
                       (wake_r, wake_w), zygote)
            for fd in fds[1:]:
                os.close(fd)
            try:
                replies.send(json.dumps({"pid": pid}).encode())
            except OSError:  # the worker gave up on it already; it is reaped all the same
                pass
            running[pid] = replies
        if wake_r in readable:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
            for pid, replies in list(running.items()):
                status = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                if status is not None:
                    code = status.si_status if status.si_code == os.CLD_EXITED else -status.si_status
                    try:
                        replies.send(json.dumps({"exit": code}).encode())
                    except OSError:  # the worker closed its end already
                        pass
                    exited[replies] = pid
                    del running[pid]
        for replies in [s for s in readable if s in exited]:
            os.waitpid(exited.pop(replies), 0)
            replies.close()


def _grade(request: dict, fds: list, sockets: list, pipe: tuple, parent_pid: int) -> None:
    """In the fork: become ``python -m autograder.batch.worker REQUEST`` and exit with its status."""
    code = EXIT_CRASHED
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sock in sockets:
            sock.close()
        for fd in pipe:
            os.close(fd)
        os.setsid()
        log, *_locks = fds  # the locks stay open: this process holds its CPUs
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        _title(request)
        from autograder.batch import worker

        request["parent_pid"] = parent_pid  # the zygote: gone with its Dask worker
        code = worker.main(["worker", json.dumps(request)])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_CRASHED
    except BaseException:  # noqa: BLE001 - the log says what happened; the status says it failed
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _title(request: dict) -> None:
    """What ``ps`` shows for this process: the grader's command line as it was before zygotes
    (``python -m autograder.batch.worker REQUEST``), which names the submission."""
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(f"{Path(sys.executable).name} -m autograder.batch.worker {json.dumps(request)}")


def main(argv: list) -> None:
    control = socket.socket(fileno=int(argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the batch; the socket stops this
    _preload(argv[2:])
    _serve(control)


if __name__ == "__main__":
    main(sys.argv)
