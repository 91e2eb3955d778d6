"""The public ``colorize`` with the shipped model, on real images."""

import numpy as np
import pytest
import skimage.color
import skimage.data
import torch

import napari_colorgan as ncg
from napari_colorgan.color import gray_to_lightness


@pytest.fixture(scope="module")
def general():
    return ncg.load_model("general", device="cpu")


def test_2d_uint8_keeps_lightness(general, ihc_heldout):
    gray = np.rint(ncg.to_gray(ihc_heldout) * 255).astype(np.uint8)
    before = gray.copy()
    rgb = ncg.colorize(gray, general)
    assert rgb.shape == (*gray.shape, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_array_equal(gray, before)  # the caller's array is untouched
    L_in = gray_to_lightness(torch.from_numpy(gray / 255.0)).numpy()
    assert np.abs(skimage.color.rgb2lab(rgb)[..., 0] - L_in).max() < 0.05
    assert skimage.color.rgb2lab(rgb)[..., 1:].std() > 1  # colour, not gray


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32, np.float64])
def test_any_dtype_is_normalised_globally(general, dtype):
    moon = skimage.data.moon()[:128, :160].astype(np.float64)
    image = (moon * 37 + 5).astype(dtype)  # a different range for every dtype
    rgb = ncg.colorize(image, general)
    assert rgb.shape == (128, 160, 3) and np.isfinite(rgb).all()
    # percentile normalisation: the darkest ~0.1 % are black, the brightest white
    L = skimage.color.rgb2lab(rgb)[..., 0]
    assert L.min() < 1 and L.max() > 99


def test_stack_equals_planes(general):
    cam = skimage.data.camera()[::4, ::4]
    stack = np.stack([cam, cam[::-1], cam[:, ::-1]])[None]  # (1, 3, Y, X)
    rgb = ncg.colorize(stack, general, tile_size=64)
    assert rgb.shape == (*stack.shape, 3)
    for z in range(3):
        np.testing.assert_allclose(rgb[0, z], ncg.colorize(stack[0, z], general), atol=1 / 255)


def test_nan_policy(general):
    image = skimage.data.moon()[:64, :64].astype(np.float32)
    image[:8] = np.nan
    with pytest.warns(UserWarning, match="512 NaN/inf pixels"):
        rgb = ncg.colorize(image, general)
    assert np.isfinite(rgb).all()
    assert np.isnan(image[:8]).all()  # input untouched
    np.testing.assert_allclose(rgb[:4, :4], 0, atol=1e-4)  # NaN rendered black


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros(10), r"shape \(10,\)"),
        (np.zeros((0, 5)), "empty"),
        (np.zeros((8, 8), bool), "boolean"),
        (np.zeros((8, 8), complex), "complex"),
        (np.zeros((64, 64, 3), np.uint8), "looks like an RGB"),
        (np.zeros((64, 64, 4), np.uint8), "looks like an RGB"),
    ],
)
def test_bad_input_names_the_problem(general, image, message):
    with pytest.raises(ValueError, match=message):
        ncg.colorize(image, general)


def test_rgb_converts_with_to_gray_and_keeps_lightness(astronaut):
    gray = ncg.to_gray(astronaut)
    lab = skimage.color.rgb2lab(astronaut)
    L_gray = gray_to_lightness(torch.from_numpy(gray)).numpy()
    np.testing.assert_allclose(L_gray, lab[..., 0], atol=0.01)


def test_shipped_models_beat_gray_on_their_heldout_parts(general, ihc_heldout):
    """The shipped models are really trained: closer to the truth than leaving it gray
    (`general` on the retina's held-out half, `histology` on the IHC's)."""
    from napari_colorgan.train.evaluate import evaluate_model

    retina = skimage.data.retina()[705:, 400:912].astype(np.float32) / 255
    for model, truth in ((general, retina), ("histology", ihc_heldout)):
        result = evaluate_model(model, {"truth": truth})["truth"]
        assert result["model"]["delta_e2000"] < result["gray"]["delta_e2000"]
        assert result["model"]["colorfulness_ratio"] > 0.3
