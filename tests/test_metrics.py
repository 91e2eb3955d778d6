import numpy as np
import pytest
import skimage.data

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


def _with_chroma(rgb, scale=1.0, shift=(0.0, 0.0)):
    """``rgb`` at its own lightness with a*b* scaled, then shifted."""
    from skimage.color import lab2rgb, rgb2lab

    lab = rgb2lab(rgb)
    lab[..., 1:] = lab[..., 1:] * scale + np.asarray(shift)
    return lab2rgb(lab)


def test_ab_histogram_distance_is_zero_for_the_same_colours(astronaut):
    assert metrics.ab_histogram_distance(astronaut, astronaut) == 0
    # the same pixels in another order: the same histogram
    assert metrics.ab_histogram_distance(astronaut[::-1, ::-1], astronaut) == 0


def test_ab_histogram_distance_measures_a_chroma_shift_in_lab_units(astronaut):
    from skimage.color import rgb2lab

    crop = astronaut[:256, 256:]
    shifts = [
        metrics.ab_histogram_distance(_with_chroma(crop, shift=(0.6 * d, -0.8 * d)), crop)
        for d in (4, 8, 16)
    ]
    # a uniform shift of length d scores about d (less where sRGB clips the shifted colour)
    assert shifts == sorted(shifts)
    for d, distance in zip((4, 8, 16), shifts):
        assert 0.8 * d < distance <= 1.05 * d
    # leaving the image gray costs about the truth's mean chroma
    lab = rgb2lab(crop)
    chroma = np.hypot(lab[..., 1], lab[..., 2]).mean()
    gray = metrics.ab_histogram_distance(gray_baseline(crop), crop)
    assert gray == pytest.approx(chroma, rel=0.1)


def test_evaluate_reports_the_histogram_distance_and_opt_in_two_sample(astronaut):
    crop = astronaut[:128, :256]
    m = metrics.evaluate(gray_baseline(crop), crop)
    assert m["ab_hist_distance"] > 5 and "two_sample_accuracy" not in m
    m = metrics.evaluate(gray_baseline(crop), crop, two_sample=True)
    assert m["two_sample_accuracy"] > 0.8 and m["two_sample_accuracy_sd"] >= 0


@pytest.fixture(scope="module")
def coffee():
    return skimage.data.coffee().astype(np.float32) / 255


def test_two_sample_cannot_tell_the_truth_from_itself(coffee):
    result = metrics.two_sample_accuracy(coffee, coffee, seeds=(0, 1), steps=20)
    assert result["accuracies"] == [0.5, 0.5] and result["accuracy_sd"] == 0


def test_two_sample_tells_wrong_chroma_at_the_right_lightness(coffee):
    desaturated = metrics.two_sample_accuracy(_with_chroma(coffee, 0.3), coffee, seeds=(0,))
    complementary = metrics.two_sample_accuracy(_with_chroma(coffee, -1.0), coffee, seeds=(0,))
    assert desaturated["accuracy"] > 0.8 and complementary["accuracy"] > 0.8


def test_two_sample_is_deterministic_per_seed(coffee):
    fake = _with_chroma(coffee, 0.8)
    runs = [
        metrics.two_sample_accuracy(fake, coffee, seeds=s, steps=30) for s in ((0,), (0,), (1,))
    ]
    assert runs[0] == runs[1]
    assert runs[0]["accuracies"] != runs[2]["accuracies"]


def test_two_sample_refuses_an_image_too_small_for_its_patches():
    with pytest.raises(ValueError, match="32x32 patch"):
        metrics.two_sample_accuracy(np.zeros((40, 40, 3)), np.zeros((40, 40, 3)))
