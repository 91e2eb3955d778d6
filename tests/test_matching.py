"""Lightness matching: one monotone lookup per image, invariant to the gray's tone curve."""

import dask.array as da
import numpy as np
import pytest
import skimage.data
import torch

import napari_colorgan as ncg
from napari_colorgan.color import gray_to_lightness
from napari_colorgan.engine.context import image_code
from napari_colorgan.grays import make_gray
from napari_colorgan.io.scaling import intensity_range, to_unit_range
from napari_colorgan.matching import QUANTILES, apply, image_lookup, lookup, pooled_quantiles
from napari_colorgan.metrics import chroma_delta_e2000
from napari_colorgan.models.generator import SIZES, GeneratorConfig, with_matching
from napari_colorgan.models.registry import WeightsError, load_model, save_weights
from napari_colorgan.train.evaluate import gray_baseline


@pytest.fixture(scope="module")
def hubble():
    """The astronomy model's held-out part of the Hubble field, as colour in [0, 1]."""
    rgb = skimage.data.hubble_deep_field()
    return rgb[:, int(0.6 * rgb.shape[1]) :].astype(np.float32) / 255


@pytest.fixture(scope="module")
def matched(random_generator):
    reference = np.linspace(0, 100, QUANTILES) ** 1.2 / 100**0.2  # not the identity
    return with_matching(random_generator, reference).eval()


def _lightness(gray):
    gray = to_unit_range(gray, *intensity_range(gray))
    return gray_to_lightness(torch.from_numpy(gray))


def _matched_lightness(gray, reference):
    xp, fp = image_lookup(gray, intensity_range(gray), reference)
    return apply(_lightness(gray), torch.from_numpy(xp), torch.from_numpy(fp)).numpy()


@pytest.mark.parametrize("formation", ["linear12", "linear16", "gamma0.6", "gamma1.6"])
def test_tone_curves_give_the_same_matched_lightness(formation):
    ihc = skimage.data.immunohistochemistry()[256:].astype(np.float32) / 255
    reference = pooled_quantiles([np.linspace(0, 100, 1000)], [1.0])
    exact, other = make_gray(ihc, "lstar"), make_gray(ihc, formation)
    assert np.abs(_lightness(exact) - _lightness(other)).mean() > 3  # unmatched: far apart
    diff = np.abs(_matched_lightness(exact, reference) - _matched_lightness(other, reference))
    assert diff.mean() < 0.3


def test_lookup_sends_a_shared_value_to_the_middle_of_its_quantiles():
    L = np.r_[np.linspace(0, 50, 700), np.full(300, 100.0)]  # 30 % saturated
    reference = np.linspace(0, 100, QUANTILES)
    xp, fp = lookup(L, reference)
    assert np.all(np.diff(xp) > 0)
    assert fp[-1] == pytest.approx(85, abs=0.2)  # the middle of the top 30 %
    out = apply(torch.tensor([0.0, 25.0, 100.0, 120.0]), torch.from_numpy(xp), torch.from_numpy(fp))
    assert out[0] == pytest.approx(0, abs=0.1) and out[1] == pytest.approx(25 / 50 * 70, abs=0.5)
    assert out[2] == out[3] == pytest.approx(fp[-1])


def test_a_constant_image_has_a_one_point_lookup():
    table = image_lookup(np.full((8, 8), 7, np.uint16), (0.0, 1.0), np.linspace(0, 100, QUANTILES))
    assert table.shape == (2, QUANTILES) and np.ptp(table[0]) == 0
    L = apply(torch.tensor([0.0, 50.0]), *torch.from_numpy(table))
    assert torch.all(L == float(table[1, 0]))


def test_matched_model_tiles_lazy_and_whole_agree(matched):
    gray = make_gray(skimage.data.astronaut()[:200, :232].astype(np.float32) / 255, "linear12")
    whole = ncg.colorize(gray, matched, precision="float32")
    tiled = ncg.colorize(gray, matched, tile_size=64, precision="float32")
    lazy = ncg.colorize(da.from_array(gray, chunks=(70, 90)), matched, precision="float32")
    np.testing.assert_allclose(tiled, whole, atol=1e-5)  # float rounding of other tile shapes
    np.testing.assert_allclose(np.asarray(lazy), whole, atol=1e-5)
    # the lookup is of the whole image: the same pixels in a brighter image are coloured
    # otherwise (a tile-local statistic would not see the difference)
    brighter = gray.copy()
    brighter[:, 116:] = np.clip(brighter[:, 116:].astype(np.int64) * 2, 0, 4095).astype(gray.dtype)
    other = ncg.colorize(brighter, matched, precision="float32")
    assert np.abs(other[:, :100] - whole[:, :100]).max() > 1e-3


def test_image_code_of_a_matched_model_is_its_lookup(matched):
    gray = make_gray(skimage.data.astronaut()[:64, :64].astype(np.float32) / 255, "luma")
    code = image_code(matched, gray, (0.0, 255.0))
    assert code.shape == (2, QUANTILES)
    assert np.all(np.diff(code[0]) >= 0) and np.all(np.diff(code[1]) >= 0)


def test_matched_weights_round_trip_and_a_bad_reference_is_refused(matched, tmp_path):
    path = save_weights(tmp_path / "m.safetensors", matched)
    loaded = load_model(path, "cpu")
    assert loaded.arch.matched
    torch.testing.assert_close(loaded.reference, matched.reference)
    bad = with_matching(matched, np.linspace(100, 0, QUANTILES))  # decreasing
    with pytest.raises(WeightsError, match="reference lightness"):
        load_model(save_weights(tmp_path / "bad.safetensors", bad), "cpu")


def test_matched_and_context_are_exclusive():
    with pytest.raises(ValueError, match="matched"):
        GeneratorConfig.from_dict({**SIZES["lite"].to_dict(), "matched": True, "context": 8})


def test_training_a_matched_model_fills_its_reference(tmp_path):
    from napari_colorgan.train.config import TrainConfig
    from napari_colorgan.train.trainer import Trainer

    rgb = skimage.data.immunohistochemistry()[:192, :192].astype(np.float32) / 255
    config = TrainConfig(steps=2, warmup=0, batch=2, patch=64, match=True, threads=1,
                         augment={"formations": 1.0})
    trainer = Trainer(config, [rgb])
    reference = trainer.G.reference.numpy()
    L = ncg.color.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0, 0].numpy()
    np.testing.assert_allclose(reference[[0, 512, -1]], np.quantile(L, [0, 0.5, 1]), atol=0.5)
    # every input is matched: it lies within the reference, whatever formation made it
    inputs = trainer.sampler.batch(0, 4).inputs
    assert inputs.min() >= reference[0] - 1e-3 and inputs.max() <= reference[-1] + 1e-3
    trainer.train_step()
    out = trainer.save(tmp_path / "m.safetensors")
    assert load_model(out, "cpu").arch.matched


def test_shipped_astronomy_colour_survives_the_tone_curve(hubble):
    """The shipped matched astronomy model on its held-out field, under grays made in ways
    it was never scored on while it was made (docs/evaluation.md: "Matching")."""
    net = load_model("astronomy", "cpu")
    assert net.arch.matched
    gray = chroma_delta_e2000(gray_baseline(hubble), hubble)
    exact = chroma_delta_e2000(ncg.colorize(make_gray(hubble, "lstar"), net), hubble)
    for formation in ("linear14", "gamma0.7", "gamma1.4", "camera16"):
        score = chroma_delta_e2000(ncg.colorize(make_gray(hubble, formation, seed=3), net), hubble)
        assert score <= 1.15 * exact + 0.2 and score < gray, formation


def test_a_matched_output_records_its_lookup_and_equals_colorize(matched, tmp_path):
    import zarr

    gray = make_gray(skimage.data.astronaut()[:96, :128].astype(np.float32) / 255, "linear16")
    out = ncg.colorize_to_file(gray, tmp_path / "m.ome.zarr", matched, dtype="float32",
                               precision="float32")
    group = zarr.open_group(str(out), mode="r")
    assert len(group.attrs["colorgan"]["lookup"]) == 32  # a digest, not 2 x 1025 numbers
    stored = np.moveaxis(np.asarray(group["0"]), 0, -1)
    np.testing.assert_allclose(stored, ncg.colorize(gray, matched, precision="float32"), atol=1e-5)


def test_a_plane_of_a_stack_gets_the_colours_it_has_in_the_whole_stack(matched):
    from napari_colorgan.engine.pipeline import colorize_with
    from napari_colorgan.engine.settings import TileSettings

    plane = make_gray(skimage.data.astronaut()[:96, :96].astype(np.float32) / 255, "linear12")
    stack = np.stack([plane // 4, plane, np.minimum(plane.astype(np.int64) * 2, 4095)])
    stack = stack.astype(np.uint16)
    tiles = TileSettings(precision="float32")
    intensity = intensity_range(stack)
    whole = colorize_with(stack, matched, tiles, normalize=intensity)
    alone = colorize_with(stack[1], matched, tiles, normalize=intensity)
    part = colorize_with(stack[1], matched, tiles, normalize=intensity, whole=stack)
    np.testing.assert_allclose(part, whole[1], atol=1e-5)
    assert np.abs(alone - whole[1]).max() > 1e-3  # its own lookup would differ


def test_the_export_of_a_matched_model_takes_matched_gray_and_says_so(matched):
    """The graph has no whole-image lookup in it: a block gives the pixels of the whole
    (beyond the halo), as bioimage.io's blockwise runners need; its description says
    that the gray must be matched first."""
    from napari_colorgan.export.bioimageio import _documentation
    from napari_colorgan.export.graph import GrayToRGB

    rgb = skimage.data.astronaut()[:256, :256].astype(np.float32) / 255
    gray = torch.from_numpy(make_gray(rgb, "lstar"))[None, None]
    graph = GrayToRGB(matched).eval()
    with torch.inference_mode():
        whole, block = graph(gray), graph(gray[..., :160, :160])
    keep = 160 - matched.halo()
    assert keep >= 64
    torch.testing.assert_close(block[..., :keep, :keep], whole[..., :keep, :keep],
                               atol=1e-4, rtol=0)
    text = _documentation(matched, "m")
    assert "*matched* model" in text and "`napari_colorgan.reference`" in text
