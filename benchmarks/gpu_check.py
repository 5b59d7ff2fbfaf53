"""The GPU path, checked the first time a GPU is at hand (under 5 minutes on one GPU).

    python -m benchmarks.gpu_check [--data-dir DIR] [--epochs 2]

Prints, on CUDA:

* the timing verdicts (ratio, credit, how the student was stopped, whether CPU time was
  cross-checked) of the reference CIFAR-10 model against itself, for inference and for one
  training step, as ``grade run --device cuda`` times them (the timed runs' results checked);
* the same for a known slow variant: a model whose forward pass runs the reference's 4 times,
  which must lose speed credit;
* the reference's CIFAR-10 training time: ``--epochs`` epochs on the real training set when
  ``--data-dir`` (or $GRADE_CIFAR10_DIR) holds it, else on 50,000 synthetic images of its shape.

Without CUDA it says so and exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

import torch

from autograder.config import load_config
from autograder.engine.plugin import SubmissionAccess
from autograder.engine.proxy import Session
from autograder.engine.sandbox import SandboxFactory, detect_isolation
from autograder.engine.timing import Side, TimedComparisons
from autograder.examples import REFERENCE_DIR
from autograder.run import PROJECT_ROOT
from autograder.thresholds import load_thresholds

SLOW_MODEL = """
from reference_model import *  # noqa: F401,F403 (the reference's train)
import reference_model as _reference


def build_model():
    model = _reference.build_model()
    forward = model.forward

    def four_times(x):
        for _ in range(3):
            forward(x)
        return forward(x)

    model.forward = four_times
    return model
"""


def timing_verdicts(device: str) -> None:
    from autograder.suites.cifar10.test_timing import timed_calls

    config = load_config()
    part = config.parts["cifar10"]
    factory = SandboxFactory(dataclasses.asdict(config.limits), detect_isolation(), (PROJECT_ROOT,))
    limits = factory.limits(part.call_timeout, part.memory_mb, part.threads)
    policy = load_thresholds().policy
    with contextlib.ExitStack() as stack:
        def side(folder: Path) -> Side:
            sandbox = factory.open(folder, limits)
            stack.callback(sandbox.close)
            session = Session(sandbox, part_timeout=3600)
            return Side(SubmissionAccess(session, part.forbid_imports, "gpu check"), session)

        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        reference_dir, slow_dir = scratch / "reference", scratch / "slow"
        for folder in (reference_dir, slow_dir):  # the timed model is the graded one, loaded
            folder.mkdir()
            shutil.copyfile(REFERENCE_DIR / "cifar10.pt", folder / "cifar10.pt")
        shutil.copyfile(REFERENCE_DIR / "cifar10.py", reference_dir / "cifar10.py")
        shutil.copyfile(REFERENCE_DIR / "cifar10.py", slow_dir / "reference_model.py")
        (slow_dir / "cifar10.py").write_text(SLOW_MODEL)
        reference = side(reference_dir)
        for name, student in (("reference", side(reference_dir)), ("slow x4", side(slow_dir))):
            for item, kwargs in timed_calls(device).items():
                began = time.monotonic()
                verdict = TimedComparisons(student, reference, policy).compare(item=item, **kwargs)
                print(f"{name:>9} {item}: {verdict.ratio:.2f}x, credit {verdict.credit:.0%} "
                      f"({verdict.rounds} rounds, {time.monotonic() - began:.0f} s; guard "
                      f"{verdict.guard or 'none'}; CPU time "
                      f"{'cross-checked' if verdict.cpu_checked else 'not cross-checked'})")


def training_time(device: str, data_dir: str | None, epochs: int) -> None:
    from reference import cifar10
    from reference.cifar10_data import CIFAR10DataError, find_data_dir, load_cifar10, write_fake_cifar10
    from reference.cifar10_loader import make_loader

    try:
        images, labels = load_cifar10(find_data_dir(data_dir), "train")
        what = "the CIFAR-10 training set"
    except CIFAR10DataError:
        folder = write_fake_cifar10(Path(tempfile.mkdtemp()), n_train_per_batch=10_000, n_test=10)
        images, labels = load_cifar10(folder, "train")
        what = "50,000 synthetic images"
    torch.manual_seed(0)
    model = cifar10.build_model()
    loader = make_loader(images, labels, 1024, True, 0)
    began = time.monotonic()
    cifar10.train(model, loader, epochs, device)
    torch.cuda.synchronize()
    seconds = time.monotonic() - began
    print(f"reference training on {device}: {seconds:.1f} s for {epochs} epochs of {what} "
          f"({seconds / epochs:.1f} s per epoch)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: the GPU check is skipped")
        return
    print(f"GPU: {torch.cuda.get_device_name(0)}")
    timing_verdicts("cuda")
    training_time("cuda", args.data_dir, args.epochs)


if __name__ == "__main__":
    main()
