"""Tests of reference/cifar10_loader.py on a small fake data set."""
from pathlib import Path

import numpy as np
import pytest
import torch

from reference.cifar10_data import load_cifar10, write_fake_cifar10
from reference.cifar10_loader import make_loader


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    """Parent directory of a fake cifar-10-batches-py: 100 training images, 30 test images."""
    root = tmp_path_factory.mktemp("fake_cifar10")
    write_fake_cifar10(root, n_train_per_batch=20, n_test=30, seed=0)
    return root


def test_make_loader_batches(fake_root: Path) -> None:
    images, labels = load_cifar10(fake_root, "train")
    loader = make_loader(images, labels, batch_size=32, shuffle=False)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [len(y) for _, y in batches] == [32, 32, 32, 4]
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (32, 3, 32, 32)
    assert y.dtype == torch.int64 and y.shape == (32,)
    torch.testing.assert_close(x, torch.from_numpy(images[:32]).float() / 255)
    all_x = torch.cat([b[0] for b in batches])
    assert 0.0 <= all_x.min() and all_x.max() <= 1.0
    np.testing.assert_array_equal(torch.cat([b[1] for b in batches]).numpy(), labels)


def test_make_loader_shuffle_is_seeded(fake_root: Path) -> None:
    images, labels = load_cifar10(fake_root, "train")

    def epoch_labels(loader) -> list[int]:
        return torch.cat([y for _, y in loader]).tolist()

    a = make_loader(images, labels, 16, shuffle=True, seed=1)
    b = make_loader(images, labels, 16, shuffle=True, seed=1)
    first = epoch_labels(a)
    assert first == epoch_labels(b)
    assert first != labels.tolist()
    assert sorted(first) == sorted(labels.tolist())
    assert epoch_labels(a) != first  # a new order every epoch


def test_make_loader_rejects_channel_last(fake_root: Path) -> None:
    images, labels = load_cifar10(fake_root, "test")
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        make_loader(images.transpose(0, 2, 3, 1), labels, 8, shuffle=False)
