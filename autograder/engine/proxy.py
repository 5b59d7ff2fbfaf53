"""What the hidden tests hold instead of the student's module: a proxy into the sandbox.

``StudentModule("layers", ...)`` behaves like the module ``layers.py`` for the tests: calling
``student.relu_forward(x)`` encodes ``x``, runs the student's function in the child, and returns
plain numpy arrays and Python numbers decoded in the grader. Objects the student returns that are
not plain data (a layer's cache, a model) stay in the child behind a ``Handle`` that can be passed
back in later calls. Every way student code can fail surfaces as a ``StudentCodeError`` whose text
is written for the student.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from .arena import SharedArgs
from .childside import protocol
from .childside.protocol import Handle
from .sandbox import ChildFailed, Sandbox


class StudentCodeError(Exception):
    """Student code failed; ``str(error)`` is a message for the student."""


class StudentException(StudentCodeError):
    """The student's function raised. ``types`` lists the exception's class and its bases."""

    def __init__(self, message: str, type_name: str, types: list, traceback: list) -> None:
        super().__init__(message + "".join(f"\n    {line}" for line in traceback))
        self.type_name, self.types, self.traceback = type_name, types, traceback

    def is_a(self, name: str) -> bool:
        return name in self.types


class StudentImportError(StudentCodeError):
    """The student's file could not be imported (syntax error, forbidden import, ...)."""


class MissingFile(StudentCodeError):
    """The submission lacks the file."""


class MissingFunction(StudentCodeError):
    """The file lacks the function."""


class StudentTimeout(StudentCodeError):
    """The call ran past its time limit (``limit``, in seconds), or was not run because the
    part's budget ran out (``limit`` is None)."""

    def __init__(self, message: str, limit: float | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class NotCalledAgain(StudentCodeError):
    """The function (or the import of its file) timed out earlier in the part, so it is not
    called again: each further call would cost the call limit again."""


class StudentCrash(StudentCodeError):
    """The student process died or broke the protocol during the call."""


class MachineOutOfMemory(StudentCrash):
    """The kernel killed the student process because the grading machine ran out of memory."""


class BadReturnValue(StudentCodeError):
    """The function returned something that is not plain data."""


class StaleHandle(StudentCodeError):
    """A handle from a student process that has since been restarted."""


# The most a reply may hold: REPLY_PER_INPUT_BYTE times the call's inputs, at least
# REPLY_FLOOR_BYTES, never more than the configured limits.max_message_mb. Every graded function
# returns at most a few times its inputs (an output, a cache, the arguments after the call), and
# the largest honest reply of the suites (a CIFAR-10 batch's logits, a layer's output on the timed
# inputs) is far below the floor. The reader refuses a longer reply as soon as it announces its
# length, so the grader never holds more than this for one reply.
REPLY_FLOOR_BYTES = 64 * 2**20
REPLY_PER_INPUT_BYTE = 8


def reply_limit(buffers: list, ceiling: int) -> int:
    """The reply cap of a call whose inputs are ``buffers`` (see REPLY_FLOOR_BYTES)."""
    sent = sum(len(b) for b in buffers)
    return min(ceiling, max(REPLY_FLOOR_BYTES, REPLY_PER_INPUT_BYTE * sent))


@dataclasses.dataclass(frozen=True)
class TimingRequest:
    """How a call runs when it is timed (``engine.timing``): ``repeat`` runs back to back, their
    results dropped with ``discard``; ``sync`` names a device ("cuda") whose queued work the
    child waits for after the last run, so that a reply means the work is done; ``cpus`` pins the
    runs to those CPUs; ``arena`` (``engine.arena.Arena.request``) gives each run an input of its
    own from memory the grader owns, where the runs leave their results."""

    repeat: int = 1
    discard: bool = False
    sync: str | None = None
    cpus: tuple | None = None
    arena: dict | None = None


UNTIMED = TimingRequest()


@dataclasses.dataclass
class CallResult:
    value: object
    mutated_args: list  # indices of arguments (arrays, dicts, lists) the call modified in place
    aliases: list = dataclasses.field(default_factory=list)  # [output, argument]: a view of it


class Session:
    """The sandbox of one part, with the part's time budget. Tests never see processes.

    Without a sandbox (``unavailable`` says why, e.g. the file is missing) every request fails
    with ``MissingFile(unavailable)``, so the suite runs and scores 0 with that message.
    """

    def __init__(self, sandbox: Sandbox | None, part_timeout: float, unavailable: str | None = None,
                 budget_name: str | None = None) -> None:
        """``budget_name`` says, for the student, what budget ``part_timeout`` is (a part's
        share of the whole grade's budget may be less than the part's own)."""
        if sandbox is None and unavailable is None:
            raise ValueError("a session without a sandbox needs the reason it is unavailable")
        self.sandbox = sandbox
        self.unavailable = unavailable
        self.deadline = time.monotonic() + part_timeout
        self.part_timeout = part_timeout
        self.budget_name = budget_name or f"the part's time budget of {part_timeout:.0f} s"
        self.out_of_time = False  # a call was refused because the budget was used up
        self.timed_out: dict = {}  # (module, function) -> the limit it ran past, in seconds
        self._imported: set = set()  # (module, incarnation) pairs imported successfully
        self._import_errors: dict = {}  # module -> error; deterministic, so kept across restarts
        self._helpers: dict = {}  # module name -> source of trusted helper code

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def request(self, header: dict, buffers: list, what: str, timeout: float | None = None):
        if self.unavailable is not None:
            raise MissingFile(self.unavailable)
        if self.remaining() > 0 and not self.sandbox.alive:
            self.sandbox.start()  # a restart is paid from the budget too, not on top of a call
        budget = self.remaining()
        if budget <= 0:
            self.out_of_time = True
            raise StudentTimeout(f"{what}: not run, {self.budget_name} is used up")
        call_limit = timeout or self.sandbox.limits.call_timeout
        limit = min(call_limit, budget)
        cap = reply_limit(buffers, self.sandbox.limits.max_message_mb * 2**20)
        try:
            reply, buffers = self.sandbox.request(header, buffers, limit, cap)
        except protocol.ProtocolError as exc:  # the sandbox has killed the child
            raise self._unreadable(what, exc) from None
        except ChildFailed as failure:
            if failure.timed_out and limit < call_limit:  # not the function's own limit
                raise StudentTimeout(f"{what} did not finish within the {limit:.1f} s left of "
                                     f"{self.budget_name}") from None
            if failure.timed_out:
                raise StudentTimeout(f"{what} did not finish within {limit:.1f} s "
                                     "(infinite loop, or far too slow?)", limit) from None
            crash = MachineOutOfMemory if failure.out_of_memory else StudentCrash
            raise crash(f"{what} crashed: {failure.reason}") from None
        if reply.get("ok") is not True:
            raise _error_from_reply(reply, what)
        return reply, buffers

    def unreadable(self, what: str, exc: Exception) -> "BadReturnValue":
        """A reply the grader refuses to decode: the child is killed (a fresh one serves the
        next call), since what it holds or sends next cannot be trusted either."""
        if self.sandbox is not None:
            self.sandbox.kill()
        return self._unreadable(what, exc)

    @staticmethod
    def _unreadable(what: str, exc: Exception) -> "BadReturnValue":
        return BadReturnValue(f"{what}: your function returned something the grader cannot read "
                              f"({str(exc)[:300]}); the student process was restarted")

    def add_helper(self, name: str, source: str) -> None:
        """Register trusted helper code to run in the child as module ``name`` (re-sent after
        every restart, like the student's own modules are re-imported)."""
        self._helpers[name] = source

    def ensure_imported(self, module: str, forbid: tuple, reason: str) -> None:
        if self.unavailable is not None:
            raise MissingFile(self.unavailable)
        if module in self._import_errors:
            raise self._import_errors[module]
        if self.sandbox.alive and (module, self.sandbox.incarnation) in self._imported:
            return
        if module in self._helpers:
            self.request({"op": "load_helper", "name": module, "source": self._helpers[module]}, [],
                         "setting up the grader's code in your process")
            self._imported.add((module, self.sandbox.incarnation))
            return
        header = {"op": "import", "module": module, "forbid": list(forbid), "reason": reason}
        try:
            self.request(header, [], f"importing {module}.py")
        except (StudentImportError, MissingFile) as error:
            self._import_errors[module] = error
            raise
        except StudentTimeout as error:
            if error.limit is not None:
                self._import_errors[module] = NotCalledAgain(
                    f"importing {module}.py timed out earlier in this part ({error.limit:.0f} s "
                    "limit); not tried again")
            raise
        self._imported.add((module, self.sandbox.incarnation))

    def make_handle(self, ident: int, type_name: str) -> Handle:
        return Handle(ident, type_name, self.sandbox.incarnation)

    def stage(self, value, what: str = "sending inputs to the student process") -> Handle:
        """Ship ``value`` to the child once and keep it there behind the returned handle.

        Timed calls pass handles instead of arrays, so what is timed is the student's code, not
        the copying of its inputs.
        """
        encoded, buffers = self.encode_args(value)
        reply, out = self.request({"op": "put", "value": encoded}, buffers, what)
        try:
            return protocol.decode(reply["value"], out, self.make_handle)
        except (protocol.ProtocolError, KeyError) as exc:
            raise self.unreadable(what, exc) from None

    def encode_args(self, values) -> tuple:
        buffers: list = []
        incarnation = self.sandbox.incarnation if self.sandbox and self.sandbox.alive else -1
        for handle in _handles_in(values):
            if handle.incarnation != incarnation:
                raise StaleHandle("an object your code returned earlier was lost when the "
                                  "student process restarted after a failure")
        return protocol.encode(values, buffers), buffers


class StudentModule:
    """Proxy for one student file. ``opaque`` maps function names to the positions of their
    return tuple that stay in the child (``"all"`` for the whole return value)."""

    def __init__(self, session: Session, name: str, opaque: dict | None = None,
                 forbid: tuple = (), forbid_reason: str = "") -> None:
        self._session, self._name = session, name
        self._opaque = opaque or {}
        self._forbid, self._forbid_reason = tuple(forbid), forbid_reason

    def __getattr__(self, attr: str) -> "StudentFunction":
        if attr.startswith("_"):
            raise AttributeError(attr)
        return StudentFunction(self, attr)

    def __repr__(self) -> str:
        return f"<student module {self._name}.py>"

    def label_of(self, attr: str) -> str:
        """How messages name a call of ``attr`` (the student reads them)."""
        return f"{attr}() in {self._name}.py"


class StudentFunction:
    def __init__(self, module: StudentModule, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args, **kwargs):
        return self.call(args, kwargs).value

    def call(self, args: tuple, kwargs: dict | None = None, *, check_mutation: bool = False,
             timeout: float | None = None, timing: TimingRequest = UNTIMED) -> CallResult:
        """Run the function in the sandbox with ``args`` and ``kwargs``; ``check_mutation``
        reports in-place edits of arrays and outputs that are views of inputs; ``timeout``
        replaces the part's limit for one call; ``timing`` says how ``engine.timing`` runs it."""
        m = self.module
        session = m._session
        label = m.label_of(self.name)
        limit = session.timed_out.get((m._name, self.name))
        if limit is not None:
            raise NotCalledAgain(f"{self.name} timed out earlier in this part ({limit:.0f} s "
                                 "limit); not called again")
        session.ensure_imported(m._name, m._forbid, m._forbid_reason)
        encoded_args, buffers = session.encode_args(list(args))
        encoded_kwargs = protocol.encode(dict(kwargs or {}), buffers)
        # The purity checks read array arguments in the grader's own memory (engine.arena).
        shared = (SharedArgs(session.sandbox.scratch, session.sandbox.uid, tuple(args))
                  if check_mutation and session.unavailable is None else None)
        header = {"op": "call", "target": {"module": m._name, "attr": self.name, "label": label},
                  "args": encoded_args, "kwargs": encoded_kwargs,
                  "opaque": m._opaque.get(self.name), "check_mutation": check_mutation,
                  "repeat": timing.repeat, "discard": timing.discard, "sync": timing.sync,
                  "cpus": list(timing.cpus) if timing.cpus is not None else None, "timed": timing.arena,
                  "shared": shared.request() if shared is not None else None}
        try:
            try:
                reply, out = session.request(header, buffers, label, timeout)
            except StudentTimeout as error:
                if error.limit is not None:
                    session.timed_out[(m._name, self.name)] = error.limit
                raise
            try:
                value = protocol.decode(reply["value"], out, session.make_handle) if "value" in reply else None
                after = protocol.decode(reply.get("args_after", []), out, session.make_handle)
            except protocol.ProtocolError as exc:
                raise session.unreadable(label, exc) from None
            if shared is None:
                return CallResult(value, [])
            mutated = sorted(set(shared.changed()) | set(_changed_containers(args, after)))
            return CallResult(value, mutated, _views_of_inputs(session, shared, value, label))
        finally:
            if shared is not None:
                shared.close()


def _changed_containers(before: tuple, after) -> list:
    """Positions of dict and list arguments that the call changed, compared here with the
    grader's own values (numpy in the child may be patched; numpy here is not)."""
    if not isinstance(after, list) or len(after) != len(before):
        return [i for i, a in enumerate(before) if isinstance(a, (dict, list))]
    return [i for i, (a, b) in enumerate(zip(before, after))
            if isinstance(a, (dict, list)) and not _same_value(a, b)]


def _views_of_inputs(session: Session, shared: SharedArgs, value, label: str) -> list:
    """[output, argument] for each returned array that follows an input's memory: every array
    argument is changed in turn, in the grader's memory, and the child sends its result again;
    an output that changed with it (or is not sent again) is a view of that input."""
    outputs = value if isinstance(value, (tuple, list)) else (value,)
    found = []
    for position in shared.copies:
        with shared.scrambled(position):
            reply, out = session.request({"op": "resend"}, [], label)
        try:
            again = protocol.decode(reply.get("value"), out)
        except protocol.ProtocolError:
            again = None
        again = again if isinstance(again, list) and len(again) == len(outputs) else [None] * len(outputs)
        found += [[i, position] for i, (first, now) in enumerate(zip(outputs, again))
                  if isinstance(first, np.ndarray) and not (isinstance(now, np.ndarray)
                                                            and _same_value(first, now))]
    return found


def _same_value(before, after) -> bool:
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and after.shape == before.shape
                and after.dtype == before.dtype
                and bool(np.array_equal(after, before, equal_nan=before.dtype.kind in "fc")))
    if isinstance(before, (dict, list)):
        try:
            return bool(before == after)
        except (TypeError, ValueError):  # e.g. arrays inside: compare no further
            return True
    return True


def _handles_in(value):
    if isinstance(value, Handle):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _handles_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _handles_in(v)


def _error_from_reply(reply: dict, what: str) -> StudentCodeError:
    kind = reply.get("kind")
    message = str(reply.get("message", ""))[:4000]
    tb = [str(line)[:300] for line in reply.get("traceback", []) if isinstance(line, str)][:8]
    if kind == "exception":
        types = [str(t) for t in reply.get("types", [])][:20]
        return StudentException(f"{what} raised {message}", str(reply.get("type", "")), types, tb)
    if kind == "import":
        return StudentImportError(f"{what} failed: {message}" + "".join(f"\n    {line}" for line in tb))
    if kind == "missing_module":
        return MissingFile(message)
    if kind == "missing_attr":
        return MissingFunction(message)
    if kind == "encode":
        return BadReturnValue(f"{message}; return numpy arrays, numbers, or tuples of them")
    if kind == "stale_handle":
        return StaleHandle(message)
    return StudentCrash(f"{what}: the student process answered with an error ({kind}: {message})")
