"""Train the CIFAR-10 reference model on the real data set; save its weights and plots.

    python -m reference.train_cifar10 --data-dir /work/data --out-dir /work/out

writes ``OUT/cifar10.pt`` (a float32 state_dict for ``reference.cifar10.build_model()``),
``OUT/cifar10_curves.png`` (training loss and test accuracy per epoch) and
``OUT/cifar10_confusion.png`` (both only where matplotlib is installed: the ``train`` extra),
and prints one test accuracy, the one the grader measures on the saved weights, with the
parameter count and training time. ``main`` returns the same numbers as a dict.

The training loop is ``reference.cifar10.train`` itself, unchanged. Per-epoch test accuracy
comes from wrapping the training loader: when a pass over it ends, the wrapper evaluates the
model before handing control back to ``train``. The time spent evaluating is subtracted from
the reported training time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn
from torch.utils.data import DataLoader

from autograder.config import load_config
from autograder.suites.cifar10 import sandbox_helpers
from autograder.suites.cifar10.test_model import predictions
from reference import cifar10
from reference.cifar10_data import CIFAR10_LABELS, find_data_dir, load_cifar10
from reference.cifar10_loader import make_loader

NO_PLOTS = 'no plots: matplotlib is not installed (pip install "cnn-autograder[train]")'


def main(data_dir: str | Path | None = None, out_dir: str | Path = "out", epochs: int = 10,
         device: str = "cpu", seed: int = 0, batch_size: int = 1024, threads: int | None = None,
         weights: str | Path | None = None) -> dict:
    """Train, save and report; see the module docstring.

    Args:
        data_dir: CIFAR-10 location, resolved by ``find_data_dir`` (falls back to
            $GRADE_CIFAR10_DIR, then ./data).
        out_dir: where the weights and PNGs go (created if needed).
        epochs: passes over the 50,000 training images.
        device: torch device string.
        seed: seeds model initialisation, augmentation and shuffling.
        batch_size: training batch size.
        threads: ``torch.set_num_threads`` value; None keeps PyTorch's default.
        weights: where to save the state_dict; default ``out_dir/cifar10.pt``.

    Returns:
        dict with ``test_accuracy`` (what the grader measures on the saved weights: see
        ``GradedAccuracy``), ``parameters``, ``train_seconds`` (excluding per-epoch
        evaluation), ``seconds_per_epoch``, ``epoch_losses``, ``epoch_test_accuracy`` and the
        paths written (None for the plots without matplotlib).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = Path(weights) if weights is not None else out_dir / "cifar10.pt"

    root = find_data_dir(data_dir)
    train_images, train_labels = load_cifar10(root, "train")
    train_loader = make_loader(train_images, train_labels, batch_size, shuffle=True, seed=seed)
    graded = GradedAccuracy(*load_cifar10(root, "test"))

    model = cifar10.build_model()
    parameters = sum(p.numel() for p in model.parameters())
    epoch_accuracy: list[float] = []

    with _progress() as progress:
        task = progress.add_task("training", total=epochs * len(train_loader))

        def after_epoch() -> None:
            epoch_accuracy.append(graded.measure(model, device))
            # A permanent line per epoch, also when the output is a log file and not a terminal.
            progress.console.print(f"epoch {len(epoch_accuracy)}/{epochs} done "
                                   f"({time.perf_counter() - start:.0f} s)")

        monitored = _EpochMonitor(train_loader, on_batch=lambda: progress.advance(task),
                                  on_epoch_end=after_epoch)
        start = time.perf_counter()
        epoch_losses = cifar10.train(model, monitored, epochs, device)
        train_seconds = time.perf_counter() - start - monitored.callback_seconds

    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, weights)
    test_accuracy = graded.measure_saved(weights)
    plots = save_plots(epoch_losses, epoch_accuracy, graded.confusion(), out_dir)

    result = dict(
        test_accuracy=test_accuracy, parameters=parameters, train_seconds=train_seconds,
        seconds_per_epoch=train_seconds / epochs, epochs=epochs, batch_size=batch_size,
        epoch_losses=epoch_losses, epoch_test_accuracy=epoch_accuracy, weights=str(weights),
        curves_png=plots and str(plots[0]), confusion_png=plots and str(plots[1]),
    )
    print(f"test accuracy {test_accuracy:.2%} (as the grader measures it) | {parameters:,} parameters | "
          f"training {train_seconds:.0f} s ({train_seconds / epochs:.1f} s/epoch, {epochs} epochs, "
          f"{torch.get_num_threads()} threads) | weights {weights}")
    return result


class GradedAccuracy:
    """Test accuracy as the cifar10 suite measures it: the suite's own sandbox-side ``predict``
    (uint8 images scaled to [0, 1], float32, eval mode) and its ``predictions`` (the images in a
    shuffled order, in batches of up to ``batch_size``), on the first ``eval_images`` test images
    (autograder/suites/cifar10/part.toml; the suite's tiers use the private share of them); the weights
    reloaded by the suite's ``load_weights`` (``torch.load(weights_only=True)``). Each
    measurement keeps its predicted classes, for the confusion matrix."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.settings = load_config().parts["cifar10"].settings
        self.images = images[:self.settings.eval_images]
        self.labels = labels[:self.settings.eval_images]
        self.predicted = np.zeros(0, dtype=np.int64)

    def predict(self, model: torch.nn.Module, images: np.ndarray, device: str) -> np.ndarray:
        return sandbox_helpers.predict(model, images, device)

    def measure(self, model: torch.nn.Module, device: str) -> float:
        """Accuracy of ``model`` now; a model in training goes back to training mode after."""
        was_training = model.training
        try:
            self.predicted = predictions(self, model, self.images, self.settings.batch_size,
                                         device, np.random.default_rng(0))
            return float((self.predicted == self.labels).mean())
        finally:
            model.train(was_training)

    def measure_saved(self, weights: Path) -> float:
        model = cifar10.build_model()
        sandbox_helpers.load_weights(model, str(weights), self.settings.max_weights_mb)
        return self.measure(model, "cpu")

    def confusion(self) -> np.ndarray:
        """(10, 10) counts of the last measurement; row = true class, column = predicted class."""
        k = len(CIFAR10_LABELS)
        return np.bincount(self.labels * k + self.predicted, minlength=k * k).reshape(k, k)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn())


class _EpochMonitor:
    """Wraps a training loader: reports each batch, and calls back when a pass ends.

    ``train`` iterates its loader exactly once per epoch, so a completed pass is an epoch.
    """

    def __init__(self, loader: DataLoader, on_batch: Callable[[], None],
                 on_epoch_end: Callable[[], None]) -> None:
        self.loader = loader
        self.on_batch = on_batch
        self.on_epoch_end = on_epoch_end
        self.callback_seconds = 0.0  # time spent in on_epoch_end, not training

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        for batch in self.loader:
            yield batch
            self.on_batch()  # reached when train() asks for the next batch: this one is done
        start = time.perf_counter()
        self.on_epoch_end()
        self.callback_seconds += time.perf_counter() - start


def save_plots(losses: list[float], accuracies: list[float], confusion: np.ndarray,
               out_dir: Path) -> tuple[Path, Path] | None:
    """The curves and the confusion matrix as PNGs; None (and a line saying so) without
    matplotlib, which the base install does not have."""
    try:
        import matplotlib
    except ModuleNotFoundError:
        print(NO_PLOTS)
        return None
    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    paths = out_dir / "cifar10_curves.png", out_dir / "cifar10_confusion.png"
    for figure, path in zip((curves_figure(losses, accuracies), confusion_figure(confusion)), paths):
        figure.savefig(path, dpi=120)
        plt.close(figure)
    return paths


def curves_figure(losses: list[float], accuracies: list[float]):
    """Training loss and test accuracy against epoch, side by side: every epoch a marked point
    with its value, whole-number epoch ticks, so even a one-epoch run reads clearly."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, len(losses) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, values, colour, label in ((ax_loss, np.asarray(losses), "tab:blue", "{:.3f}"),
                                      (ax_acc, np.asarray(accuracies) * 100, "tab:green", "{:.1f}%")):
        ax.plot(epochs[:len(values)], values, marker="o", markersize=7, color=colour)
        if len(values):
            ax.annotate(label.format(values[-1]), (len(values), values[-1]), textcoords="offset points",
                        xytext=(0, 8), ha="center")
        ax.set_xlim(0.5, len(losses) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
    ax_loss.set(xlabel="epoch", ylabel="mean training loss (label smoothing 0.2)", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy after each epoch")
    fig.tight_layout()
    return fig


def confusion_figure(matrix: np.ndarray):
    """Confusion matrix as a heat map with the count in each cell."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(CIFAR10_LABELS))
    ax.set_xticks(ticks, CIFAR10_LABELS, rotation=45, ha="right")
    ax.set_yticks(ticks, CIFAR10_LABELS)
    ax.set(xlabel="predicted", ylabel="true",
           title=f"CIFAR-10 test confusion matrix (accuracy {np.trace(matrix) / matrix.sum():.2%})")
    threshold = matrix.max() / 2
    for i in ticks:
        for j in ticks:
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > threshold else "black")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None,
                        help="CIFAR-10 directory or its parent (default: $GRADE_CIFAR10_DIR, then ./data)")
    parser.add_argument("--out-dir", default="out", help="where weights and plots go (default: out)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's)")
    parser.add_argument("--weights", default=None, help="state_dict path (default: OUT_DIR/cifar10.pt)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse_args()
    main(data_dir=args.data_dir, out_dir=args.out_dir, epochs=args.epochs, device=args.device,
         seed=args.seed, batch_size=args.batch_size, threads=args.threads, weights=args.weights)
