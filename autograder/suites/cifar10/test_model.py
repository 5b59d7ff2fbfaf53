"""Hidden tests of the CIFAR-10 part: weights, budget, eval mode, accuracy tiers, training."""
import numpy as np
import pytest

from reference.cifar10_data import CIFAR10DataError, find_data_dir, load_cifar10, write_fake_cifar10

WEIGHTS = "cifar10.pt"


@pytest.fixture  # not session-scoped: set up after each test's model fixtures, so a submission
def test_set(grading_options, settings):  # without cifar10.py fails on that, never on data
    """(images uint8 (N, 3, 32, 32), labels (N,)) of the test set; the labels never leave here.

    A missing data set is the grader's problem, not the student's: this raises a plain error,
    which the report marks as a grader error (``grade run`` then exits non-zero).
    """
    explicit = getattr(grading_options, "data_dir", None) or settings.data_dir or None
    try:
        images, labels = load_cifar10(find_data_dir(explicit, "test"), "test")
    except CIFAR10DataError as exc:
        raise RuntimeError(f"grader set-up: CIFAR-10 test data unavailable: {exc}") from None
    return images[:settings.eval_images], labels[:settings.eval_images]


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


def measure_accuracy(model_runner, model, images, labels, batch_size: int, device: str) -> float:
    """Top-1 accuracy, computed here from the logits the sandbox returns for our images."""
    correct = 0
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        logits = model_runner.predict(model, batch, device)
        if not isinstance(logits, np.ndarray) or logits.shape != (len(batch), 10):
            shape = getattr(logits, "shape", type(logits).__name__)
            raise AssertionError(f"the model returned logits of shape {shape} for a batch of "
                                 f"{len(batch)} images; expected ({len(batch)}, 10)")
        if not np.isfinite(logits).all():
            raise AssertionError("the model returned NaN or inf logits")
        correct += int((logits.argmax(axis=1) == labels[start:start + batch_size]).sum())
    return correct / len(images)


@pytest.mark.weight(2)
@pytest.mark.hint("save with torch.save(model.state_dict(), 'cifar10.pt') after training, and keep "
                  "build_model() unchanged since")
def test_weights_load_into_build_model(trained_model):
    """cifar10.pt: a state_dict that loads (weights_only) into build_model()"""
    assert trained_model is not None


@pytest.mark.weight(1)
@pytest.mark.hint("count with sum(p.numel() for p in model.parameters()); narrow the widest layers")
def test_parameter_budget(model_runner, device, settings, leaderboard):
    """build_model: within the parameter budget"""
    count = model_runner.parameter_count(model_runner.build_model(device))
    leaderboard.set("Parameters", count, order="asc")
    assert count <= settings.param_budget, (
        f"the model has {count:,} parameters; the budget is {settings.param_budget:,}")


@pytest.mark.weight(1)
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


@pytest.mark.weight(8)
@pytest.mark.hint("train longer, augment (flips, crops), use batch norm and a learning-rate schedule")
def test_accuracy_tiers(model_runner, trained_model, device, test_set, settings, cases, leaderboard):
    """accuracy on the CIFAR-10 test set, one share of the points per tier reached"""
    images, labels = test_set
    measured = measure_accuracy(model_runner, trained_model, images, labels, settings.batch_size, device)
    leaderboard.set("Accuracy", round(100 * measured, 2), order="desc")

    def reached(tier: float) -> None:
        assert measured >= tier, f"test accuracy {100 * measured:.2f}% is below {100 * tier:.0f}%"

    for tier in settings.accuracy_tiers:
        cases.run(f"accuracy >= {100 * tier:.0f}% on {len(images)} test images "
                  f"(yours: {100 * measured:.2f}%)", reached, tier)


@pytest.mark.weight(3)
@pytest.mark.hint("train() must run the optimiser over every batch of the loader for each epoch "
                  "and return the mean loss of each epoch")
def test_train_lowers_the_loss(model_runner, fake_train_set, device, settings):
    """train: three epochs on a small synthetic data set lower the loss"""
    images, labels = fake_train_set
    call = model_runner.train_fresh.call((images, labels, 3, 64, device),
                                         timeout=settings.train_check_seconds)
    losses = call.value
    assert isinstance(losses, list) and len(losses) == 3, (
        f"train(model, loader, epochs=3, device) returned {len(losses) if isinstance(losses, list) else type(losses).__name__} "
        "values; expected a list of 3 (one mean loss per epoch)")
    assert all(np.isfinite(losses)), f"the losses are not all finite: {losses}"
    assert losses[-1] < losses[0], (
        f"the loss did not go down over 3 epochs on {len(images)} easy synthetic images: {losses}")
