"""Train the CIFAR-10 reference model on the real data set; save its weights and plots.

    python -m reference.train_cifar10 --data-dir /work/data --out-dir /work/out

writes ``OUT/cifar10.pt`` (a float32 state_dict for ``reference.cifar10.build_model()``),
``OUT/cifar10_curves.png`` (training loss and test accuracy per epoch) and
``OUT/cifar10_confusion.png``, and prints the final test accuracy, parameter count and
training time. ``main`` returns the same numbers as a dict.

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

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from reference import cifar10  # noqa: E402
from reference.cifar10_data import CIFAR10_LABELS, find_data_dir, load_cifar10  # noqa: E402
from reference.cifar10_loader import make_loader  # noqa: E402

EVAL_BATCH_SIZE = 1000


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
        dict with ``test_accuracy`` (float32 inference on the saved weights, reloaded with
        ``torch.load(weights_only=True)`` as the grader does), ``parameters``,
        ``train_seconds`` (excluding per-epoch evaluation), ``seconds_per_epoch``,
        ``epoch_losses``, ``epoch_test_accuracy`` and the paths written.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = Path(weights) if weights is not None else out_dir / "cifar10.pt"

    root = find_data_dir(data_dir)
    train_images, train_labels = load_cifar10(root, "train")
    test_images, test_labels = load_cifar10(root, "test")
    train_loader = make_loader(train_images, train_labels, batch_size, shuffle=True, seed=seed)
    test_loader = make_loader(test_images, test_labels, EVAL_BATCH_SIZE, shuffle=False)

    model = cifar10.build_model()
    parameters = sum(p.numel() for p in model.parameters())
    epoch_accuracy: list[float] = []
    fast_dtype = cifar10.autocast_dtype_for(torch.device(device))

    with _progress() as progress:
        task = progress.add_task("training", total=epochs * len(train_loader), status="")

        def after_epoch() -> None:
            predictions = predict(model, test_loader, device, autocast_dtype=fast_dtype)
            epoch_accuracy.append(float((predictions == test_labels).mean()))
            status = f"epoch {len(epoch_accuracy)}/{epochs}: test acc {epoch_accuracy[-1]:.2%}"
            progress.update(task, status=status)
            # A permanent line per epoch, also when the output is a log file and not a terminal.
            progress.console.print(f"{status} ({time.perf_counter() - start:.0f} s)")

        monitored = _EpochMonitor(train_loader, on_batch=lambda: progress.advance(task),
                                  on_epoch_end=after_epoch)
        start = time.perf_counter()
        epoch_losses = cifar10.train(model, monitored, epochs, device)
        train_seconds = time.perf_counter() - start - monitored.callback_seconds

    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, weights)
    reloaded = cifar10.build_model()
    reloaded.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    predictions = predict(reloaded.eval(), test_loader, "cpu")
    test_accuracy = float((predictions == test_labels).mean())

    curves_png = out_dir / "cifar10_curves.png"
    confusion_png = out_dir / "cifar10_confusion.png"
    plot_curves(epoch_losses, epoch_accuracy, curves_png)
    plot_confusion(confusion_matrix(test_labels, predictions), confusion_png)

    result = dict(
        test_accuracy=test_accuracy, parameters=parameters, train_seconds=train_seconds,
        seconds_per_epoch=train_seconds / epochs, epochs=epochs, batch_size=batch_size,
        epoch_losses=epoch_losses, epoch_test_accuracy=epoch_accuracy,
        weights=str(weights), curves_png=str(curves_png), confusion_png=str(confusion_png),
    )
    print(f"test accuracy {test_accuracy:.2%} | {parameters:,} parameters | "
          f"training {train_seconds:.0f} s ({train_seconds / epochs:.1f} s/epoch, {epochs} epochs, "
          f"{torch.get_num_threads()} threads) | weights {weights}")
    return result


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"))


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


@torch.no_grad()
def predict(model: torch.nn.Module, loader: DataLoader, device: str | torch.device,
            autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """Predicted classes (N,) int64 for every batch of ``loader``, in order.

    Puts the model in eval mode for the duration and restores its previous mode.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    predictions = []
    for images, _ in loader:
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                            enabled=autocast_dtype is not None):
            logits = model(images.to(device))
        predictions.append(logits.argmax(1).cpu())
    model.train(was_training)
    return torch.cat(predictions).numpy()


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """(10, 10) int64 counts; row = true class, column = predicted class."""
    k = len(CIFAR10_LABELS)
    return np.bincount(labels * k + predictions, minlength=k * k).reshape(k, k)


def plot_curves(losses: list[float], accuracies: list[float], path: Path) -> None:
    """Training loss and test accuracy against epoch, side by side."""
    epochs = np.arange(1, len(losses) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, losses, marker="o")
    ax_loss.set(xlabel="epoch", ylabel="mean training loss (label smoothing 0.2)", title="Training loss")
    ax_acc.plot(epochs[: len(accuracies)], np.asarray(accuracies) * 100, marker="o", color="tab:green")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(matrix: np.ndarray, path: Path) -> None:
    """Confusion matrix as a heat map with the count in each cell."""
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
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
