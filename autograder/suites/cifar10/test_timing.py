"""Speed of the student's model against the reference model, timed in the same run.

Inference on a batch of images and one training step (``train`` on a one-batch loader for one
epoch, from the same starting weights every time) of the model that is graded (cifar10.pt
loaded), each timed through the engine's harness: both models run in sandboxes of their own, the
clock is the grader's, and the credit tiers are ``cifar10_inference`` and ``cifar10_train_step``
in ``autograder/thresholds.toml``. Runs on the GPU with ``grade run --device cuda``.
A model that does not produce logits of the right shape earns no speed points.
"""
from pathlib import Path

import numpy as np
import pytest

from autograder.config import load_config

HELPER = "cifar10_grader_helpers"
WEIGHTS = "cifar10.pt"
HELPERS = Path(__file__).with_name("sandbox_helpers.py")
BATCH = 64


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(10).integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def _model_then(max_weights_mb: int, *rest):
    """Args builder: in each side's own process, the model that is graded (build_model() with
    its cifar10.pt loaded: a model that could tell it is not the graded one could be fast
    there only), then the other inputs."""
    def build(side) -> tuple:
        runner = side.helper(HELPER, HELPERS.read_text(), opaque={"build_model": "all"},
                             drives="cifar10")
        model = runner.build_model(rest[-1])
        runner.load_weights(model, WEIGHTS, max_weights_mb)
        return (model,) + rest
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


def timed_calls(device: str, max_weights_mb: int | None = None) -> dict:
    """Item (its key in thresholds.toml) -> keyword arguments of ``timing.compare``; weights
    files up to ``max_weights_mb`` (default: the part's declared limit) are loaded."""
    if max_weights_mb is None:
        max_weights_mb = load_config().parts["cifar10"].settings.max_weights_mb
    labels = np.arange(BATCH, dtype=np.int64) % 10
    return {
        "cifar10_inference": dict(function="predict",
                                  args=_model_then(max_weights_mb, _images(BATCH), device),
                                  module=HELPER, check=_logits_of_batch, device=device,
                                  timed_against="self"),  # the student's own model, untimed
        # Every step starts from the same state, so a timed step can be checked against an
        # untimed one on its batch (the logits before and after it).
        "cifar10_train_step": dict(function="train_step",
                                   args=_model_then(max_weights_mb, _images(BATCH), labels,
                                                    device),
                                   module=HELPER, check=_logits_around_step, device=device,
                                   timed_against="self"),
    }



@pytest.mark.points(2.5)
@pytest.mark.hint("a smaller or shallower model, channels_last, and no Python loops in forward()")
def test_inference_speed(timing, device, settings, leaderboard):
    """model inference on a batch of 64 images: speed compared with the reference model"""
    verdict = timing.compare(**timed_calls(device, settings.max_weights_mb)["cifar10_inference"],
                             item="cifar10_inference")
    leaderboard.set("Inference ms per 64 images", round(verdict.student_median_s * 1e3, 2),
                    order="asc")


@pytest.mark.points(2.5)
@pytest.mark.hint("one optimiser step per batch; avoid per-step work such as rebuilding the "
                  "optimiser or copying the model")
def test_training_step_speed(timing, device, settings):
    """one training step (train() on a one-batch loader): speed compared with the reference"""
    timing.compare(**timed_calls(device, settings.max_weights_mb)["cifar10_train_step"],
                   item="cifar10_train_step")
