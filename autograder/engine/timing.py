"""One timing harness for every timed test: the student's code against the reference's.

How a verdict is reached, and why:

* The clock lives in this, the trusted process. A measurement is the round trip of one ``call``
  request that runs the function ``repeat`` times in the child, on inputs staged there
  beforehand (``Session.stage``) or written into the arena (below), leaving its results there.
  Student code runs in another process, so patching ``time``, ``torch.cuda.Event`` or
  ``torch.cuda.synchronize`` there changes nothing here. On a GPU the child waits for its queued kernels before it replies, through the
  CUDA runtime's C entry point (``childside.server._cuda_synchronize``), not through torch.
* The reference runs in a sandboxed child of its own, called the same way, so both sides pay the
  same per-request overhead, in the same run, on the same inputs. On the CPU both children are
  pinned to the same cores (as many as their thread limit) while timed: a process hogging a
  core then slows both alike, instead of whichever side the scheduler placed next to it.
* Measurements are interleaved (reference, student, student, reference, ...) so that a machine
  that slows down mid-run slows both sides alike; a busy or slow grading host moves the ratio
  far less than it moves either time.
* Each measurement repeats the call until it lasts about ``measurement_s`` (20 ms), which makes
  the per-request overhead small (0.4 ms a request here, paid by both sides: a true ratio of 2
  reads 1.98); one warm-up measurement per side comes first and is not counted. Measuring is
  most of what grading a fast submission costs: with 50 ms and two warm-ups, the reference's
  fast_layers grade took 4.0 CPU-s, 2.4 with these; the flakiness benchmark holds these values
  to the standard the longer ones met (``benchmarks/flakiness.py``).
* The verdict is on the ratio of the medians (student / reference). Rounds go on until that
  ratio is settled, or the budget is spent: settled means that the ratio's confidence interval,
  built from order statistics of each side's samples (no assumption on the noise's shape), lies
  inside one credit tier with a margin, or is narrow (the median is pinned down). Interference
  from other processes only adds time, so a few slowed samples widen the interval and buy more
  rounds instead of deciding the verdict. A ratio still near a tier's bound is re-measured
  with more rounds before the verdict, so noise decides as little as possible.

* Every run of a timed request gets a whole input of its own (the first float or image array
  argument), drawn in this process from a generator seeded by a secret the child never sees,
  and written into memory this process owns (``engine.arena``) just before the request; each
  run leaves its results there. Right after each reply this process copies the results of a
  few runs chosen by the same secret (``checked_runs`` per verdict, a uniform sample of all the
  runs, plus the very last run), and after the verdict holds each against an untimed call on
  that run's input: the reference's (or, for a model, the student's own), and holds it to the
  comparison's own check as well (a training step that changes nothing equals an untimed step
  that changes nothing). One mismatch, and the comparison earns no speed points. So caching
  results on the rest of the input gains nothing (every input is new), a submission that
  patches this grader's child-side loop to skip runs is caught unless it guessed which runs
  are checked (skipping a fraction f of the runs passes with probability
  (1 - f) ** checked_runs, and never the last), and results written after the reply come too
  late. The arena holds at most ``arena_mb`` per side, which caps the repeats.
  On a GPU, a child that skips its wait for the device gains nothing either: the last run's
  results must be in the arena, in host memory, when the reply comes, and the device runs its
  queue in order.
* While the reference is timed (and while the student's inputs are written), everything of the
  submission is stopped (``engine.guard``: its cgroup frozen, else every process of it sent
  ``SIGSTOP``), so processes it left behind cannot slow the reference only. Where the kernel
  counts the sandboxes' CPU time (cgroups), each side's CPU seconds per wall-clock second are
  compared: the reference getting much less of the CPU than the student (something starved
  it), or the student using more CPUs than it may, is re-measured, and if it persists the
  verdict takes the lower credit of the wall-clock ratio and the CPU-time ratio. The verdict
  names the guard that was in force and whether CPU time was cross-checked.
* A verdict that costs points is measured a second time, from the start, and the better of the
  two stands (unless its ratio is far beyond every tier): interference only ever adds time, and
  a burst of it on one side's rounds must not decide a grade, while code that is slow is slow
  both times. The reference against itself, graded 20 times beside a CPU hog on a 2-CPU machine
  at load 13, once got half credit (3.3x) without it (``benchmarks/flakiness.py``).

The clock, the timed calls and the device are injected (``Clock``, ``TimedCall``, ``Device``), so
the verdict logic is tested on synthetic timings without a GPU and without flaky sleeps.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import os
import secrets
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from .arena import Arena, varied_position, with_outputs
from .childside.protocol import Handle
from .guard import SandboxGuard
from .proxy import Session, StudentFunction, TimingRequest

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

    warmup_rounds: int = _key(1, "Uncounted runs of each side first (caches, page faults, lazy imports).")
    min_rounds: int = _key(5, "Fewest counted (reference, student) rounds before the ratio "
                              "may be called settled.")
    max_rounds: int = _key(25, "Most counted rounds before a verdict (re-measurement not included).")
    remeasure_rounds: int = _key(15, "Extra rounds taken when the ratio is near a tier's bound.")
    measurement_s: float = _key(0.02, "One measurement repeats the call until it lasts about this long, "
                                      "so the per-request overhead stays small.")
    max_repeat: int = _key(1000, "Most calls in one measurement.")
    budget_s: float = _key(10.0, "Wall-clock seconds for measuring one comparison; a re-measurement "
                                 "near a bound gets as much again.")
    stability: float = _key(0.05, "The ratio is settled once its confidence interval is within "
                                  "this fraction either side of it.")
    near_threshold: float = _key(0.15, "The ratio's confidence interval must clear every tier's "
                                       "bound by this fraction to settle the tier; else it is "
                                       "re-measured.")
    checked_runs: int = _key(3, "Timed runs whose results are checked after the verdict, chosen "
                                "at random by a secret (the last run is checked as well).")
    arena_mb: int = _key(64, "Most MiB of inputs and results a timed request may hold for each "
                             "side (it caps the repeats of a request).")

    def __post_init__(self) -> None:
        if min(self.min_rounds, self.max_rounds, self.max_repeat, self.arena_mb) < 1 \
                or min(self.warmup_rounds, self.checked_runs) < 0:
            raise ValueError("rounds, repeats and arena_mb must be at least 1 (warm-up rounds "
                             "and checked_runs at least 0)")
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


class TimedCall:
    """What the harness times. ``run`` is timed; ``prepare`` (before) and ``collect`` (right
    after) are not. ``paused()`` keeps the side's processes stopped while the other side is
    timed; ``cpu_seconds()`` is the kernel's count of the side's CPU time (None if unknown)."""

    capacity: int | None = None  # most runs in one request (None: no limit but the plan's)
    guard: str = ""  # how ``paused`` stops the side, in words for the report

    def prepare(self, repeat: int) -> None:
        """Untimed set-up of the next ``run(repeat)``."""

    def run(self, repeat: int) -> None:
        """Run the timed code ``repeat`` times; return once it, device work included, is done."""
        raise NotImplementedError

    def collect(self, repeat: int) -> None:
        """Untimed, right after ``run``: keep what is checked later."""

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        yield

    def cpu_seconds(self) -> float | None:
        return None


class SandboxedCall(TimedCall):
    """A function of a sandboxed module, called on staged inputs, optionally pinned to some
    CPUs. With an ``arena`` every run gets an input of its own and leaves its results there;
    ``checked_runs`` of them (chosen at random, a uniform sample of every run of every request)
    and the last run are kept for ``checked()``."""

    def __init__(self, function: StudentFunction, args: tuple, kwargs: dict | None = None,
                 device: Device = CPU, timeout: float | None = None, cpus: tuple | None = None,
                 arena: Arena | None = None, guard: SandboxGuard | None = None,
                 checked_runs: int = 0) -> None:
        self.function, self.args, self.kwargs = function, tuple(args), dict(kwargs or {})
        self.device, self.timeout, self.cpus = device, timeout, cpus
        self.arena, self.sandbox_guard, self.checked_runs = arena, guard, checked_runs
        self.capacity = arena.capacity if arena is not None else None
        self.guard = guard.kind if guard is not None else ""
        self._secret = np.random.default_rng(secrets.randbits(128))  # never leaves this process
        self._kept: list = []  # (input, outputs) of the runs sampled so far
        self._last = None
        self._runs_seen = 0

    def prepare(self, repeat: int) -> None:
        if self.arena is not None:
            self.arena.fill(self._secret, repeat)

    def run(self, repeat: int) -> None:
        self.function.call(self.args, self.kwargs, timeout=self.timeout, timing=TimingRequest(
            repeat=repeat, discard=True, sync=self.device.sync, cpus=self.cpus,
            arena=self.arena.request() if self.arena is not None else None))

    def collect(self, repeat: int) -> None:
        if self.arena is None or not self.checked_runs:
            return
        for run in range(repeat):  # reservoir sampling: every run equally likely to be kept
            self._runs_seen += 1
            place = (len(self._kept) if len(self._kept) < self.checked_runs
                     else int(self._secret.integers(self._runs_seen)))
            if place < self.checked_runs:
                kept = (self.arena.input_of(run), self.arena.outputs_of(run))
                self._kept[place:place + 1] = [kept]
        self._last = (self.arena.input_of(repeat - 1), self.arena.outputs_of(repeat - 1))

    def checked(self) -> list:
        """(input, [(path, result array)]) of the sampled runs and of the last run."""
        return self._kept + ([self._last] if self._last is not None else [])

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        if self.sandbox_guard is None:
            yield
            return
        with self.sandbox_guard.paused():
            yield

    def cpu_seconds(self) -> float | None:
        return self.sandbox_guard.cpu_seconds() if self.sandbox_guard is not None else None

    def close(self) -> None:
        if self.arena is not None:
            self.arena.close()


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
    guard: str = ""  # how the student's processes were stopped while the reference was timed
    cpu_checked: bool = False  # each side's CPU time was held against its wall-clock time
    cpu_ratio: float | None = None  # set when the CPU time did not fit, twice: student / reference
    confirmed: bool = False  # it cost points, so it was measured twice and the better one kept

    @property
    def thresholds(self) -> tuple[float, ...]:
        return tuple(t.max_ratio for t in self.tiers)

    def message(self) -> str:
        """What the student reads: both medians, the ratio, the tiers and the credit."""
        how = f"medians of {self.rounds} interleaved measurement{'s' if self.rounds != 1 else ''}"
        if self.remeasured:
            how += ", re-measured because the ratio was close to a limit"
        if self.confirmed:
            how += "; as it cost points, measured twice and the better measurement kept"
        scale = "; ".join(f"up to {t.max_ratio:g}x: {_percent(t.credit)} of the points"
                          for t in self.tiers)
        text = (f"{self.item} on {self.device}: your code took {self.ratio:.2f}x the reference's "
                f"time ({_duration(self.student_median_s)} vs {_duration(self.reference_median_s)} "
                f"per call, {how}). Speed credit: {scale}; slower: none. "
                f"Earned: {_percent(self.credit)}.")
        if self.guard:
            text += (f" While the reference was timed, your code's processes were stopped "
                     f"({self.guard}); CPU time was "
                     f"{'cross-checked with the kernel' if self.cpu_checked else 'not cross-checked (no cgroup)'}.")
        if self.cpu_ratio is not None:
            text += (f" Twice the CPU time the kernel counted did not fit the measured times (the "
                     f"reference got much less of the CPU than your code, or your code used more "
                     f"CPUs than allowed), so the credit is the lower of the wall-clock verdict "
                     f"and the CPU-time one ({self.cpu_ratio:.2f}x).")
        return text


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
    # CPU seconds per call, as the kernel counted them (None where it does not)
    reference_cpu: list = dataclasses.field(default_factory=list)
    student_cpu: list = dataclasses.field(default_factory=list)

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


    def cpu_fits(self, cpus: int) -> bool | None:
        """Whether each side's CPU time fits its wall-clock time: the reference got at least
        ``STARVED`` of the student's share of the CPU, and the student used at most ``cpus``
        CPUs (with ``OVER`` slack). None when a side's CPU time is unknown."""
        if None in self.reference_cpu + self.student_cpu or not self.rounds:
            return None
        student_share = sum(self.student_cpu) / max(sum(self.student), 1e-12)
        reference_share = sum(self.reference_cpu) / max(sum(self.reference), 1e-12)
        return reference_share >= STARVED * student_share and student_share <= cpus * OVER

    def cpu_ratio(self) -> float:
        return statistics.median(self.student_cpu) / max(statistics.median(self.reference_cpu), 1e-12)


# A reference that got less than this share of the student's CPU per wall-clock second was
# starved while the student was not; a student above OVER times its CPUs ran more threads than
# it may. Honest runs, both pinned to the same CPUs, stay near 1 either way.
STARVED = 0.6
OVER = 1.3
# A verdict that costs points is measured again unless its ratio is beyond this many times the
# last tier's bound: noise has never moved an honest ratio by half as much (3.3x at most here).
CONFIRM_WITHIN = 2.0


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
                device: Device = CPU, cpus: int = 1) -> TimingVerdict:
        """``cpus``: how many CPUs the student may use (its CPU time is checked against it).

        A verdict that costs points is measured a second time, from the start, and the better
        of the two stands: interference from other processes only ever adds time, and a burst
        of it that falls on one side's rounds for a whole measurement must not decide a grade
        (the reference against itself once got half credit, 3.3x, on a machine at load 13 of 2
        CPUs). Code that is slow is slow both times; code far slower than every tier (beyond
        ``CONFIRM_WITHIN`` times the last bound) is not measured again."""
        tiers = check_tiers(tiers)
        verdict = self._verdict(student, reference, tiers, item, device, cpus)
        if verdict.credit < tiers[0].credit and verdict.ratio <= CONFIRM_WITHIN * tiers[-1].max_ratio:
            again = self._verdict(student, reference, tiers, item, device, cpus)
            verdict = dataclasses.replace(max(verdict, again, key=lambda v: v.credit),
                                          confirmed=True)
        return verdict

    def _verdict(self, student: TimedCall, reference: TimedCall, tiers: tuple, item: str,
                 device: Device, cpus: int) -> TimingVerdict:
        samples, repeats, remeasured = self._measure_all(student, reference, tiers)
        fits = samples.cpu_fits(cpus) if device.sync is None else None  # GPU work is not CPU time
        if fits is False:  # once more from the start; a second misfit is not chance
            samples, repeats, remeasured = self._measure_all(student, reference, tiers)
            fits = samples.cpu_fits(cpus)
        ratio = samples.ratio()
        credit = credit_for(ratio, tiers)
        cpu_ratio = samples.cpu_ratio() if fits is False else None
        if cpu_ratio is not None:
            credit = min(credit, credit_for(cpu_ratio, tiers))
        return TimingVerdict(
            item=item, device=device.name, student_median_s=statistics.median(samples.student),
            reference_median_s=statistics.median(samples.reference), ratio=ratio, tiers=tiers,
            credit=credit, rounds=samples.rounds, remeasured=remeasured,
            stable=samples.tier_settled(self.plan, tiers) or samples.precise(self.plan),
            student_repeat=repeats[1], guard=student.guard, cpu_checked=fits is not None,
            cpu_ratio=cpu_ratio)

    def _measure_all(self, student: TimedCall, reference: TimedCall, tiers: tuple):
        """Warm-up, rounds until settled, and more rounds near a bound: (samples, repeats,
        whether it re-measured)."""
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
        return samples, repeats, remeasured

    def _warm_up(self, student: TimedCall, reference: TimedCall) -> tuple[int, int]:
        """Single calls first, then warm-up runs sized from them; returns the repeat counts.

        A side whose single call already lasts a whole measurement needs no warm-up: its own
        length dwarfs any cold start. The student never repeats more often than the
        reference, so a faster student cannot amortise the request overhead better.
        """
        most = min(c for c in (self.plan.max_repeat, student.capacity, reference.capacity)
                   if c is not None)
        reference_s = self._time(reference, 1, student)[0]
        student_s = self._time(student, 1, reference)[0]
        for _ in range(self.plan.warmup_rounds):
            if reference_s < self.plan.measurement_s:
                reference_s = self._time(reference, self._repeat_for(reference_s, most), student)[0]
            if student_s < self.plan.measurement_s:
                student_s = self._time(student, min(self._repeat_for(student_s, most),
                                                    self._repeat_for(reference_s, most)), reference)[0]
        reference_repeat = self._repeat_for(reference_s, most)
        return reference_repeat, min(reference_repeat, self._repeat_for(student_s, most))

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
                reference_s = self._time(reference, reference_repeat, student)
                student_s = self._time(student, student_repeat, reference)
            else:
                student_s = self._time(student, student_repeat, reference)
                reference_s = self._time(reference, reference_repeat, student)
            samples.last_round_ns = self.clock.now_ns() - began
            samples.reference.append(reference_s[0])
            samples.student.append(student_s[0])
            samples.reference_cpu.append(reference_s[1])
            samples.student_cpu.append(student_s[1])
            if until is not None and until():
                return

    def _time(self, call: TimedCall, repeat: int, other: TimedCall) -> tuple[float, float | None]:
        """(seconds per call, CPU seconds per call or None), with ``other`` paused throughout.
        The side runs only while the clock does: its inputs are written, and its results
        copied, while it is paused, so that it can neither start on them before the clock nor
        finish them after it (a thread left working past the reply); ``other`` stays paused
        while this side's inputs are written as well. The collector is paused so that its
        pauses are not timed."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            with other.paused():
                with call.paused():
                    call.prepare(repeat)
                cpu_before = call.cpu_seconds()
                began = self.clock.now_ns()
                call.run(repeat)
                ended = self.clock.now_ns()
                with call.paused():
                    call.collect(repeat)
                    cpu_after = call.cpu_seconds()
        finally:
            if collecting:
                gc.enable()
        cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / repeat
        return (ended - began) / 1e9 / repeat, cpu

    def _repeat_for(self, seconds_per_call: float, most: int) -> int:
        wanted = round(self.plan.measurement_s / max(seconds_per_call, 1e-9))
        return max(1, min(most, wanted))


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
    no timing points, however fast. Only then is the pair timed, and after the verdict the
    results of the sampled timed runs are checked (``timed_against``). The test's score is the
    mean credit of its comparisons.
    """

    def __init__(self, student: Side, reference: Side | None, policy: TimingPolicy) -> None:
        self.student, self.reference, self.policy = student, reference, policy
        self.verdicts: list[TimingVerdict] = []

    def compare(self, function: str, args: tuple | ArgsBuilder, *, module: str,
                item: str | None = None, kwargs: dict | None = None, opaque: dict | None = None,
                reference_function: str | None = None,
                check: Callable[[Any, Any], None] | None = None,
                device: str = "cpu", timed_against: str | None = "reference") -> TimingVerdict:
        """Time ``module.function(*args, **kwargs)`` of the student against the reference's.

        * ``args``: the inputs, or a builder ``f(side) -> args`` run once per side, so that
          inputs that only exist in a process (a forward pass's cache) are made there:
          ``lambda side: (dout, side.module("fast_layers", OPAQUE).conv_forward_fast(*fwd)[1])``.
        * ``opaque``: as for ``submission.module``; what stays in the child in the check call.
        * ``check(student_value, reference_value)``: raises ``AssertionError`` (with a message
          for the student, no expected values) when the student's result is wrong; default
          ``assert_matches_reference``.
        * ``item``: the thresholds' key (default: ``function``); ``device``: "cpu" or "cuda".
        * ``timed_against``: what the sampled timed runs' results must equal, on their inputs:
          ``"reference"`` (the reference's results, as ``assert_matches_reference`` compares),
          ``"self"`` (the student's own untimed call, for a model of the student's own), or
          None (a function whose result is not a function of its input, e.g. a training step).
        """
        if self.reference is None:
            raise RuntimeError("this part has no reference implementation to time against")
        item = item or function
        target = device_named(device)
        cpus = self._shared_cpus() if target.sync is None else None  # GPU work: CPUs left alone
        student_value, student_staged = self._prepare(self.student, module, function, args,
                                                      kwargs, opaque, target)
        reference_value, reference_staged = self._prepare(
            self.reference, module, reference_function or function, args, kwargs, opaque, target)
        (check or assert_matches_reference)(student_value, reference_value)
        plan = self.policy.plan
        student_call = self._timed_call(self.student, student_staged, reference_value, target,
                                        cpus, plan.checked_runs if timed_against else 0)
        reference_call = self._timed_call(self.reference, reference_staged, reference_value,
                                          target, cpus, 0)
        try:
            verdict = TimingHarness(plan).compare(
                student_call, reference_call, self.policy.tiers_for(item), item, target,
                cpus=len(cpus) if cpus else max(1, self._threads()))
            if timed_against:
                against = reference_call if timed_against == "reference" else student_call
                check_timed_runs(student_call, against, SAME_RESULT_RTOL if timed_against == "self"
                                 else REFERENCE_RTOL, check)
        finally:
            student_call.close()
            reference_call.close()
        self.verdicts.append(verdict)
        return verdict

    @property
    def fraction(self) -> float:
        return sum(v.credit for v in self.verdicts) / len(self.verdicts)

    def _threads(self) -> int:
        """How many threads the children may run (the reference's limit, which the student's
        shares even when its file is missing)."""
        return self.reference.session.sandbox.limits.threads

    def _shared_cpus(self) -> tuple | None:
        """The CPUs both sides are timed on: as many of this process's as the children may run
        threads. None where affinity cannot be set (not Linux)."""
        affinity = getattr(os, "sched_getaffinity", None)
        if affinity is None:
            return None
        threads = max(1, self._threads())
        return tuple(sorted(affinity(0))[-threads:])

    @staticmethod
    def _prepare(side: Side, module: str, function: str, args, kwargs, opaque, device: Device):
        """Call once for the check (which also imports the module, or reports it missing), then
        stage the inputs in the side's process; return the checked value and (the function,
        the staged args, the staged kwargs, the args as sent).

        The check call gets its own copy of the inputs, so a function that edits them in place
        does not change what is timed afterwards."""
        values = tuple(args(side.access) if callable(args) else args)
        proxy = getattr(side.access.module(module, opaque), function)
        value = proxy.call(values, kwargs or {}, timing=TimingRequest(sync=device.sync)).value
        staged = tuple(v if isinstance(v, Handle) else side.session.stage(v) for v in values)
        staged_kwargs = {k: v if isinstance(v, Handle) else side.session.stage(v)
                         for k, v in (kwargs or {}).items()}
        return value, (proxy, staged, staged_kwargs, values)

    def _timed_call(self, side: Side, staged: tuple, sample, device: Device, cpus: tuple | None,
                    checked_runs: int) -> SandboxedCall:
        """The timed call of one side, with an arena for the first float or image argument
        (results laid out like the reference's ``sample``)."""
        proxy, args, kwargs, values = staged
        position = varied_position(values)
        sandbox = side.session.sandbox
        arena = None
        if position is not None and sandbox is not None:
            arena = Arena(sandbox.scratch, sandbox.uid, position, values[position], sample,
                          self.policy.plan.arena_mb * 2**20)
        return SandboxedCall(proxy, args, kwargs, device, cpus=cpus, arena=arena,
                             guard=SandboxGuard(sandbox) if sandbox is not None else None,
                             checked_runs=checked_runs)


def check_timed_runs(timed: SandboxedCall, against: SandboxedCall, rtol: float,
                     check: Callable[[Any, Any], None] | None = None) -> None:
    """Each sampled timed run of ``timed`` left the results that ``against``'s function gives,
    untimed, on that run's input (with ``against``'s other arguments), and passes ``check``
    too (what the untimed call on the staged inputs had to pass: a result can equal another
    call's and still be one that earns nothing); raises ``AssertionError`` if any fails."""
    position = timed.arena.position if timed.arena is not None else None
    checked = timed.checked()
    for run_input, outputs in checked:
        args = list(against.args)
        args[position] = run_input
        expected = against.function.call(tuple(args), against.kwargs, timeout=against.timeout,
                                         timing=TimingRequest(sync=against.device.sync)).value
        try:
            assert_matches_reference(with_outputs(expected, outputs), expected, rtol=rtol)
        except AssertionError:
            raise AssertionError(
                f"the results of your timed runs differ from the untimed ones: of {len(checked)} "
                "timed runs checked on inputs of their own, at least one left a result other "
                "than the same function gives untimed on that input (does it skip work, or hand "
                "back earlier results, while timed?), so no speed points") from None
        if check is not None:
            check(with_outputs(expected, outputs), expected)


# Same input, same function: CPU results agree exactly; the slack is for GPU kernels (a training
# step's backward pass is not deterministic there). A skipped run leaves NaN, and a result of
# another input differs by far more (order 1: every input is new; 0.5 for a skipped step).
SAME_RESULT_RTOL = 1e-3
# The student's function against the reference's: the check on the staged inputs uses it too.
REFERENCE_RTOL = 1e-6


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
