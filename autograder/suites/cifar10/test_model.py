"""Hidden tests of the CIFAR-10 part: weights, budget, eval mode, accuracy tiers, training.

Everything credited is measured here, from logits the sandbox returns: the test images go out in
an order and in batch sizes drawn from a secret of this grade (a model cannot answer by position),
the labels never leave, and training is judged by the loss this process computes before and after
the student's ``train`` ran, never by the losses it reports. The leaderboard shows the accuracy on
the public share of the test images; the accuracy tiers use the private share.
"""

import numpy as np
import pytest

from autograder.suites.cifar10.weights_file import WeightsFileError, count_numbers
from reference.cifar10_data import CIFAR10DataError, find_data_dir, load_cifar10, write_fake_cifar10

WEIGHTS = "cifar10.pt"


@pytest.fixture  # not session-scoped: set up after each test's model fixtures, so a submission
def test_set(grading_options, settings):  # without cifar10.py fails on that, never on data
    """(images uint8 (N, 3, 32, 32), labels (N,)) of the test set; the labels never leave here.

    A missing data set is the grader's problem, not the student's: this raises a plain error,
    which the report marks as a grader error (``grade run`` then exits non-zero).
    """
    explicit = getattr(grading_options, "data_dir", None) or None  # the folder grading found
    try:
        images, labels = load_cifar10(find_data_dir(explicit, "test"), "test")
    except CIFAR10DataError as exc:
        raise RuntimeError(f"grader set-up: CIFAR-10 test data unavailable: {exc}") from None
    return images[:settings.eval_images], labels[:settings.eval_images]


def private_part(count: int, fraction: float) -> np.ndarray:
    """Which of ``count`` test images are private: a fixed, interleaved share ``fraction``, the
    same in every grade (so accuracy is reproducible). None private: all count."""
    if fraction <= 0:
        return np.ones(count, dtype=bool)
    return (np.arange(count) * fraction) % 1 + fraction > 1 - 1e-9


@pytest.fixture(scope="session")
def fake_train_set(tmp_path_factory):
    """A small learnable CIFAR-10 look-alike for checking that train() lowers the loss."""
    folder = write_fake_cifar10(tmp_path_factory.mktemp("fake-cifar"), n_train_per_batch=64,
                                n_test=10, seed=1)
    return load_cifar10(folder, "train")


@pytest.fixture
def trained_model(model_runner, device, settings):
    """A handle to the student's model with cifar10.pt loaded (rebuilt per test, so a crash in
    one test cannot leave the next holding a handle to a dead process)."""
    model = model_runner.build_model(device)
    model_runner.load_weights(model, WEIGHTS, settings.max_weights_mb)
    return model


def logits_for(model_runner, model, images, device: str, what: str = "a batch") -> np.ndarray:
    """The model's logits for ``images``, checked to be finite and of shape (N, 10)."""
    logits = model_runner.predict(model, images, device)
    if not isinstance(logits, np.ndarray) or logits.shape != (len(images), 10):
        shape = getattr(logits, "shape", type(logits).__name__)
        raise AssertionError(f"the model returned logits of shape {shape} for {what} of "
                             f"{len(images)} images; expected ({len(images)}, 10)")
    if not np.isfinite(logits).all():
        raise AssertionError("the model returned NaN or inf logits")
    return logits


def predictions(model_runner, model, images, batch_size: int, device: str, rng) -> np.ndarray:
    """Predicted classes of ``images``, which go out in an order and in batch sizes (between a
    quarter of ``batch_size`` and all of it) drawn from ``rng``: what the model returns for an
    image cannot depend on where it sits in the test set."""
    order = rng.permutation(len(images))
    predicted = np.empty(len(images), dtype=np.int64)
    start = 0
    while start < len(images):
        size = int(rng.integers(max(1, batch_size // 4), batch_size + 1))
        chosen = order[start:start + size]
        predicted[chosen] = logits_for(model_runner, model, images[chosen], device).argmax(axis=1)
        start += size
    return predicted


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of ``logits`` for ``labels``, computed here (float64, stable)."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def counted_weights(submission, settings) -> int:
    """How many numbers cifar10.pt holds, counted here from the file as handed in: the sandbox's
    word on its model (its size, that the file loaded) is a claim."""
    path = submission.submitted_file(WEIGHTS)
    assert path is not None, f"{WEIGHTS} is not in the submission"
    try:
        return count_numbers(path, settings.max_weights_mb * 2**20)
    except WeightsFileError as exc:
        raise AssertionError(f"the grader could not read {WEIGHTS}: {exc}. Save it with "
                             f"torch.save(model.state_dict(), '{WEIGHTS}').") from None


@pytest.mark.points(2.5)
@pytest.mark.hint("save with torch.save(model.state_dict(), 'cifar10.pt') after training, and keep "
                  "build_model() unchanged since")
def test_weights_load_into_build_model(submission, trained_model, settings):
    """cifar10.pt: a state_dict that loads (weights_only) into build_model()"""
    assert counted_weights(submission, settings) > 0, f"{WEIGHTS} holds no tensors"


@pytest.mark.points(1.5)
@pytest.mark.hint("the budget counts every number in cifar10.pt, sum(t.numel() for t in "
                  "model.state_dict().values()): narrow the widest layers")
def test_parameter_budget(submission, trained_model, settings, leaderboard):
    """cifar10.pt: its weights within the parameter budget"""
    count = counted_weights(submission, settings)
    leaderboard.set("Parameters", count, order="asc")
    assert count <= settings.param_budget, (
        f"{WEIGHTS} holds {count:,} numbers (parameters and buffers such as batch norm's "
        f"running statistics); the budget is {settings.param_budget:,}")


@pytest.mark.points(1)
@pytest.mark.hint("in eval mode, BatchNorm must use its running statistics and dropout must be off")
def test_eval_mode_outputs_do_not_depend_on_the_batch(model_runner, trained_model, device, test_set):
    """eval mode: an image's logits do not depend on the other images in its batch"""
    images = test_set[0][:8]
    together = model_runner.predict(trained_model, images, device)
    alone = np.concatenate([model_runner.predict(trained_model, images[i:i + 1], device)
                            for i in range(len(images))])
    assert isinstance(together, np.ndarray) and together.shape == alone.shape == (8, 10), (
        "the model did not return logits of shape (N, 10)")
    scale = max(1e-6, float(np.abs(alone).max()))
    error = float(np.abs(together - alone).max()) / scale
    assert error < 1e-3, (f"logits of the same image differ by {error:.1e} (relative) between a "
                          "batch of 8 and a batch of 1: the model behaves as in training mode")


@pytest.mark.points(10)
@pytest.mark.hint("train longer, augment (flips, crops), use batch norm and a learning-rate schedule")
def test_accuracy_tiers(model_runner, trained_model, device, test_set, settings, cases, leaderboard,
                        hidden_rng):
    """accuracy on the CIFAR-10 test set, one share of the points per tier reached"""
    images, labels = test_set
    # The images' order and batch sizes come from the grade's secret seed: never sent anywhere,
    # and the same again under grade run --seed.
    correct = predictions(model_runner, trained_model, images, settings.batch_size, device,
                          hidden_rng) == labels
    private = private_part(len(images), settings.private_fraction)
    public = ~private if (~private).any() else private
    leaderboard.set("Accuracy", round(100 * float(correct[public].mean()), 2), order="desc")
    measured = float(correct[private].mean())

    def reached(tier: float) -> None:
        assert measured >= tier, f"test accuracy {100 * measured:.2f}% is below {100 * tier:.0f}%"

    for tier in settings.accuracy_tiers:
        cases.run(f"accuracy >= {100 * tier:.0f}% on {int(private.sum())} test images "
                  f"(yours: {100 * measured:.2f}%)", reached, tier)


@pytest.mark.points(4)
@pytest.mark.hint("train() must run the optimiser over every batch of the loader for each epoch "
                  "and return the mean loss of each epoch")
def test_train_lowers_the_loss(model_runner, fake_train_set, device, settings, hidden_rng):
    """train: three epochs on a small synthetic data set lower the loss"""
    images, labels = fake_train_set
    # Which class is which is a secret of this grade: a model that knows the synthetic images
    # (their code is public) can only tell their labels by training on what train() is given.
    labels = hidden_rng.permutation(10)[labels]
    held = slice(0, 128)  # the loss is measured here, on these training images, before and after
    model = model_runner.build_seeded_model(device)
    before = cross_entropy(logits_for(model_runner, model, images[held], device, "the held batch"),
                           labels[held])
    call = model_runner.train_model.call((model, images, labels, 3, 64, device),
                                         timeout=settings.train_check_seconds)
    losses = call.value
    assert isinstance(losses, list) and len(losses) == 3, (
        f"train(model, loader, epochs=3, device) returned {len(losses) if isinstance(losses, list) else type(losses).__name__} "
        "values; expected a list of 3 (one mean loss per epoch)")
    assert all(np.isfinite(losses)), f"the losses are not all finite: {losses}"
    after = cross_entropy(logits_for(model_runner, model, images[held], device, "the held batch"),
                          labels[held])
    # The loss before is the sandbox's word too (logits far off at first make any later ones
    # look better): above chance's, it does not count.
    start = min(before, CHANCE_LOSS)
    assert after < TRAINED_LOSS_SHARE * start, (
        f"after train(model, loader, epochs=3) on {len(images)} easy synthetic images, the "
        f"model's loss on 128 of them, measured by the grader from its logits, went from "
        f"{before:.3f} to {after:.3f}: training should take it below {TRAINED_LOSS_SHARE:.0%} "
        f"of {start:.3f} (the lower of the loss before and guessing's, ln 10). The losses "
        "train() reported are not what is graded.")


# Three epochs of the reference take the held loss from 2.30 to 1.44 (0.63 of it); an untrained
# model keeps all of it.
TRAINED_LOSS_SHARE = 0.9
CHANCE_LOSS = float(np.log(10))  # ten classes, every logit alike
