"""The timing harness: verdicts on synthetic timings, and the clock out of the student's reach.

Verdict logic runs on a fake clock that replays synthetic timings, so none of these tests depends
on how busy the machine is. The few tests that time real sandboxes use gaps no scheduler can
close: a 0.2 s sleep against a ~1 ms busy loop (CPU load stretches the loop, never by 20x), or
the same busy loop on both sides (pinned to one CPU, so load stretches both alike) against a
bound 10x away.
"""
import math
import os
import sys
import textwrap
import types

import numpy as np
import pytest

from autograder import calibrate as calibration
from autograder.config import ConfigError
from autograder.engine.childside import protocol, server
from autograder.engine.plugin import GradingPlugin, SubmissionAccess
from autograder.engine.proxy import Session
from autograder.engine.sandbox import Limits, Sandbox, detect_isolation
from autograder.engine.timing import (CPU, MeasurementPlan, SandboxedCall, Side, Tier,
                                      TimedComparisons, TimingHarness, TimingPolicy,
                                      assert_same_when_timed, credit_for, device_named)
from autograder.run import grade_submission
from autograder.thresholds import dump_thresholds, load_thresholds
from .conftest import PROJECT_ROOT

TIERS = (Tier(2.0, 1.0), Tier(5.0, 0.5))


# --- fakes: a clock that only moves when a fake call "runs" ----------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.ns = 0

    def now_ns(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)


class ReplayedCall:
    """A timed call whose measurements last ``seconds_per_call(clock) * repeat`` fake seconds."""

    def __init__(self, clock: FakeClock, seconds_per_call) -> None:
        self.clock, self.seconds_per_call = clock, seconds_per_call
        self.repeats: list = []

    def run(self, repeat: int) -> None:
        self.repeats.append(repeat)
        self.clock.advance(self.seconds_per_call(self.clock) * repeat)


def noisy(base_s: float, rng: np.random.Generator, jitter: float = 0.1, spike_rate: float = 0.2,
          spike: float = 3.0):
    """Per-call seconds of one measurement: log-normal jitter, and now and then a measurement
    that another process slowed ``spike`` times (as a CPU hog does)."""
    def seconds_per_call(clock: FakeClock) -> float:
        factor = math.exp(rng.normal(0, jitter))
        return base_s * factor * (spike if rng.random() < spike_rate else 1.0)
    return seconds_per_call


def steady(base_s: float):
    return lambda clock: base_s


def judge(student_s, reference_s, plan: MeasurementPlan = MeasurementPlan(), tiers=TIERS,
          device=CPU):
    """The verdict, the fake seconds it took, and the calls, for per-call-time functions."""
    clock = FakeClock()
    student, reference = ReplayedCall(clock, student_s), ReplayedCall(clock, reference_s)
    verdict = TimingHarness(plan, clock).compare(student, reference, tiers, "f", device)
    return verdict, clock.ns / 1e9, student, reference


# --- verdicts on synthetic timings ----------------------------------------------------------

def test_credit_follows_the_tightest_tier_the_ratio_stays_within():
    assert [credit_for(r, TIERS) for r in (0.3, 1.99, 2.0, 2.01, 5.0, 5.01, 100)] == \
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0]


def test_reference_speed_passes():
    rng = np.random.default_rng(0)
    verdict, *_ = judge(noisy(1e-3, rng), noisy(1e-3, rng))
    assert verdict.credit == 1.0 and 0.8 < verdict.ratio < 1.25


def test_ten_times_slower_fails():
    rng = np.random.default_rng(1)
    verdict, *_ = judge(noisy(10e-3, rng), noisy(1e-3, rng))
    assert verdict.credit == 0.0 and 8 < verdict.ratio < 12.5


@pytest.mark.parametrize("true_ratio, credit", [(1.0, 1.0), (1.5, 1.0), (3.5, 0.5), (4.0, 0.5),
                                                (8.0, 0.0)])
def test_a_noisy_series_does_not_flip_the_verdict(true_ratio, credit):
    """200 independent gradings, each with 10% jitter and one measurement in five slowed 3x."""
    for seed in range(200):
        rng = np.random.default_rng(seed)
        verdict, *_ = judge(noisy(true_ratio * 1e-3, rng), noisy(1e-3, rng))
        assert verdict.credit == credit, (seed, verdict)


def test_a_machine_slowing_down_mid_run_moves_both_sides_alike():
    slowing = lambda base: (lambda clock: base * (1 + 2 * clock.ns / 1e9))  # noqa: E731
    verdict, elapsed, *_ = judge(slowing(1e-3), slowing(1e-3))
    assert 1 + 2 * elapsed > 2  # the machine ended up more than twice as slow as it began
    assert verdict.credit == 1.0 and abs(verdict.ratio - 1) < 0.1
    verdict, *_ = judge(slowing(4e-3), slowing(1e-3))
    assert verdict.credit == 0.5 and abs(verdict.ratio / 4 - 1) < 0.1


@pytest.mark.parametrize("true_ratio, credit", [(1.9, 1.0), (2.1, 0.5), (4.6, 0.5), (5.4, 0.0)])
def test_a_ratio_near_a_bound_is_remeasured_before_the_verdict(true_ratio, credit):
    plan = MeasurementPlan()
    rng = np.random.default_rng(7)
    verdict, *_ = judge(noisy(true_ratio * 1e-3, rng, jitter=0.05, spike_rate=0),
                        noisy(1e-3, rng, jitter=0.05, spike_rate=0), plan)
    assert verdict.remeasured and verdict.credit == credit
    assert verdict.rounds >= plan.min_rounds + plan.remeasure_rounds


def test_clear_cases_settle_in_the_fewest_rounds_without_remeasuring():
    plan = MeasurementPlan()
    verdict, *_ = judge(steady(1e-3), steady(1e-3), plan)
    assert verdict.rounds == plan.min_rounds and not verdict.remeasured and verdict.stable
    verdict, *_ = judge(steady(40e-3), steady(1e-3), plan)
    assert verdict.rounds == plan.min_rounds and verdict.credit == 0.0


def test_the_budget_bounds_a_very_slow_submission():
    plan = MeasurementPlan(budget_s=10.0)
    verdict, elapsed, *_ = judge(steady(3.0), steady(1e-3), plan)
    assert verdict.credit == 0.0 and verdict.rounds >= 1
    assert elapsed <= plan.budget_s + 2 * 3.0  # the single call first, then one round at most over


def test_measurements_last_long_enough_and_never_favour_the_student():
    plan = MeasurementPlan(measurement_s=0.05)
    _, _, student, reference = judge(steady(0.25e-3), steady(1e-3), plan)
    assert reference.repeats[-1] == 50  # 50 ms of 1 ms calls
    assert student.repeats[-1] == 50  # a faster student repeats no more often than the reference
    _, _, student, reference = judge(steady(10e-3), steady(1e-3), plan)
    assert student.repeats[-1] == 5 and reference.repeats[-1] == 50


def test_the_message_shows_both_medians_the_ratio_the_tiers_and_the_credit():
    verdict, *_ = judge(steady(3e-3), steady(1e-3))
    assert verdict.student_median_s == pytest.approx(3e-3)
    assert verdict.reference_median_s == pytest.approx(1e-3)
    assert verdict.thresholds == (2.0, 5.0) and verdict.credit == 0.5
    text = verdict.message()
    for part in ("f on cpu", "3.00x", "3.00 ms", "1.00 ms", "up to 2x: 100%", "up to 5x: 50%",
                 "Earned: 50%"):
        assert part in text, part


def test_bad_tiers_are_refused():
    with pytest.raises(ValueError):
        credit_for(1.0, [Tier(2.0, 0.5), Tier(5.0, 1.0)])  # more credit for slower code
    with pytest.raises(ValueError):
        credit_for(1.0, [])


# --- the CUDA path, with the device abstracted ------------------------------------------------

def test_a_cuda_verdict_names_the_device():
    verdict, *_ = judge(steady(1e-3), steady(1e-3), device=device_named("cuda"))
    assert verdict.device == "cuda" and "f on cuda" in verdict.message()


def test_timed_calls_on_cuda_ask_the_child_to_wait_for_the_device():
    calls = []

    class RecordingFunction:
        def call(self, args, kwargs, **options):
            calls.append(options)

    SandboxedCall(RecordingFunction(), (), device=device_named("cuda:0")).run(7)
    on_cpu = SandboxedCall(RecordingFunction(), (), device=CPU)
    on_cpu.run(3)
    on_cpu.run(3)
    assert calls[0] == {"repeat": 7, "discard": True, "timeout": None, "sync": "cuda", "cpus": None,
                        "vary": 1}
    assert calls[1]["sync"] is None
    assert calls[1]["vary"] != calls[2]["vary"]  # every request varies its inputs its own way


class _Answer:
    def __init__(self, value):
        self.value = value


class _SumOfVariedInput:
    """Stands in for a student function: the sum of its first argument as the child varies it.
    ``stale``: for an array object it has seen before, the result of that object's first run."""

    def __init__(self, stale: bool) -> None:
        self.stale, self.first = stale, {}

    def call(self, args, kwargs, repeat=1, vary=None, vary_start=0, **options):
        x = np.array(args[0], dtype=float)
        last = vary_start + repeat - 1
        x.flat[(vary * 1_000_003 + last * 7_919) % x.size] += 1
        value = float(x @ np.arange(1.0, x.size + 1))  # which element changed shows
        value = self.first.setdefault(id(args[0]), value) if self.stale else value
        return _Answer(value)


@pytest.mark.parametrize("stale", [False, True])
def test_check_runs_catches_results_handed_back_from_earlier_runs(stale):
    staged = np.arange(10.0)  # the same object in every timed request, as staged in a child
    call = SandboxedCall(_SumOfVariedInput(stale), (staged,), unstaged=((staged.copy(),), {}))
    call.run(5)
    if not stale:
        call.check_runs(5, assert_same_when_timed)
        return
    with pytest.raises(AssertionError, match="hand back earlier results"):
        call.check_runs(5, assert_same_when_timed)


def _server_with(tmp_path, monkeypatch, work) -> server.Server:
    module = types.ModuleType("timed_student")
    module.work = work
    monkeypatch.setitem(sys.modules, "timed_student", module)
    return server.Server({"workdir": str(tmp_path), "fds": [-1, -1], "limits": {"max_message_mb": 1}})


def test_every_timed_run_gets_an_input_of_its_own(monkeypatch, tmp_path):
    seen = []
    child = _server_with(tmp_path, monkeypatch, lambda x, scale: seen.append(x.copy()) or x.sum())
    x = np.arange(12.0).reshape(3, 4)
    staged = child.store(x)
    header = {"target": {"module": "timed_student", "attr": "work"}, "repeat": 5, "discard": True,
              "vary": 3, "args": [protocol.encode(staged, []), 2.0]}
    child.call(header, [], [])
    assert len({run.tobytes() for run in seen}) == 5  # five different inputs
    assert all(np.count_nonzero(run != np.arange(12.0).reshape(3, 4)) == 1 for run in seen)
    np.testing.assert_array_equal(x, np.arange(12.0).reshape(3, 4))  # restored afterwards
    # vary_start=4 on a fresh copy reproduces the last run's input exactly
    fresh = {**header, "repeat": 1, "vary_start": 4,
             "args": [protocol.encode(np.arange(12.0).reshape(3, 4), out := []), 2.0]}
    child.call(fresh, out, [])
    np.testing.assert_array_equal(seen[-1], seen[4])
    assert seen[-1].tobytes() == seen[4].tobytes()


def test_varied_images_stay_valid_uint8(monkeypatch, tmp_path):
    seen = []
    child = _server_with(tmp_path, monkeypatch, lambda images: seen.append(images.copy()))
    images = np.full((2, 3, 4, 4), 255, dtype=np.uint8)
    header = {"target": {"module": "timed_student", "attr": "work"}, "repeat": 3, "discard": True,
              "vary": 1, "args": [protocol.encode(child.store(images), [])]}
    child.call(header, [], [])
    assert all(run.dtype == np.uint8 and np.count_nonzero(run == 127) == 1 for run in seen)
    assert (images == 255).all()


def test_the_child_synchronizes_once_after_the_whole_repeated_loop(monkeypatch, tmp_path):
    events = []
    child = _server_with(tmp_path, monkeypatch, lambda: events.append("call"))
    monkeypatch.setitem(server.SYNCHRONIZERS, "cuda", lambda: events.append("sync"))
    header = {"target": {"module": "timed_student", "attr": "work"}, "repeat": 3, "discard": True}
    child.call({**header, "sync": "cuda"}, [], [])
    assert events == ["call", "call", "call", "sync"]
    events.clear()
    child.call(header, [], [])
    assert events == ["call", "call", "call"]
    with pytest.raises(protocol.ProtocolError):
        child.call({**header, "sync": "tpu"}, [], [])


# --- real sandboxes: the clock is the grader's ---------------------------------------------

REFERENCE_SOURCE = """
    import numpy as np

    def work(x):
        for _ in range(20_000):  # about 1 ms
            pass
        return x * 2
"""
CLOCK_PATCHING_PREAMBLE = """
    import time
    import numpy as np

    _sleep = time.sleep
    # A cheater's clocks: time stands still in this process.
    time.perf_counter = time.time = time.monotonic = lambda: 0.0
    time.perf_counter_ns = time.time_ns = time.monotonic_ns = lambda: 0
"""
QUICK_PLAN = MeasurementPlan(warmup_rounds=1, min_rounds=3, max_rounds=6, remeasure_rounds=0,
                             measurement_s=0.02, budget_s=5.0)


@pytest.fixture
def sides(tmp_path):
    """sides(student_source, reference_source=REFERENCE_SOURCE) -> (student, reference) Sides."""
    sandboxes = []

    def side(source: str) -> Side:
        folder = tmp_path / f"side{len(sandboxes)}"
        folder.mkdir()
        (folder / "mod.py").write_text(textwrap.dedent(source))
        sandbox = Sandbox(folder, Limits(call_timeout=10.0), detect_isolation(), (PROJECT_ROOT,))
        sandboxes.append(sandbox)
        session = Session(sandbox, part_timeout=120.0)
        return Side(SubmissionAccess(session, (), ""), session)

    yield lambda student, reference=REFERENCE_SOURCE: (side(student), side(reference))
    for sandbox in sandboxes:
        sandbox.close()


def record_requests(side: Side, log: list) -> None:
    """Append (header, bytes of buffers) of every request ``side`` sends to ``log``."""
    request = side.session.sandbox.request

    def logged(header, buffers, timeout):
        log.append((header, sum(len(b) for b in buffers)))
        return request(header, buffers, timeout)

    side.session.sandbox.request = logged


def test_a_clock_faked_in_the_child_gains_nothing(sides):
    slow = CLOCK_PATCHING_PREAMBLE + """
    def work(x):
        _sleep(0.2)  # some 200x the reference, and this process's clocks say it took no time
        return x * 2
    """
    same = CLOCK_PATCHING_PREAMBLE + REFERENCE_SOURCE.replace("import numpy as np", "")
    policy = TimingPolicy(QUICK_PLAN, (Tier(10.0, 1.0),))
    x = np.arange(4.0)
    verdict = TimedComparisons(*sides(slow), policy).compare("work", (x,), module="mod")
    assert verdict.credit == 0.0 and verdict.ratio > 10
    verdict = TimedComparisons(*sides(same), policy).compare("work", (x,), module="mod")
    assert verdict.credit == 1.0 and verdict.ratio < 3


def test_a_cuda_timed_call_runs_end_to_end_in_a_real_sandbox(sides):
    student, reference = sides(REFERENCE_SOURCE)
    policy = TimingPolicy(QUICK_PLAN, (Tier(10.0, 1.0),))
    verdict = TimedComparisons(student, reference, policy).compare(
        "work", (np.arange(4.0),), module="mod", device="cuda")
    assert verdict.device == "cuda" and verdict.credit == 1.0  # no GPU work: the wait is a no-op


def test_both_sides_are_timed_on_one_shared_cpu_and_unpinned_after(sides):
    source = """
        import os
        import threading

        started = threading.Event()
        pool = threading.Thread(target=started.wait, daemon=True)  # a thread pool's worker
        pool.start()

        def cpus():
            return [sorted(os.sched_getaffinity(int(tid))) for tid in os.listdir("/proc/self/task")]
    """
    student, reference = sides(source, source)
    allowed = sorted(os.sched_getaffinity(0))
    for side in (student, reference):
        cpus = side.access.module("mod").cpus
        assert cpus.call((), cpus=(allowed[-1],)).value == [[allowed[-1]]] * 2  # both threads
        assert cpus() == [allowed] * 2
    sent = []
    for side in (student, reference):
        record_requests(side, sent)
    TimedComparisons(student, reference, TimingPolicy(QUICK_PLAN)).compare("cpus", (), module="mod")
    timed_cpus = {tuple(header["cpus"]) for header, _ in sent if header.get("discard")}
    assert timed_cpus == {(allowed[-1],)}  # threads=1: every timed run of both sides on one CPU


def test_a_wrong_result_earns_no_timing_points_however_fast(sides):
    comparisons = TimedComparisons(*sides("def work(x):\n    return x * 3\n"), TimingPolicy(QUICK_PLAN))
    with pytest.raises(AssertionError, match="earns no speed points"):
        comparisons.compare("work", (np.arange(1.0, 5.0),), module="mod")
    assert comparisons.verdicts == []


def test_inputs_are_staged_once_and_timed_calls_ship_no_arrays(sides):
    """Per-process inputs (a cache) come from a builder; timed requests carry handles only."""
    source = """
        def forward(x):
            return x + 1, {"x": x, "note": object()}
        def backward(dout, cache):
            for _ in range(20_000):
                pass
            return dout * cache["x"]
    """
    student, reference = sides(source, source)
    sent = []
    for side in (student, reference):
        record_requests(side, sent)
    x, dout = np.linspace(-1, 1, 100_000), np.ones(100_000)

    def build(access):
        _, cache = access.module("mod", {"forward": [1]}).forward(x)
        return dout, cache

    policy = TimingPolicy(QUICK_PLAN, (Tier(10.0, 1.0),))
    verdict = TimedComparisons(student, reference, policy).compare("backward", build, module="mod")
    assert verdict.credit == 1.0
    timed = [size for header, size in sent if header["op"] == "call" and header["discard"]]
    assert len(timed) >= 2 * (1 + QUICK_PLAN.min_rounds) and set(timed) == {0}
    puts = [size for header, size in sent if header["op"] == "put"]
    assert puts.count(dout.nbytes) == 2  # dout went to each process once


def test_the_timing_fixture_scores_the_credit_and_shows_the_verdict(sides, tmp_path):
    student, reference = sides(CLOCK_PATCHING_PREAMBLE + """
    def work(x):
        _sleep(0.2)
        return x * 2
    """)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_speed.py").write_text(textwrap.dedent('''
        import numpy as np

        def test_speed(timing):
            """work: speed compared with the reference"""
            timing.compare("work", (np.arange(3.0),), module="mod")
    '''))
    policy = TimingPolicy(QUICK_PLAN, (Tier(2.0, 1.0), Tier(10_000.0, 0.5)))
    plugin = GradingPlugin(student.session, reference=reference.session, timing_policy=policy)
    pytest.main([str(suite), "-q", "-p", "no:cacheprovider", "--rootdir", str(suite)],
                plugins=[plugin])
    (record,) = plugin.records
    assert record.fraction == 0.5 and not record.grader_error
    assert "Earned: 50%" in record.output and "on cpu" in record.output


def test_a_missing_file_costs_the_timing_points_with_the_usual_message(tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "layers.py").write_text("")
    result = grade_submission(submission, ["fast_layers"])
    timed = [t for t in result.tests if ": speed compared" in t.name]
    assert len(timed) == 4
    for test in timed:
        assert test.score == 0 and not test.grader_error and "fast_layers.py" in test.output


# --- thresholds file and calibration ----------------------------------------------------------

def test_the_shipped_thresholds_cover_every_timed_fast_layer():
    thresholds = load_thresholds()
    for item in ("conv_forward_fast", "conv_backward_fast", "max_pool_forward_fast",
                 "max_pool_backward_fast"):
        assert thresholds.policy.tiers_for(item) == TIERS
    assert thresholds.policy.plan == MeasurementPlan()


def test_a_thresholds_file_is_laid_over_the_defaults_and_round_trips(tmp_path):
    path = tmp_path / "calibrated.toml"
    path.write_text("[measurement]\nbudget_s = 4\n[tiers]\nconv_forward_fast = [[3, 1.0]]\n")
    thresholds = load_thresholds(path)
    assert thresholds.policy.plan.budget_s == 4.0
    assert thresholds.policy.tiers_for("conv_forward_fast") == (Tier(3.0, 1.0),)
    assert thresholds.policy.tiers_for("conv_backward_fast") == TIERS
    path.write_text(dump_thresholds(thresholds, "a header"))
    assert load_thresholds(path) == thresholds


@pytest.mark.parametrize("text, words", [
    ("[measurement]\nbudget = 4\n", "unknown key"),
    ("[measurement]\nmin_rounds = 2.5\n", "must be int"),
    ("[measurement]\nstability = 2.0\n", "stability"),
    ("[tiers]\nx = [[2.0, 0.5], [5.0, 1.0]]\n", "credit must fall"),
    ("[tiers]\nx = [2.0, 1.0]\n", "pairs"),
    ("[timing]\n", "unknown section"),
])
def test_bad_thresholds_are_named(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_thresholds(path)


def test_calibration_widens_the_noise_band_and_keeps_slow_code_beyond_the_last_tier():
    base = load_thresholds()
    results = [calibration.ItemCalibration("conv_forward_fast", "cpu", 1e-3, [1.0, 1.1], 6.0),
               calibration.ItemCalibration("max_pool_forward_fast", "cpu", 1e-4, [0.95], 80.0)]
    calibrated = calibration._apply(base, results, "cpu", log=lambda line: None)
    assert calibrated.policy.plan.near_threshold == pytest.approx(0.3)  # 3x the 10% noise
    # 6x is not twice the last bound (5x): the tiers shrink until it is.
    assert calibrated.policy.tiers_for("conv_forward_fast") == (Tier(1.2, 1.0), Tier(3.0, 0.5))
    assert calibrated.policy.tiers_for("max_pool_forward_fast") == TIERS
    assert calibrated.calibration["conv_forward_fast_slow_ratio"] == 6.0


def test_calibrate_times_the_reference_and_writes_a_readable_file(tmp_path, monkeypatch):
    timed_calls = dict(calibration._timed_suites("cpu"))["fast_layers"]
    one_item = {"max_pool_forward_fast": timed_calls["max_pool_forward_fast"]}
    monkeypatch.setattr(calibration, "_timed_suites", lambda device: iter([("fast_layers", one_item)]))
    output = tmp_path / "thresholds.toml"
    written = calibration.calibrate(output=output, repeats=1, log=lambda line: None)
    assert load_thresholds(output) == written
    assert written.calibration["max_pool_forward_fast_slow_ratio"] > 10  # naive loops: far slower
