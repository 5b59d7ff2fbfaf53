"""Tests of the CIFAR-10 reference model, its training loop and the training command.

Only small fake data sets (reference.cifar10_data.write_fake_cifar10) are used here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reference import cifar10
from reference.cifar10 import build_model, train
from reference.cifar10_data import load_cifar10, write_fake_cifar10
from reference.cifar10_loader import make_loader

REPO = Path(__file__).resolve().parents[2]
PARAM_BUDGET = 5_000_000
WEIGHTS = REPO / "reference" / "cifar10.pt"


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, ...]:
    """(train images, train labels, test images, test labels) of a small learnable fake set."""
    root = tmp_path_factory.mktemp("fake_cifar10")
    write_fake_cifar10(root, n_train_per_batch=64, n_test=100, seed=1)
    return (*load_cifar10(root, "train"), *load_cifar10(root, "test"))


def _accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(images).float() / 255)
    return float((logits.argmax(1).numpy() == labels).mean())


# --------------------------------------------------------------------------- the model


@pytest.mark.parametrize("n", [1, 5])
def test_output_shape_and_dtype(n: int) -> None:
    model = build_model().eval()
    with torch.no_grad():
        logits = model(torch.rand(n, 3, 32, 32))
    assert logits.shape == (n, 10) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


def test_training_mode_forward_and_backward() -> None:
    model = build_model().train()
    logits = model(torch.rand(4, 3, 32, 32))
    logits.sum().backward()
    assert model.head.weight.grad is not None and model.groups[0].conv1.weight.grad is not None
    assert model.whiten.weight.grad is None  # frozen: set from data, never trained


def test_parameter_count_within_budget() -> None:
    count = sum(p.numel() for p in build_model().parameters())
    assert 1_000_000 < count < PARAM_BUDGET, count


def test_normalisation_is_inside_the_model() -> None:
    """Mean/std live in the model (non-persistent buffers), not in the state_dict or the caller."""
    model = build_model()
    torch.testing.assert_close(model.normalize(torch.tensor(cifar10.CIFAR10_MEAN).view(1, 3, 1, 1)),
                               torch.zeros(1, 3, 1, 1))
    assert not any("normalize" in key for key in model.state_dict())


def test_whitening_decorrelates_patches() -> None:
    """After init_whitening, the 12 whitening channels (before bias) have about unit covariance."""
    torch.manual_seed(0)
    images = torch.rand(200, 3, 32, 32) * torch.tensor([1.0, 0.5, 0.25]).view(1, 3, 1, 1)
    images[:, 1] = 0.5 * images[:, 0] + 0.5 * images[:, 1]  # correlated channels
    model = build_model()
    model.init_whitening(images)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(model.normalize(images), model.whiten.weight)  # (N, 24, 31, 31)
    flat = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12).double()
    covariance = flat.T @ flat / len(flat)
    torch.testing.assert_close(covariance, torch.eye(12, dtype=torch.float64), atol=0.02, rtol=0)
    torch.testing.assert_close(model.whiten.weight[12:], -model.whiten.weight[:12])


def test_reference_file_is_standalone() -> None:
    """cifar10.py is graded as a student file: only torch and the standard library."""
    tree = ast.parse((REPO / "reference" / "cifar10.py").read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            modules.add(node.module.split(".")[0])
    allowed = {"torch", "numpy"} | set(sys.stdlib_module_names)
    assert modules <= allowed, modules - allowed


# --------------------------------------------------------------------------- training helpers


def test_augment_is_a_translated_and_maybe_flipped_crop() -> None:
    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 8)
    out = cifar10._augment(images, translate=2)
    assert out.shape == images.shape
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), mode="reflect")
    seen_flip = seen_shift = False
    for i in range(len(images)):
        matches = [(dy, dx, flip) for dy in range(5) for dx in range(5) for flip in (False, True)
                   if torch.equal(out[i], (lambda c: c.flip(-1) if flip else c)(padded[i, :, dy:dy + 8, dx:dx + 8]))]
        assert matches, f"image {i} is not a crop of its padded input"
        seen_flip |= any(m[2] for m in matches) and not any(not m[2] for m in matches)
        seen_shift |= (2, 2) not in [(m[0], m[1]) for m in matches]
    assert seen_flip and seen_shift


def test_lr_schedule_warms_up_then_decays() -> None:
    total = 100
    factors = [cifar10._lr_factor(step, total) for step in range(total)]
    peak = int(np.argmax(factors))
    assert factors[0] == pytest.approx(cifar10.START_LR_FACTOR)
    assert factors[peak] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:peak], factors[1:peak + 1]))
    assert all(a > b for a, b in zip(factors[peak:], factors[peak + 1:]))
    assert factors[-1] == pytest.approx(cifar10.END_LR_FACTOR, abs=0.02)


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(fake_data) -> tuple[torch.nn.Module, list[float]]:
    """The reference model after 4 epochs of ``train`` on the fake training set (320 images)."""
    train_images, train_labels, _, _ = fake_data
    torch.manual_seed(0)
    model = build_model()
    loader = make_loader(train_images, train_labels, batch_size=64, shuffle=True, seed=0)
    losses = train(model, loader, epochs=4, device="cpu")
    return model, losses


def test_train_lowers_the_loss(trained) -> None:
    _, losses = trained
    assert len(losses) == 4 and all(isinstance(v, float) and np.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0], losses


def test_trained_model_learns_the_fake_classes(trained, fake_data) -> None:
    model, _ = trained
    _, _, test_images, test_labels = fake_data
    assert not model.training, "train() should leave the model in eval mode"
    assert _accuracy(model, test_images, test_labels) >= 0.6


def test_train_accepts_a_plain_dataloader(fake_data) -> None:
    """The grader's loader: torch DataLoader over a TensorDataset of float images, shuffled."""
    train_images, train_labels, _, _ = fake_data
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(train_images[:128]).float() / 255,
                                             torch.from_numpy(train_labels[:128]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=50, shuffle=True)
    losses = train(build_model(), loader, epochs=1, device=torch.device("cpu"))
    assert len(losses) == 1 and np.isfinite(losses[0])


def test_state_dict_round_trip(trained, tmp_path: Path) -> None:
    model, _ = trained
    path = tmp_path / "cifar10.pt"
    torch.save(model.state_dict(), path)
    fresh = build_model()
    fresh.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    x = torch.rand(6, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(x), model.eval()(x))


# --------------------------------------------------------------------------- shipped weights


def test_shipped_weights_load_and_are_small() -> None:
    assert WEIGHTS.stat().st_size < 10 * 2**20
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())
    model = build_model()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        logits = model.eval()(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


# --------------------------------------------------------------------------- training command


def test_training_command_writes_weights_and_plots(tmp_path: Path) -> None:
    from reference.train_cifar10 import main

    write_fake_cifar10(tmp_path / "data", n_train_per_batch=32, n_test=50, seed=2)
    result = main(data_dir=tmp_path / "data", out_dir=tmp_path / "out", epochs=2, batch_size=40)
    assert set(result) >= {"test_accuracy", "parameters", "train_seconds", "seconds_per_epoch"}
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert len(result["epoch_losses"]) == len(result["epoch_test_accuracy"]) == 2
    for key in ("weights", "curves_png", "confusion_png"):
        path = Path(result[key])
        assert path.stat().st_size > 0
    assert Path(result["curves_png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = torch.load(result["weights"], map_location="cpu", weights_only=True)
    build_model().load_state_dict(state, strict=True)


def test_a_one_epoch_curve_is_readable() -> None:
    """A marked point with its value, and whole-number epoch ticks (not 0.96, 0.98, 1.00, ...)."""
    import matplotlib

    matplotlib.use("Agg")
    from reference.train_cifar10 import curves_figure

    figure = curves_figure([1.234], [0.4567])
    figure.canvas.draw()
    for axes in figure.axes:
        assert [line.get_marker() for line in axes.get_lines()] == ["o"]
        ticks = [label.get_text() for label in axes.get_xticklabels() if label.get_text()]
        assert ticks and all(text.isdigit() for text in ticks), ticks
    assert [text.get_text() for axes in figure.axes for text in axes.texts] == ["1.234", "45.7%"]
