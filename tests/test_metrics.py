import numpy as np
import pytest

from napari_colorgan import metrics
from napari_colorgan.train.evaluate import gray_baseline


def test_identical_images(astronaut):
    m = metrics.evaluate(astronaut, astronaut)
    assert m["delta_e2000"] == pytest.approx(0, abs=1e-6)
    assert m["psnr"] == np.inf and m["ssim"] == pytest.approx(1)
    assert m["colorfulness_ratio"] == pytest.approx(1)


def test_gray_baseline_has_no_colour_and_a_real_error(astronaut):
    m = metrics.evaluate(gray_baseline(astronaut), astronaut)
    assert m["colorfulness"] == pytest.approx(0, abs=1e-3)
    assert 5 < m["delta_e2000"] < 40 and 10 < m["psnr"] < 40


def test_colorfulness_orders_saturation(astronaut):
    faded = 0.5 * astronaut + 0.5 * astronaut.mean(axis=-1, keepdims=True)
    assert metrics.colorfulness(faded) < metrics.colorfulness(astronaut)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="one shape"):
        metrics.evaluate(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
