"""Batches of in-memory CIFAR-10 arrays (from ``cifar10_data.load_cifar10``) for training."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from reference.cifar10_data import IMAGE_SHAPE


def make_loader(images_uint8: np.ndarray, labels: np.ndarray, batch_size: int,
                shuffle: bool, seed: int = 0) -> DataLoader:
    """A DataLoader over in-memory CIFAR-10 arrays.

    Args:
        images_uint8: (N, 3, 32, 32) uint8, as returned by ``load_cifar10``.
        labels: (N,) integer labels.
        batch_size: images per batch; the last batch may be smaller.
        shuffle: reshuffle every epoch (with a generator seeded by ``seed``).
        seed: seed of the shuffling generator.

    Yields:
        ``(images, labels)``: float32 (B, 3, 32, 32) in [0, 1] and int64 (B,).

    Whole batches are fetched with one tensor index (a BatchSampler with ``batch_size=None``)
    instead of B single-item fetches and a stack, and converted to float per batch so the
    data set stays uint8 in memory (150 MB rather than 600 MB for the training set).
    """
    if images_uint8.dtype != np.uint8 or images_uint8.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"images must be uint8 of shape (N, 3, 32, 32), got {images_uint8.dtype} {images_uint8.shape}"
        )
    if len(labels) != len(images_uint8):
        raise ValueError(f"{len(images_uint8)} images but {len(labels)} labels")
    dataset = TensorDataset(torch.from_numpy(np.ascontiguousarray(images_uint8)),
                            torch.as_tensor(labels, dtype=torch.int64))
    if shuffle:
        generator = torch.Generator().manual_seed(seed)
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    batches = BatchSampler(sampler, batch_size=batch_size, drop_last=False)
    return DataLoader(dataset, sampler=batches, batch_size=None, collate_fn=_to_float_batch)


def _to_float_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 (B, 3, 32, 32), int64 (B,)) -> (float32 in [0, 1], int64)."""
    images, labels = batch
    return images.float().div_(255.0), labels
