"""Visible checks of the CIFAR-10 part (they ship to students: no reference/ here)."""
import numpy as np
import pytest


@pytest.mark.visibility("visible")
@pytest.mark.points(1)
@pytest.mark.hint("build_model() must map float32 images (N, 3, 32, 32) in [0, 1] to logits (N, 10)")
def test_model_maps_images_to_logits(model_runner, device):
    """build_model: (N, 3, 32, 32) images in [0, 1] give float32 logits of shape (N, 10)"""
    model = model_runner.build_model(device)
    images = np.random.default_rng(0).integers(0, 256, size=(4, 3, 32, 32), dtype=np.uint8)
    logits = model_runner.predict(model, images, device)
    assert isinstance(logits, np.ndarray), f"the model returned {type(logits).__name__}, not a tensor"
    assert logits.shape == (4, 10), f"4 images gave logits of shape {logits.shape}, expected (4, 10)"
    assert logits.dtype == np.float32, f"the logits have dtype {logits.dtype}, expected float32"
    assert np.isfinite(logits).all(), "the logits contain NaN or inf"
