"""Speed of the student's model against the reference model, timed in the same run.

Inference on a batch of images and one training step (``train`` on a one-batch loader for one
epoch, from the same starting weights every time), each timed through the engine's harness: both models run in sandboxes of their own, the
clock is the grader's, and the credit tiers are ``cifar10_inference`` and ``cifar10_train_step``
in ``autograder/thresholds.toml``. Runs on the GPU with ``grade run --device cuda``.
A model that does not produce logits of the right shape earns no speed points.
"""
from pathlib import Path

import numpy as np
import pytest

HELPER = "cifar10_grader_helpers"
HELPERS = Path(__file__).with_name("sandbox_helpers.py")
BATCH = 64


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(10).integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def _model_then(*rest):
    """Args builder: build a fresh model in each side's own process, then the other inputs."""
    def build(side) -> tuple:
        runner = side.helper(HELPER, HELPERS.read_text(), opaque={"build_model": "all"},
                             drives="cifar10")
        return (runner.build_model(rest[-1]),) + rest
    return build


def _logits_of_batch(student, reference) -> None:
    if not isinstance(student, np.ndarray) or student.shape != (BATCH, 10):
        raise AssertionError(f"the model gave {getattr(student, 'shape', type(student).__name__)} "
                             f"for {BATCH} images, not logits of shape ({BATCH}, 10)")


def _logits_around_step(student, reference) -> None:
    """(2, 8, 10): the logits of 8 images before and after one step, which must differ."""
    if not isinstance(student, np.ndarray) or student.shape != (2, 8, 10):
        raise AssertionError("the model did not give logits of shape (8, 10) for 8 images "
                             "before and after one training step")
    if np.allclose(student[0], student[1], rtol=1e-6, atol=0):
        raise AssertionError("one step of train() did not change the model's logits: a step "
                             "that does not train earns no speed points")


def timed_calls(device: str) -> dict:
    """Item (its key in thresholds.toml) -> keyword arguments of ``timing.compare``."""
    labels = np.arange(BATCH, dtype=np.int64) % 10
    return {
        "cifar10_inference": dict(function="predict", args=_model_then(_images(BATCH), device),
                                  module=HELPER, check=_logits_of_batch, device=device,
                                  timed_against="self"),  # the student's own model, untimed
        # Every step starts from the same state, so a timed step can be checked against an
        # untimed one on its batch (the logits before and after it).
        "cifar10_train_step": dict(function="train_step",
                                   args=_model_then(_images(BATCH), labels, device),
                                   module=HELPER, check=_logits_around_step, device=device,
                                   timed_against="self"),
    }


TIMED_CALLS = timed_calls("cpu")  # what ``grade calibrate`` times


@pytest.mark.points(2.5)
@pytest.mark.hint("a smaller or shallower model, channels_last, and no Python loops in forward()")
def test_inference_speed(timing, device, leaderboard):
    """model inference on a batch of 64 images: speed compared with the reference model"""
    verdict = timing.compare(**timed_calls(device)["cifar10_inference"], item="cifar10_inference")
    leaderboard.set("Inference ms per 64 images", round(verdict.student_median_s * 1e3, 2),
                    order="asc")


@pytest.mark.points(2.5)
@pytest.mark.hint("one optimiser step per batch; avoid per-step work such as rebuilding the "
                  "optimiser or copying the model")
def test_training_step_speed(timing, device):
    """one training step (train() on a one-batch loader): speed compared with the reference"""
    timing.compare(**timed_calls(device)["cifar10_train_step"], item="cifar10_train_step")
