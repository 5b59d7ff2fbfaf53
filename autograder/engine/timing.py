"""One timing harness for every timed test: the student's code against the reference's.

How a verdict is reached, and why:

* The clock lives in this, the trusted process. A measurement is the round trip of one ``call``
  request that runs the function ``repeat`` times in the child, on inputs staged there
  beforehand (``Session.stage``), with the results dropped there. Student code runs in another
  process, so patching ``time``, ``torch.cuda.Event`` or ``torch.cuda.synchronize`` there changes
  nothing here. On a GPU the child waits for its queued kernels before it replies, through the
  CUDA runtime's C entry point (``childside.server._cuda_synchronize``), not through torch.
* The reference runs in a sandboxed child of its own, called the same way, so both sides pay the
  same per-request overhead, in the same run, on the same inputs. On the CPU both children are
  pinned to the same cores (as many as their thread limit) while timed: a process hogging a
  core then slows both alike, instead of whichever side the scheduler placed next to it.
* Measurements are interleaved (reference, student, student, reference, ...) so that a machine
  that slows down mid-run slows both sides alike; a busy or slow grading host moves the ratio
  far less than it moves either time.
* Each measurement repeats the call until it lasts about ``measurement_s``, which makes the
  per-request overhead negligible; warm-up runs come first and are not counted.
* The verdict is on the ratio of the medians (student / reference). Rounds go on until that
  ratio is settled, or the budget is spent: settled means that the ratio's confidence interval,
  built from order statistics of each side's samples (no assumption on the noise's shape), lies
  inside one credit tier with a margin, or is narrow (the median is pinned down). Interference
  from other processes only adds time, so a few slowed samples widen the interval and buy more
  rounds instead of deciding the verdict. A ratio still near a tier's bound is re-measured
  with more rounds before the verdict, so noise decides as little as possible.

* Every repeat runs on an input of its own: before each run the child changes one element of
  the first array argument (a different one each run, by a seed that differs per request) and
  restores it after, so a function that caches its results by input computes every run. The
  timed runs' results are dropped in the child; so that handing back an earlier result (keyed
  by the array's identity) does not pay either, one more request like the timed ones keeps its
  last run's result after the verdict, and it must equal an untimed call's on a copy of that
  very input.

Known limits: student code shares its process with the child-side synchronisation, so a
submission written against this grader's own runtime could patch that out; and the check of
results looks at one run per verdict, so a function that hands back stale results only now and
then may slip through (gaining accordingly less). Both are deliberate cheating, not the clock
patches a timing harness must shrug off.

The clock, the timed calls and the device are injected (``Clock``, ``TimedCall``, ``Device``), so
the verdict logic is tested on synthetic timings without a GPU and without flaky sleeps.
"""
from __future__ import annotations

import dataclasses
import gc
import itertools
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from .childside.protocol import Handle
from .proxy import Session, StudentFunction

# Each side's median lies between the order statistics that _median_interval picks with at
# least this probability (for independent samples of any continuous noise: a binomial count).
MEDIAN_CONFIDENCE = 0.95


def _key(default, description: str):
    return dataclasses.field(default=default, metadata={"description": description})


@dataclasses.dataclass(frozen=True)
class Tier:
    """Up to ``max_ratio`` times the reference's time, the test earns ``credit`` (0..1) of its points."""

    max_ratio: float
    credit: float


DEFAULT_TIERS = (Tier(2.0, 1.0), Tier(5.0, 0.5))


@dataclasses.dataclass(frozen=True)
class MeasurementPlan:
    """How long and how carefully to measure. Declared once here; read from thresholds.toml."""

    warmup_rounds: int = _key(2, "Uncounted runs of each side first (caches, page faults, lazy imports).")
    min_rounds: int = _key(5, "Fewest counted (reference, student) rounds before the ratio "
                              "may be called settled.")
    max_rounds: int = _key(25, "Most counted rounds before a verdict (re-measurement not included).")
    remeasure_rounds: int = _key(15, "Extra rounds taken when the ratio is near a tier's bound.")
    measurement_s: float = _key(0.05, "One measurement repeats the call until it lasts about this long, "
                                      "so the per-request overhead stays small.")
    max_repeat: int = _key(1000, "Most calls in one measurement.")
    budget_s: float = _key(10.0, "Wall-clock seconds for measuring one comparison; a re-measurement "
                                 "near a bound gets as much again.")
    stability: float = _key(0.05, "The ratio is settled once its confidence interval is within "
                                  "this fraction either side of it.")
    near_threshold: float = _key(0.15, "The ratio's confidence interval must clear every tier's "
                                       "bound by this fraction to settle the tier; else it is "
                                       "re-measured.")

    def __post_init__(self) -> None:
        if min(self.min_rounds, self.max_rounds, self.max_repeat) < 1 or self.warmup_rounds < 0:
            raise ValueError("rounds and repeats must be at least 1 (warm-up rounds at least 0)")
        if self.remeasure_rounds < 0 or self.measurement_s <= 0 or self.budget_s <= 0:
            raise ValueError("remeasure_rounds must be >= 0, measurement_s and budget_s > 0")
        if not (0 < self.stability < 1 and 0 <= self.near_threshold < 1):
            raise ValueError("stability must lie in (0, 1) and near_threshold in [0, 1)")


def check_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """Tiers sorted by bound; bounds must be > 0 and credit in (0, 1], falling as bounds grow."""
    ordered = tuple(sorted(tiers, key=lambda t: t.max_ratio))
    if not ordered:
        raise ValueError("at least one tier is needed")
    for tier in ordered:
        if not (tier.max_ratio > 0 and 0 < tier.credit <= 1):
            raise ValueError(f"bad tier {tier}: max_ratio must be > 0 and credit in (0, 1]")
    if any(a.credit <= b.credit for a, b in zip(ordered, ordered[1:])):
        raise ValueError(f"credit must fall as the allowed ratio grows: {ordered}")
    return ordered


def credit_for(ratio: float, tiers: Sequence[Tier]) -> float:
    """The credit of the first (tightest) tier whose bound the ratio stays within; 0 beyond all."""
    return next((t.credit for t in check_tiers(tiers) if ratio <= t.max_ratio), 0.0)


@dataclasses.dataclass(frozen=True)
class TimingPolicy:
    """Everything a comparison needs to know besides the code: how to measure, what credit."""

    plan: MeasurementPlan = MeasurementPlan()
    default_tiers: tuple[Tier, ...] = DEFAULT_TIERS
    item_tiers: Mapping[str, tuple[Tier, ...]] = dataclasses.field(default_factory=dict)

    def tiers_for(self, item: str) -> tuple[Tier, ...]:
        return check_tiers(self.item_tiers.get(item, self.default_tiers))


# --- what the harness is built from (injected, so that tests can fake each) ----------------

class Clock(Protocol):
    def now_ns(self) -> int:
        """Monotonic time in nanoseconds."""


class PerfCounterClock:
    """The real clock, read in the trusted process only."""

    def now_ns(self) -> int:
        return time.perf_counter_ns()


@dataclasses.dataclass(frozen=True)
class Device:
    """Where the timed code runs. ``sync``: what the child waits for before it replies."""

    name: str
    sync: str | None = None


CPU = Device("cpu")


def device_named(name: str) -> Device:
    """``"cpu"`` or ``"cuda"`` / ``"cuda:N"`` (the run's ``--device``)."""
    if name == "cpu":
        return CPU
    if name == "cuda" or name.startswith("cuda:"):
        return Device(name, sync="cuda")
    raise ValueError(f"unknown device {name!r}; expected cpu or cuda")


class TimedCall(Protocol):
    def run(self, repeat: int) -> None:
        """Run the timed code ``repeat`` times; return once it, device work included, is done."""


class SandboxedCall:
    """A function of a sandboxed module, called on staged inputs, its results dropped in the
    child, optionally pinned to some CPUs. Every run gets an input of its own (one element of
    the first array argument changed, differently in every run of every request), so caching
    results by input gains nothing."""

    def __init__(self, function: StudentFunction, args: tuple, kwargs: dict | None = None,
                 device: Device = CPU, timeout: float | None = None,
                 cpus: tuple | None = None, unstaged: tuple | None = None) -> None:
        self.function, self.args, self.kwargs = function, tuple(args), dict(kwargs or {})
        self.device, self.timeout, self.cpus = device, timeout, cpus
        # (args, kwargs) as this process holds them: check_runs sends fresh copies of them
        self.unstaged = unstaged if unstaged is not None else (self.args, self.kwargs)
        self._requests = itertools.count(1)

    def run(self, repeat: int) -> None:
        self.function.call(self.args, self.kwargs, repeat=repeat, discard=True,
                           timeout=self.timeout, sync=self.device.sync, cpus=self.cpus,
                           vary=next(self._requests))

    def check_runs(self, repeat: int, check: Callable[[Any, Any], None]) -> None:
        """Make one more request like the timed ones, but keep its last run's result, and hold
        it against an untimed call on a fresh copy of that run's input: a function that hands
        back earlier results when timed (whatever the input) gives itself away. ``check(kept,
        fresh)`` raises ``AssertionError`` when they differ."""
        seed = next(self._requests)
        kept = self.function.call(self.args, self.kwargs, repeat=repeat, timeout=self.timeout,
                                  sync=self.device.sync, cpus=self.cpus, vary=seed).value
        args, kwargs = self.unstaged
        fresh = self.function.call(args, kwargs, timeout=self.timeout, sync=self.device.sync,
                                   cpus=self.cpus, vary=seed, vary_start=repeat - 1).value
        check(kept, fresh)


# --- the verdict ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TimingVerdict:
    item: str
    device: str
    student_median_s: float  # per call
    reference_median_s: float
    ratio: float  # student / reference
    tiers: tuple[Tier, ...]
    credit: float  # 0..1 of the test's points
    rounds: int  # counted (reference, student) pairs
    remeasured: bool  # the ratio came near a bound, and more rounds were taken
    stable: bool  # the tier or the ratio was settled (False: the median alone decided)
    student_repeat: int = 1  # runs per timed request of the student's function

    @property
    def thresholds(self) -> tuple[float, ...]:
        return tuple(t.max_ratio for t in self.tiers)

    def message(self) -> str:
        """What the student reads: both medians, the ratio, the tiers and the credit."""
        how = f"medians of {self.rounds} interleaved measurement{'s' if self.rounds != 1 else ''}"
        if self.remeasured:
            how += ", re-measured because the ratio was close to a limit"
        scale = "; ".join(f"up to {t.max_ratio:g}x: {_percent(t.credit)} of the points"
                          for t in self.tiers)
        return (f"{self.item} on {self.device}: your code took {self.ratio:.2f}x the reference's "
                f"time ({_duration(self.student_median_s)} vs {_duration(self.reference_median_s)} "
                f"per call, {how}). Speed credit: {scale}; slower: none. "
                f"Earned: {_percent(self.credit)}.")


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


# --- the harness ---------------------------------------------------------------------------

@dataclasses.dataclass
class _Samples:
    """Per-call seconds of each side, one pair per round."""

    reference: list = dataclasses.field(default_factory=list)
    student: list = dataclasses.field(default_factory=list)
    last_round_ns: int = 0

    @property
    def rounds(self) -> int:
        return len(self.student)

    def ratio(self) -> float:
        return statistics.median(self.student) / max(statistics.median(self.reference), 1e-12)

    def ratio_interval(self) -> tuple[float, float]:
        """Where the ratio of the medians lies, with both sides' intervals taken at their worst."""
        student_low, student_high = _median_interval(self.student)
        reference_low, reference_high = _median_interval(self.reference)
        return student_low / max(reference_high, 1e-12), student_high / max(reference_low, 1e-12)

    def clear_of_bounds(self, plan: MeasurementPlan, tiers: Sequence[Tier]) -> bool:
        """The interval clears every bound by ``near_threshold``: not near a threshold."""
        low, high = self.ratio_interval()
        margin = 1 + plan.near_threshold
        return all(high * margin < t.max_ratio or low > t.max_ratio * margin for t in tiers)

    def tier_settled(self, plan: MeasurementPlan, tiers: Sequence[Tier]) -> bool:
        """Clear of every bound after enough rounds: more rounds cannot change the tier."""
        return self.rounds >= plan.min_rounds and self.clear_of_bounds(plan, tiers)

    def precise(self, plan: MeasurementPlan) -> bool:
        """The interval is within ``stability`` either side of the ratio: the median is known."""
        if self.rounds < plan.min_rounds:
            return False
        low, high = self.ratio_interval()
        ratio = self.ratio()
        return high <= ratio * (1 + plan.stability) and low >= ratio / (1 + plan.stability)


def _median_interval(values: list) -> tuple[float, float]:
    """A distribution-free confidence interval of the median: the k-th smallest and k-th largest
    values, k as large as MEDIAN_CONFIDENCE allows (the extremes when there are too few)."""
    ordered, n = sorted(values), len(values)
    k, outside = 0, 0.0
    while k < n // 2 and outside + 2 * math.comb(n, k) / 2 ** n <= 1 - MEDIAN_CONFIDENCE:
        outside += 2 * math.comb(n, k) / 2 ** n
        k += 1
    k = max(k, 1)
    return ordered[k - 1], ordered[n - k]


class TimingHarness:
    """Times a student call against a reference call and returns a ``TimingVerdict``."""

    def __init__(self, plan: MeasurementPlan = MeasurementPlan(), clock: Clock | None = None) -> None:
        self.plan = plan
        self.clock = clock or PerfCounterClock()

    def compare(self, student: TimedCall, reference: TimedCall, tiers: Sequence[Tier], item: str,
                device: Device = CPU) -> TimingVerdict:
        tiers = check_tiers(tiers)
        plan = self.plan
        start = self.clock.now_ns()
        repeats = self._warm_up(student, reference)
        samples = _Samples()

        def settled() -> bool:
            return samples.tier_settled(plan, tiers) or samples.precise(plan)

        self._measure(samples, student, reference, repeats, plan.max_rounds,
                      start + _ns(plan.budget_s), settled)
        remeasured = False
        if plan.remeasure_rounds and not samples.clear_of_bounds(plan, tiers):
            remeasured = True
            self._measure(samples, student, reference, repeats, plan.remeasure_rounds,
                          self.clock.now_ns() + _ns(plan.budget_s), until=None)
        ratio = samples.ratio()
        return TimingVerdict(
            item=item, device=device.name, student_median_s=statistics.median(samples.student),
            reference_median_s=statistics.median(samples.reference), ratio=ratio, tiers=tiers,
            credit=credit_for(ratio, tiers), rounds=samples.rounds, remeasured=remeasured,
            stable=settled(), student_repeat=repeats[1])

    def _warm_up(self, student: TimedCall, reference: TimedCall) -> tuple[int, int]:
        """Single calls first, then warm-up runs sized from them; returns the repeat counts.

        A side whose single call already lasts a whole measurement needs no warm-up: its own
        length dwarfs any cold start. The student never repeats more often than the
        reference, so a faster student cannot amortise the request overhead better.
        """
        reference_s, student_s = self._time(reference, 1), self._time(student, 1)
        for _ in range(self.plan.warmup_rounds):
            if reference_s < self.plan.measurement_s:
                reference_s = self._time(reference, self._repeat_for(reference_s))
            if student_s < self.plan.measurement_s:
                student_s = self._time(student, min(self._repeat_for(student_s),
                                                    self._repeat_for(reference_s)))
        reference_repeat = self._repeat_for(reference_s)
        return reference_repeat, min(reference_repeat, self._repeat_for(student_s))

    def _measure(self, samples: _Samples, student: TimedCall, reference: TimedCall,
                 repeats: tuple[int, int], rounds: int, deadline_ns: int,
                 until: Callable[[], bool] | None) -> None:
        """Up to ``rounds`` more rounds, alternating which side goes first (ABBA), until
        ``until()`` or the deadline (judged by the last round's length; one round at least)."""
        reference_repeat, student_repeat = repeats
        for _ in range(rounds):
            began = self.clock.now_ns()
            if samples.rounds and began + samples.last_round_ns > deadline_ns:
                return
            if samples.rounds % 2 == 0:
                reference_s = self._time(reference, reference_repeat)
                student_s = self._time(student, student_repeat)
            else:
                student_s = self._time(student, student_repeat)
                reference_s = self._time(reference, reference_repeat)
            samples.last_round_ns = self.clock.now_ns() - began
            samples.reference.append(reference_s)
            samples.student.append(student_s)
            if until is not None and until():
                return

    def _time(self, call: TimedCall, repeat: int) -> float:
        """Seconds per call. The collector is paused so that its pauses are not timed."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            began = self.clock.now_ns()
            call.run(repeat)
            ended = self.clock.now_ns()
        finally:
            if collecting:
                gc.enable()
        return (ended - began) / 1e9 / repeat

    def _repeat_for(self, seconds_per_call: float) -> int:
        wanted = round(self.plan.measurement_s / max(seconds_per_call, 1e-9))
        return max(1, min(self.plan.max_repeat, wanted))


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


# --- what the suites use (the plugin's ``timing`` fixture) ---------------------------------

@dataclasses.dataclass(frozen=True)
class Side:
    """One process of a comparison: the proxies its input builders see, and its session."""

    access: Any  # plugin.SubmissionAccess: .module(name, opaque) and .helper(name, source)
    session: Session


# Builds the inputs of a timed call inside one side's process; returns the positional args.
ArgsBuilder = Callable[[Any], tuple]


class TimedComparisons:
    """The ``timing`` fixture: ``compare`` a student function with the reference's.

    Every comparison first calls both functions once on the very inputs it will time and
    requires the results to agree (``check``); a wrong result raises ``AssertionError`` and earns
    no timing points, however fast. Only then is the pair timed. The test's score is the mean
    credit of its comparisons.
    """

    def __init__(self, student: Side, reference: Side | None, policy: TimingPolicy) -> None:
        self.student, self.reference, self.policy = student, reference, policy
        self.verdicts: list[TimingVerdict] = []

    def compare(self, function: str, args: tuple | ArgsBuilder, *, module: str,
                item: str | None = None, kwargs: dict | None = None, opaque: dict | None = None,
                reference_function: str | None = None,
                check: Callable[[Any, Any], None] | None = None,
                device: str = "cpu", repeatable: bool = True) -> TimingVerdict:
        """Time ``module.function(*args, **kwargs)`` of the student against the reference's.

        * ``args``: the inputs, or a builder ``f(side) -> args`` run once per side, so that
          inputs that only exist in a process (a forward pass's cache) are made there:
          ``lambda side: (dout, side.module("fast_layers", OPAQUE).conv_forward_fast(*fwd)[1])``.
        * ``opaque``: as for ``submission.module``; what stays in the child in the check call.
        * ``check(student_value, reference_value)``: raises ``AssertionError`` (with a message
          for the student, no expected values) when the student's result is wrong; default
          ``assert_matches_reference``.
        * ``item``: the thresholds' key (default: ``function``); ``device``: "cpu" or "cuda".
        * ``repeatable``: the function gives the same result for the same input (False for a
          training step, which changes its model); then the timed runs' results are checked
          against an untimed call after the timing (``SandboxedCall.check_runs``).
        """
        if self.reference is None:
            raise RuntimeError("this part has no reference implementation to time against")
        item = item or function
        target = device_named(device)
        cpus = self._shared_cpus() if target.sync is None else None  # GPU work: CPUs left alone
        student_call, student_value = self._prepare(self.student, module, function, args, kwargs,
                                                    opaque, target, cpus)
        reference_call, reference_value = self._prepare(self.reference, module,
                                                        reference_function or function, args,
                                                        kwargs, opaque, target, cpus)
        (check or assert_matches_reference)(student_value, reference_value)
        verdict = TimingHarness(self.policy.plan).compare(
            student_call, reference_call, self.policy.tiers_for(item), item, target)
        if repeatable:
            student_call.check_runs(verdict.student_repeat, assert_same_when_timed)
        self.verdicts.append(verdict)
        return verdict

    @property
    def fraction(self) -> float:
        return sum(v.credit for v in self.verdicts) / len(self.verdicts)

    def _shared_cpus(self) -> tuple | None:
        """The CPUs both sides are timed on: as many of this process's as the children may run
        threads (the reference's limit, which the student's shares even when its file is
        missing). None where affinity cannot be set (not Linux)."""
        affinity = getattr(os, "sched_getaffinity", None)
        if affinity is None:
            return None
        threads = max(1, self.reference.session.sandbox.limits.threads)
        return tuple(sorted(affinity(0))[-threads:])

    @staticmethod
    def _prepare(side: Side, module: str, function: str, args, kwargs, opaque, device: Device,
                 cpus: tuple | None):
        """Call once for the check (which also imports the module, or reports it missing), then
        stage the inputs in the side's process; return the timed call and the checked value.

        The check call gets its own copy of the inputs, so a function that edits them in place
        does not change what is timed afterwards."""
        values = tuple(args(side.access) if callable(args) else args)
        proxy = getattr(side.access.module(module, opaque), function)
        value = proxy.call(values, kwargs or {}, sync=device.sync).value
        staged = tuple(v if isinstance(v, Handle) else side.session.stage(v) for v in values)
        staged_kwargs = {k: v if isinstance(v, Handle) else side.session.stage(v)
                         for k, v in (kwargs or {}).items()}
        return SandboxedCall(proxy, staged, staged_kwargs, device, cpus=cpus,
                             unstaged=(values, dict(kwargs or {}))), value


# Same input, same function: CPU results agree exactly; the slack is for GPU kernels. A result
# handed back from an earlier run differs by far more (1e-1 for a conv output, 5e-4 to 5e-3 for
# the reference model's logits after one pixel's change).
SAME_RESULT_RTOL = 1e-5


def assert_same_when_timed(kept, fresh) -> None:
    """The result of a timed run must be what the function returns, untimed, for that input."""
    try:
        assert_matches_reference(kept, fresh, rtol=SAME_RESULT_RTOL)
    except AssertionError:
        raise AssertionError(
            "while timed, your function returned results that differ from what it returns for "
            "the same input in an untimed call (is it random, or does it hand back earlier "
            "results?): no speed points") from None


def assert_matches_reference(student, reference, rtol: float = 1e-6, where: str = "result") -> None:
    """The student's value must have the reference's structure, and arrays that differ from the
    reference's by at most ``rtol`` of its largest magnitude (robust where values cross zero,
    unlike an elementwise relative error). Handles (objects kept in a child) are not compared.
    The message says what differs, never the expected values."""
    if isinstance(reference, Handle):
        return
    if reference is None or isinstance(reference, (str, bytes, bool)):
        if type(student) is not type(reference) or student != reference:
            raise AssertionError(f"on the timed inputs, your {where} differs from the "
                                 "reference's, so it was not timed")
        return
    if isinstance(reference, (tuple, list)):
        if not isinstance(student, (tuple, list)) or len(student) != len(reference):
            raise AssertionError(f"on the timed inputs, your {where} is not a sequence of "
                                 f"{len(reference)} items like the reference's, so it was not timed")
        for index, (s, r) in enumerate(zip(student, reference)):
            assert_matches_reference(s, r, rtol, f"{where} item {index}")
        return
    expected = np.asarray(reference, dtype=np.float64)
    try:
        actual = np.asarray(student, dtype=np.float64)
    except (TypeError, ValueError):
        actual = None
    if actual is None or actual.shape != expected.shape:
        raise AssertionError(f"on the timed inputs, your {where} does not have the reference's "
                             "shape, so it was not timed (a wrong result earns no speed points)")
    scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1e-8)
    worst = float(np.max(np.abs(actual - expected))) / scale if expected.size else 0.0
    if not worst <= rtol:  # also catches NaN
        raise AssertionError(f"on the timed inputs, your {where} is wrong (max error {worst:.1e} "
                             "relative to the largest value), so it was not timed: a wrong result "
                             "earns no speed points")
