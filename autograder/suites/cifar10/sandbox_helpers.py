"""Trusted helper code that the cifar10 suite runs INSIDE the sandbox, next to the student's model.

The model itself cannot leave the sandbox (it is arbitrary student code), so these functions
build, load, run and train it there and send back only plain arrays and numbers. Nothing here is
secret and nothing here decides a grade: the test labels never come here, and the suite computes
every verdict in the grader from the logits these functions return.
"""
import importlib
import os

import numpy as np
import torch


def _student():
    return importlib.import_module("cifar10")


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("the grader asked for CUDA, but torch in the sandbox sees no GPU")
    return torch.device(name)


def build_model(device: str = "cpu"):
    """The student's ``build_model()``, checked to be a module, moved to ``device``, eval mode."""
    model = _student().build_model()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"build_model() returned {type(model).__name__}, not a torch.nn.Module")
    return model.to(_device(device)).eval()


def load_weights(model, path: str, max_mb: int) -> int:
    """Load the student's state_dict safely (``weights_only``: no pickle code runs); returns bytes."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is not in the submission: train the model, then save it "
                                f"with torch.save(model.state_dict(), '{path}')")
    size = os.path.getsize(path)
    if size > max_mb * 2**20:
        raise ValueError(f"{path} is {size / 2**20:.0f} MiB; the limit is {max_mb} MiB")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or a pickle that wants to run code
        raise ValueError(f"{path} could not be loaded with torch.load(weights_only=True): "
                         f"{type(exc).__name__}: {str(exc)[:300]}. Save it with "
                         "torch.save(model.state_dict(), 'cifar10.pt').") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} holds {type(state).__name__}, not a state_dict of tensors: save "
                         "it with torch.save(model.state_dict(), 'cifar10.pt')")
    result = model.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f"missing keys {result.missing_keys[:5]}")
    if result.unexpected_keys:
        problems.append(f"unexpected keys {result.unexpected_keys[:5]}")
    if problems:
        raise ValueError(f"{path} does not match build_model(): " + "; ".join(problems)
                         + " (did build_model() change after you saved the weights?)")
    model.eval()
    return size


def predict(model, images: np.ndarray, device: str = "cpu") -> np.ndarray:
    """uint8 images (N, 3, 32, 32) -> the model's float32 logits (N, ...) as numpy, eval mode."""
    model.eval()
    x = torch.from_numpy(images).to(_device(device)).float().div_(255.0)
    with torch.inference_mode():
        out = model(x)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model returned {type(out).__name__}, not a tensor")
    out = out.detach().cpu()
    # numpy has no bfloat16; every other dtype is sent as it is, so the suite can check it.
    return (out.float() if out.dtype == torch.bfloat16 else out).numpy()


def build_seeded_model(device: str = "cpu"):
    """``build_model`` with torch's generator seeded first: the same initial weights every grade."""
    torch.manual_seed(0)
    return build_model(device)


def _loader(images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool):
    x = torch.from_numpy(images).float().div_(255.0)
    y = torch.from_numpy(labels).long()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size,
                                       shuffle=shuffle, generator=torch.Generator().manual_seed(0))


def train_model(model, images: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
                device: str = "cpu") -> list:
    """Run the student's ``train`` on (images, labels); return the losses it reports (a claim:
    the suite measures the loss itself, from logits)."""
    losses = _student().train(model.train(), _loader(images, labels, batch_size, True), epochs, device)
    if not isinstance(losses, (list, tuple)):
        raise TypeError(f"train() returned {type(losses).__name__}, not a list of losses")
    values = []
    for v in losses:
        try:  # floats, or one-element tensors
            values.append(float(v))
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"train() returned a list holding {type(v).__name__}; "
                            "expected one float (the mean loss) per epoch") from None
    return values


_STARTS: dict = {}  # id(model) -> its state before its first timed step


def train_step(model, images: np.ndarray, labels: np.ndarray, device: str = "cpu") -> np.ndarray:
    """One step of the student's ``train`` (one epoch over a loader holding this one batch),
    always from the model's state before its first step and with torch's generator seeded, so
    that the same batch gives the same step. Returns the logits (eval mode) of the batch's first
    8 images before and after the step, stacked: the grader checks that the step changed them,
    and that a timed step leaves what an untimed step on the same batch does."""
    start = _STARTS.setdefault(id(model), {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(start)
    before = predict(model, images[:8], device)
    torch.manual_seed(0)
    _student().train(model.train(), _loader(images, labels, len(images), False), 1, device)
    return np.stack([before, predict(model, images[:8], device)])
