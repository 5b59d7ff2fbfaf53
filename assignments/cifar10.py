"""CIFAR-10 classification with PyTorch: your model and your training loop.

Fill in ``build_model`` and ``train``, train on the CIFAR-10 training set, and hand in this
file together with ``cifar10.pt``, the trained weights::

    model = build_model()
    train(model, train_loader, epochs, device)
    torch.save(model.state_dict(), "cifar10.pt")

Submit only a ``state_dict`` (a dict of tensors), never the pickled model object: the grader
loads the file with ``torch.load("cifar10.pt", map_location="cpu", weights_only=True)``,
which refuses anything else, and loads it into a fresh ``build_model()``: any missing or
unexpected key fails, so the architecture ``build_model`` returns must match the weights exactly.

Data conventions (what the grader feeds in):

* images: ``torch.float32`` tensors of shape (N, 3, 32, 32), RGB, values in [0, 1],
  channel-first. No mean/std normalisation is applied for you: **normalisation belongs
  inside the model** (e.g. a first layer that subtracts the per-channel mean and divides by
  the standard deviation).
* labels: ``torch.int64`` tensors of shape (N,), values 0..9 in the standard order
  airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck.

You may import only the Python standard library, NumPy and PyTorch (no torchvision).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def build_model() -> nn.Module:
    """Return a new, untrained network for CIFAR-10.

    The model maps float32 images of shape (N, 3, 32, 32) with values in [0, 1] to logits
    of shape (N, 10), dtype float32 (one unnormalised score per class; no softmax needed).
    It must work for any batch size N >= 1.

    What the grader checks:

    * Shape and dtype: ``model(x)`` is (N, 10) float32 for x of shape (N, 3, 32, 32).
    * Parameter budget: the numbers in your saved weights,
      ``sum(t.numel() for t in model.state_dict().values())`` (parameters and buffers such as
      BatchNorm's running statistics), must stay within the budget (5,000,000 by default).
    * Accuracy: your weights are loaded into ``build_model()``, the model is put in eval mode
      (``model.eval()``; BatchNorm uses its running statistics, dropout is off) and run on the
      CIFAR-10 test set without gradients. Points are awarded by accuracy tiers.
    * Self-contained: ``build_model()`` must not need data, files or a network
      connection; everything it needs lives in this file.

    Tips: a few conv -> BatchNorm -> ReLU/GELU blocks with max-pooling between them (a
    VGG- or ResNet-9-style net) is plenty; put the input normalisation inside the model.

    Returns:
        An ``nn.Module`` on the CPU, in float32.
    """
    raise NotImplementedError("build_model: define and return your CIFAR-10 network")


def train(model: nn.Module, train_loader: Iterable, epochs: int, device: str | torch.device) -> list[float]:
    """Train ``model`` in place and return the mean training loss of each epoch.

    Args:
        model: a network returned by ``build_model()``.
        train_loader: an iterable with a ``len`` (the number of batches per epoch) that can be
            iterated once per epoch; each item is ``(images, labels)`` with images float32
            (B, 3, 32, 32) in [0, 1] and labels int64 (B,). Iterating it again starts a new
            epoch. It does no augmentation: add your own (e.g. random crops with padding and
            horizontal flips, done on tensors) inside this function if you want it.
        epochs: the number of passes over ``train_loader``. Derive any learning-rate schedule
            from ``len(train_loader) * epochs`` steps.
        device: ``"cpu"``, ``"cuda"``, or a ``torch.device``; move the model and every batch
            there.

    Returns:
        A list of ``epochs`` floats: the mean training loss per example (or per batch) of
        each epoch, in order.

    What the grader checks: ``train`` is called on a small fake data set on the CPU for a few
    epochs and must finish within a time limit (the training step is timed) and make the
    loss go down. It must use only ``train_loader`` as data (no downloads, no files).
    Afterwards the model should be left in eval mode (``model.eval()``) and ready to predict.
    """
    raise NotImplementedError("train: write the training loop and return the per-epoch losses")
