"""``grade calibrate``: time the reference on the machine at hand and write a thresholds file.

Thresholds are ratios to the reference timed in the same run, so the shipped defaults hold on
any machine. Two things do depend on the machine, and calibrating measures both on the very
inputs of the timed tests (each suite's ``test_timing.py`` lists them, see _timed_suites):

* noise: the reference against itself, each in its own sandbox, as a student would be timed.
  How far that ratio strays from 1 is this machine's noise; the band around each tier bound
  inside which a result is re-measured is widened to three times it.
* separation: a slow stand-in (the naive reference layers passed off as the fast ones) against
  the reference. A loop-based submission must land beyond the last tier with room to spare;
  where it does not (the machine's BLAS makes im2col less of a win), that item's tiers are
  scaled down until it does, and a warning says so.

The reference's absolute medians are recorded under ``[calibration]``, for the course's records.
"""
from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import platform
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from autograder.config import GradingConfig, PartConfig, load_config
from autograder.engine.plugin import SubmissionAccess
from autograder.engine.proxy import Session
from autograder.engine.sandbox import SandboxFactory, detect_isolation
from autograder.engine.timing import Side, TimedComparisons, Tier, TimingVerdict
from autograder.run import PROJECT_ROOT, REFERENCE_DIR, SUITES_DIR
from autograder.thresholds import Thresholds, dump_thresholds, load_thresholds



# A part's suite folder may hold this file: a slow implementation that calibration hands in as
# the part's file, beside the reference's other files, to time against the reference.
SLOW_STAND_IN = "slow_stand_in.py"
# A slow stand-in must be at least this many times the last tier's bound.
SEPARATION = 2.0
# The re-measure band is widened to this many times the noise, and never beyond MAX_NEAR.
NOISE_MULTIPLE, MAX_NEAR = 3.0, 0.5


@dataclasses.dataclass
class ItemCalibration:
    item: str
    device: str
    reference_s: float  # median seconds per call of the reference
    self_ratios: list  # reference against itself, one ratio per repetition
    slow_ratio: float | None  # the slow stand-in against the reference

    @property
    def noise(self) -> float:
        """Largest relative deviation of the reference-vs-reference ratio from 1."""
        return max(max(r, 1 / r) - 1 for r in self.self_ratios)


def calibrate(device: str = "cpu", output: Path = Path("thresholds.toml"),
              base: Path | None = None, repeats: int = 3,
              log: Callable[[str], None] = print) -> Thresholds:
    """Time the reference's timed items on this machine, write a thresholds file, return it.

    ``device``: what this grading machine offers ("cpu" or "cuda"); items declared for CUDA
    are skipped on "cpu". ``base``: a thresholds file to start from (default: the shipped one).
    ``repeats``: reference-against-itself comparisons per item. A grading run reads the written
    file when given it as ``RunOptions.thresholds`` (laid over the shipped defaults); a course
    can also replace ``autograder/thresholds.toml`` with it in its copy of the grader.
    """
    thresholds = load_thresholds(base)
    config = load_config()
    results = []
    for part_name, timed_calls in _timed_suites(device):
        wanted = {item: kwargs for item, kwargs in timed_calls.items()
                  if kwargs.get("device", "cpu") in ("cpu", device)}
        if wanted:
            log(f"{part_name}: timing {', '.join(wanted)} on {platform.node() or 'this machine'}")
            results += _calibrate_part(config, config.parts[part_name], wanted, thresholds,
                                       repeats, log)
    calibrated = _apply(thresholds, results, device, log)
    header = (f"Calibrated by `grade calibrate --device {device}` on {platform.node()} "
              f"({platform.processor() or platform.machine()}).\n"
              "Every key is declared, with its type, default and meaning, in autograder/thresholds.py.")
    Path(output).write_text(dump_thresholds(calibrated, header))
    log(f"wrote {output}")
    return calibrated


def _timed_suites(device: str) -> Iterator[tuple[str, dict]]:
    """(part, timed calls) of every suite with a test_timing.py, loaded as a plain module: its
    ``timed_calls(device)`` if it has one (items that follow the run's device), else its
    ``TIMED_CALLS`` (items timed on the CPU whatever the device)."""
    for path in sorted(SUITES_DIR.glob("*/test_timing.py")):
        spec = importlib.util.spec_from_file_location(f"_timed_{path.parent.name}", path)
        module = importlib.util.module_from_spec(spec)
        with warnings.catch_warnings():  # the suites' markers are registered by the grading run only
            warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
            spec.loader.exec_module(module)
        timed_calls = getattr(module, "timed_calls", None)
        yield path.parent.name, timed_calls(device) if timed_calls else module.TIMED_CALLS


def _calibrate_part(config: GradingConfig, part: PartConfig, timed_calls: dict,
                    thresholds: Thresholds, repeats: int, log) -> list:
    sandboxes = SandboxFactory(dataclasses.asdict(config.limits), detect_isolation(), (PROJECT_ROOT,))
    limits = sandboxes.limits(part.call_timeout, part.memory_mb, part.threads)
    results = []
    with ExitStack() as stack:
        def side(folder: Path) -> Side:
            sandbox = sandboxes.open(folder, limits)
            stack.callback(sandbox.close)
            session = Session(sandbox, part_timeout=3600)
            return Side(SubmissionAccess(session, part.forbid_imports, "calibration"), session)

        reference_dir = stack.enter_context(_folder(part.files))
        reference, twin = side(reference_dir), side(reference_dir)
        stand_in = SUITES_DIR / part.name / SLOW_STAND_IN
        slow = side(stack.enter_context(_slow_stand_in(part, stand_in))) if stand_in.is_file() else None
        for item, kwargs in timed_calls.items():
            verdicts = [_compare(twin, reference, item, kwargs, thresholds) for _ in range(repeats)]
            slow_verdict = _compare(slow, reference, item, kwargs, thresholds) if slow else None
            result = ItemCalibration(
                item=item, device=verdicts[0].device,
                reference_s=sorted(v.reference_median_s for v in verdicts)[len(verdicts) // 2],
                self_ratios=[v.ratio for v in verdicts],
                slow_ratio=slow_verdict.ratio if slow_verdict else None)
            slow_text = f"; slow stand-in {result.slow_ratio:.1f}x" if slow_verdict else ""
            log(f"  {item}: reference {result.reference_s * 1e3:.3f} ms per call; against itself "
                f"{', '.join(f'{r:.3f}' for r in result.self_ratios)}{slow_text}")
            results.append(result)
    return results


def _compare(student: Side, reference: Side, item: str, kwargs: dict,
             thresholds: Thresholds) -> TimingVerdict:
    return TimedComparisons(student, reference, thresholds.policy).compare(**{"item": item, **kwargs})


def _apply(thresholds: Thresholds, results: list, device: str, log) -> Thresholds:
    """The base thresholds with a re-measure band that covers the noise, and tiers that keep
    every slow stand-in beyond the last bound by SEPARATION."""
    policy = thresholds.policy
    noise = max((r.noise for r in results), default=0.0)
    near = max(policy.plan.near_threshold, min(MAX_NEAR, NOISE_MULTIPLE * noise))
    item_tiers = dict(policy.item_tiers)
    for result in results:
        tiers = policy.tiers_for(result.item)
        limit = tiers[-1].max_ratio * SEPARATION
        if result.slow_ratio is not None and result.slow_ratio < limit:
            scale = result.slow_ratio / limit
            tiers = tuple(Tier(round(t.max_ratio * scale, 2), t.credit) for t in tiers)
            log(f"warning: on this machine the slow stand-in of {result.item} is only "
                f"{result.slow_ratio:.1f}x the reference; its tiers are scaled by {scale:.2f} to "
                f"{[(t.max_ratio, t.credit) for t in tiers]}")
        item_tiers[result.item] = tiers
    record = {"device": device, "machine": platform.node(), "processor": platform.processor(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "noise": _rounded(noise)}
    for result in results:
        record[f"{result.item}_reference_ms"] = _rounded(result.reference_s * 1e3)
        if result.slow_ratio is not None:
            record[f"{result.item}_slow_ratio"] = _rounded(result.slow_ratio)
    plan = dataclasses.replace(policy.plan, near_threshold=round(near, 3))
    return Thresholds(dataclasses.replace(policy, plan=plan, item_tiers=item_tiers), record)


def _rounded(value: float) -> float:
    return float(f"{value:.4g}")


@contextmanager
def _folder(files: tuple) -> Iterator[Path]:
    """A temporary folder holding the reference's copies of ``files``."""
    with tempfile.TemporaryDirectory(prefix="grade-calibrate-") as folder:
        for name in files:
            if (REFERENCE_DIR / name).is_file():
                shutil.copyfile(REFERENCE_DIR / name, Path(folder) / name)
        yield Path(folder)


@contextmanager
def _slow_stand_in(part: PartConfig, stand_in: Path) -> Iterator[Path]:
    """The reference's files but the part's own, and the stand-in as the part's module."""
    others = tuple(p.name for p in REFERENCE_DIR.glob("*.py") if p.name not in part.files)
    with _folder(others) as folder:
        [module] = [name for name in part.files if name.endswith(".py")]
        shutil.copyfile(stand_in, folder / module)
        yield folder
