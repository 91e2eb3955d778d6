import numpy as np
import pytest
import skimage.color
import skimage.data
import torch

from napari_colorgan.color import (
    gray_to_lightness,
    lab_to_rgb,
    lab_to_rgb_in_gamut,
    lightness_to_gray,
    rgb_to_lab,
)
from napari_colorgan.io.scaling import intensity_range, to_unit_range


@pytest.mark.parametrize(
    "name", ["astronaut", "coffee", "immunohistochemistry", "hubble_deep_field"]
)
def test_rgb_to_lab_matches_skimage(name):
    rgb = getattr(skimage.data, name)().astype(np.float32) / 255
    ours = rgb_to_lab(torch.from_numpy(rgb), channel_axis=-1).numpy()
    np.testing.assert_allclose(ours, skimage.color.rgb2lab(rgb), atol=0.01)


def test_lab_to_rgb_matches_skimage(astronaut):
    lab = skimage.color.rgb2lab(astronaut).astype(np.float32)
    ours = lab_to_rgb(torch.from_numpy(lab), channel_axis=-1).numpy()
    np.testing.assert_allclose(ours, skimage.color.lab2rgb(lab), atol=1e-4)


@pytest.mark.parametrize("channel_axis", [0, 1, -1, -3])
def test_channel_axis_and_batches(astronaut, channel_axis):
    batch = torch.from_numpy(
        np.stack([astronaut[:64, :64], astronaut[64:128, :64]])
    )  # (2, Y, X, 3)
    moved = batch.movedim(-1, channel_axis)
    lab = rgb_to_lab(moved, channel_axis=channel_axis)
    assert lab.shape == moved.shape and lab.dtype == torch.float32
    expected = rgb_to_lab(batch, channel_axis=-1).movedim(-1, channel_axis)
    torch.testing.assert_close(lab, expected)
    back = lab_to_rgb(lab, channel_axis=channel_axis)
    torch.testing.assert_close(back, moved, atol=1e-4, rtol=0)


def test_wrong_channel_count_names_the_shape():
    with pytest.raises(ValueError, match=r"3 channels.*\(2, 4, 4\)"):
        rgb_to_lab(torch.zeros(2, 4, 4))


def test_conversions_are_differentiable_everywhere():
    # black, white, gray and saturated pixels: where cube roots and powers have kinks
    rgb = torch.tensor([[0.0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 0.002, 1]])
    rgb.requires_grad_(True)
    lab = rgb_to_lab(rgb, channel_axis=-1)
    lab_to_rgb(lab, channel_axis=-1).sum().backward()
    assert torch.isfinite(rgb.grad).all()
    assert rgb.grad.abs().sum() > 0


def test_in_gamut_keeps_lightness_and_hue():
    L = torch.tensor([[[5.0, 50.0, 95.0, 60.0]]])  # (1, 1, 4): channel axis -3 needs (C, Y, X)
    ab = torch.tensor([[[100.0, -90.0, 80.0, 0.0]], [[100.0, 60.0, -80.0, 0.0]]])
    rgb = lab_to_rgb_in_gamut(L, ab)
    assert rgb.min() >= 0 and rgb.max() <= 1
    lab = rgb_to_lab(rgb)
    torch.testing.assert_close(lab[:1], L, atol=0.02, rtol=0)
    # hue angle unchanged where chroma remains
    hue_in = torch.atan2(ab[1], ab[0])
    hue_out = torch.atan2(lab[2], lab[1])
    chroma = lab[1:].norm(dim=0)
    assert torch.allclose(hue_in[chroma > 5], hue_out[chroma > 5], atol=0.05)


def test_gray_lightness_round_trip():
    g = torch.linspace(0, 1, 1001)
    torch.testing.assert_close(lightness_to_gray(gray_to_lightness(g)), g, atol=1e-5, rtol=0)
    rgb = torch.stack([g, g, g], dim=-1)
    torch.testing.assert_close(gray_to_lightness(g), rgb_to_lab(rgb, channel_axis=-1)[..., 0])


def test_uint8_keeps_fixed_range(camera):
    assert intensity_range(camera) == (0.0, 255.0, False)


def test_uint16_uses_global_percentiles():
    rng = np.random.default_rng(0)
    image = rng.integers(1000, 3000, size=(2, 64, 64), dtype=np.uint16)
    image[1, :32] += 20000  # the second plane is brighter: a per-plane range would hide it
    low, high, _ = intensity_range(image)
    assert (low, high) == pytest.approx(np.percentile(image, (0.1, 99.9)), rel=1e-12)
    first = to_unit_range(image[0], low, high)
    assert first.max() < 0.15  # the dim plane stays dim


def test_auto_reads_what_it_stretches_as_light_for_a_model_that_says_so(camera):
    counts = camera.astype(np.uint16) * 16 + 200  # a 12-bit camera with a dark offset
    light = intensity_range(counts, linear_cameras=True)
    assert light == (*intensity_range(counts, "linear")[:2], True)
    assert not intensity_range(counts, "percentiles", linear_cameras=True).linear
    # what auto does not stretch keeps its reading: uint8, floats in [0, 1]
    assert intensity_range(camera, linear_cameras=True) == (0.0, 255.0, False)
    unit = camera.astype(np.float32) / 255
    assert intensity_range(unit, linear_cameras=True) == (0.0, 1.0, False)


def test_float_percentiles_ignore_nonfinite():
    image = np.linspace(0, 1, 10000, dtype=np.float32).reshape(100, 100)
    clean = intensity_range(image)
    image[:5] = np.nan
    image[5, :3] = np.inf
    low, high, _ = intensity_range(image)
    assert np.isfinite([low, high]).all() and high > low
    assert abs(high - clean[1]) < 1e-3
    out = to_unit_range(image, low, high)
    assert (out[:5] == 0).all() and (out[5, :3] == 1).all()


def test_explicit_and_none_ranges():
    image = np.array([[0.0, 0.5, 2.0]], dtype=np.float64)
    assert intensity_range(image, "none") == (0.0, 1.0, False)
    assert intensity_range(image, (0, 2)) == (0.0, 2.0, False)
    np.testing.assert_allclose(to_unit_range(image, 0, 2), [[0, 0.25, 1]])
    with pytest.raises(ValueError, match="high > low"):
        intensity_range(image, (2, 1))
    with pytest.raises(ValueError, match="normalize must be"):
        intensity_range(image, "percentile")


def test_to_unit_range_does_not_modify_input():
    image = np.array([[np.nan, 3.0]], dtype=np.float32)
    copy = image.copy()
    to_unit_range(image, 0, 4)
    np.testing.assert_array_equal(image, copy)
