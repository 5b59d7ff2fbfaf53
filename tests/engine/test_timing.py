"""The timing harness: verdicts on synthetic timings, and the clock out of the student's reach.

Verdict logic runs on a fake clock that replays synthetic timings, so none of these tests depends
on how busy the machine is. The few tests that time real sandboxes use gaps no scheduler can
close: a 0.2 s sleep against a ~1 ms busy loop (CPU load stretches the loop, never by 20x), or
the same busy loop on both sides (pinned to one CPU, so load stretches both alike) against a
bound 10x away.
"""
import contextlib
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

from autograder import calibrate as calibration
from autograder.config import ConfigError
from autograder.engine.childside import protocol, server
from autograder.engine.plugin import GradingPlugin, SubmissionAccess
from autograder.engine.proxy import Session, TimingRequest
from autograder.engine.sandbox import Limits, Sandbox, detect_isolation
from autograder.engine.arena import Arena, with_outputs
from autograder.engine.guard import SandboxGuard, processes_of
from autograder.engine.timing import (CPU, MeasurementPlan, SandboxedCall, Side, Tier, TimedCall,
                                      TimedComparisons, TimingHarness, TimingPolicy,
                                      check_timed_runs, credit_for, device_named)
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


class ReplayedCall(TimedCall):
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
    # Slowing by 3.5 times its speed per second: a comparison of 20 ms measurements lasts well
    # under a second when the ratio settles at once, so a gentler slope would not double.
    slowing = lambda base: (lambda clock: base * (1 + 3.5 * clock.ns / 1e9))  # noqa: E731
    verdict, elapsed, *_ = judge(slowing(1e-3), slowing(1e-3))
    assert 1 + 3.5 * elapsed > 2  # the machine ended up more than twice as slow as it began
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


def test_a_verdict_that_costs_points_is_measured_twice_and_the_better_kept():
    slow, twice_s, *_ = judge(steady(3e-3), steady(1e-3))  # slow both times: half credit
    assert slow.confirmed and slow.credit == 0.5
    # The same, but the slowness was a burst of interference on the student's side that ended
    # with the first measurement (the fake clock makes both measurements last alike).
    student = lambda clock: 3e-3 if clock.ns < twice_s / 2 * 1e9 else 1e-3  # noqa: E731
    verdict, *_ = judge(student, steady(1e-3))
    assert verdict.confirmed and verdict.credit == 1.0 and "measured twice" in verdict.message()
    far, *_ = judge(steady(40e-3), steady(1e-3))  # 40x: beyond any noise, not measured again
    assert not far.confirmed and far.credit == 0.0


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
    SandboxedCall(RecordingFunction(), (), device=CPU).run(3)
    assert calls[0] == {"timeout": None, "timing": TimingRequest(repeat=7, discard=True, sync="cuda")}
    assert calls[1]["timing"].sync is None


def _server_with(tmp_path, monkeypatch, work) -> server.Server:
    module = types.ModuleType("timed_student")
    module.work = work
    monkeypatch.setitem(sys.modules, "timed_student", module)
    return server.Server({"workdir": str(tmp_path), "fds": [-1, -1], "limits": {"max_message_mb": 1}})


class _ChildFunction:
    """Stands in for a proxy: runs ``child``'s call op in this process, as the sandbox would."""

    def __init__(self, child: server.Server) -> None:
        self.child = child

    def call(self, args, kwargs, timing=TimingRequest(), **options):
        out: list = []
        header = {"target": {"module": "timed_student", "attr": "work"}, "repeat": timing.repeat,
                  "args": protocol.encode(list(args), out), "timed": timing.arena,
                  "discard": timing.discard}
        reply = self.child.call(header, out, reply_buffers := [])
        value = protocol.decode(reply["value"], reply_buffers) if "value" in reply else None
        return types.SimpleNamespace(value=value)


def _timed(tmp_path, child, template, sample, checked_runs=3) -> SandboxedCall:
    arena = Arena(tmp_path, None, 0, template, sample, max_bytes=1 << 20)
    return SandboxedCall(_ChildFunction(child), (template, 2.0), arena=arena,
                         checked_runs=checked_runs)


def test_every_timed_run_gets_a_whole_input_of_its_own_and_leaves_its_result(monkeypatch, tmp_path):
    seen = []
    child = _server_with(tmp_path, monkeypatch,
                         lambda x, scale: seen.append(x.copy()) or (x * scale, x.sum()))
    template = np.zeros((3, 4))
    call = _timed(tmp_path, child, template, (template, 0.0))
    for _ in range(3):
        call.prepare(5)
        call.run(5)
        call.collect(5)
    assert len({run.tobytes() for run in seen}) == 15  # fifteen wholly different inputs
    assert all(np.count_nonzero(run == 0) == 0 for run in seen)
    assert len(call.checked()) == 4  # three sampled runs and the last
    for run_input, outputs in call.checked():
        assert any(np.array_equal(run_input, run) for run in seen)
        np.testing.assert_array_equal(dict(outputs)[(0,)], run_input * 2)
        assert dict(outputs)[(1,)] == pytest.approx(run_input.sum())
    check_timed_runs(call, call, rtol=1e-12)  # honest: the untimed calls agree
    call.close()


def test_a_child_that_hands_back_old_results_is_caught(monkeypatch, tmp_path):
    first = {}
    child = _server_with(tmp_path, monkeypatch,  # its first result, ever after
                         lambda x, scale: first.setdefault("out", x * scale))
    template = np.zeros((2, 2))
    call = _timed(tmp_path, child, template, template)
    call.prepare(4)
    call.run(4)
    call.collect(4)
    honest = _server_with(tmp_path, monkeypatch, lambda x, scale: x * scale)
    with pytest.raises(AssertionError, match="timed runs differ from the untimed ones"):
        check_timed_runs(call, SandboxedCall(_ChildFunction(honest), (template, 2.0)), rtol=1e-6)
    call.close()


def test_timed_runs_must_pass_the_comparisons_own_check_too(monkeypatch, tmp_path):
    """A step that changes nothing equals an untimed step that changes nothing: equality alone
    would pass it, so each sampled run is held to the check the untimed call had to pass."""
    child = _server_with(tmp_path, monkeypatch, lambda x, scale: np.stack([x, x]))  # no change
    template = np.zeros((2, 3))
    call = _timed(tmp_path, child, template, np.zeros((2, 2, 3)))
    call.prepare(4)
    call.run(4)
    call.collect(4)

    def changed(student, reference) -> None:
        if np.array_equal(student[0], student[1]):
            raise AssertionError("the step did not change anything")

    check_timed_runs(call, call, rtol=1e-12)
    with pytest.raises(AssertionError, match="did not change anything"):
        check_timed_runs(call, call, rtol=1e-12, check=changed)
    call.close()


def test_a_run_that_wrote_no_result_matches_nothing(tmp_path):
    template = np.zeros(3)
    arena = Arena(tmp_path, None, 0, template, (template, 1.0), max_bytes=1 << 16)
    arena.fill(np.random.default_rng(0), 2)
    rebuilt = with_outputs((np.ones(3), 1.0), arena.outputs_of(1))
    assert np.isnan(rebuilt[0]).all() and math.isnan(rebuilt[1])
    assert arena.capacity == (1 << 16) // arena.slot_bytes  # the arena's size caps the repeats
    arena.close()
    assert not arena.path.exists()


def test_varied_images_are_whole_new_valid_uint8_images(monkeypatch, tmp_path):
    seen = []
    child = _server_with(tmp_path, monkeypatch, lambda images, scale: seen.append(images.copy()) or 0.0)
    template = np.full((2, 3, 4, 4), 255, dtype=np.uint8)
    call = _timed(tmp_path, child, template, 0.0)
    call.prepare(3)
    call.run(3)
    assert all(run.dtype == np.uint8 and (run != 255).mean() > 0.9 for run in seen)
    assert (template == 255).all()
    call.close()


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

    def logged(header, buffers, timeout, reply_limit=None):
        log.append((header, sum(len(b) for b in buffers)))
        return request(header, buffers, timeout, reply_limit)

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
        assert cpus.call((), timing=TimingRequest(cpus=(allowed[-1],))).value == [[allowed[-1]]] * 2  # both threads
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


# --- the guards: the student stopped while the reference is timed; CPU time cross-checked ------

class AccountedCall(ReplayedCall):
    """A replayed call whose kernel-counted CPU time is ``cpu_share`` of its wall-clock time;
    ``paused()`` is logged while the other side runs."""

    def __init__(self, clock, seconds_per_call, cpu_share: float, log: list, name: str) -> None:
        super().__init__(clock, seconds_per_call)
        self.cpu_share, self.log, self.name, self.cpu = cpu_share, log, name, 0.0
        self.guard = "test guard"

    def run(self, repeat: int) -> None:
        self.log.append(f"{self.name} runs")
        before = self.clock.ns
        super().run(repeat)
        self.cpu += (self.clock.ns - before) / 1e9 * self.cpu_share

    @contextlib.contextmanager
    def paused(self):
        self.log.append(f"{self.name} paused")
        yield
        self.log.append(f"{self.name} resumed")

    def cpu_seconds(self) -> float:
        return self.cpu


def _accounted(student_share: float, reference_share: float, student_s=3e-3, reference_s=1e-3):
    clock, log = FakeClock(), []
    student = AccountedCall(clock, lambda c: student_s, student_share, log, "student")
    reference = AccountedCall(clock, lambda c: reference_s, reference_share, log, "reference")
    return TimingHarness(QUICK_PLAN, clock).compare(student, reference, TIERS, "f", cpus=1), log


def test_the_student_is_paused_whenever_the_reference_runs():
    verdict, log = _accounted(1.0, 1.0)
    for index, event in enumerate(log):
        if event == "reference runs":
            assert log[:index].count("student paused") == log[:index].count("student resumed") + 1
    assert verdict.guard == "test guard" and "(test guard)" in verdict.message()


def test_cpu_time_that_fits_leaves_the_verdict_alone():
    verdict, _ = _accounted(1.0, 0.9)
    assert verdict.cpu_checked and verdict.cpu_ratio is None and verdict.credit == 0.5
    assert "cross-checked with the kernel" in verdict.message()


@pytest.mark.parametrize("student_share, reference_share", [(1.0, 0.3), (4.0, 1.0)])
def test_cpu_time_that_does_not_fit_twice_takes_the_cpu_verdict_too(student_share, reference_share):
    """A starved reference (0.3 of the CPU while the student had all of it), or a student on 4
    CPUs when it may use 1: re-measured, then the credit is the lower of the two verdicts."""
    verdict, log = _accounted(student_share, reference_share, student_s=1.5e-3)
    assert verdict.ratio == pytest.approx(1.5) and verdict.cpu_ratio is not None
    assert verdict.cpu_ratio > 2 and verdict.credit < 1
    assert log.count("student runs") > 2 * QUICK_PLAN.min_rounds  # measured twice
    assert "did not fit" in verdict.message()


def test_the_signal_guard_stops_the_whole_tree_and_resumes_it(tmp_path):
    script = "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'while True: pass'])\ntime.sleep(60)\n"
    root = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 10
        while len(processes_of(root.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = processes_of(root.pid)
        assert len(tree) == 2
        guard = SandboxGuard(types.SimpleNamespace(pid=root.pid, uid=None))
        assert guard.kind == "SIGSTOP" and guard.cpu_seconds() is None
        with guard.paused():
            time.sleep(0.1)
            assert {_state(pid) for pid in tree} == {"T"}
        time.sleep(0.1)
        assert "T" not in {_state(pid) for pid in tree}
    finally:
        for pid in processes_of(root.pid)[::-1]:
            os.kill(pid, signal.SIGKILL)
        root.wait()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]
