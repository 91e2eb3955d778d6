"""Gray formations, the chroma-only score, and colour that survives how the gray was made."""

import numpy as np
import pytest
import skimage.data
import torch

import napari_colorgan as ncg
from napari_colorgan.color import rgb_to_lab
from napari_colorgan.grays import FORMATIONS, make_gray, random_grays
from napari_colorgan.metrics import chroma_delta_e2000


@pytest.fixture(scope="module")
def ihc_bottom() -> np.ndarray:
    return skimage.data.immunohistochemistry()[256:].astype(np.float32) / 255


@pytest.mark.parametrize("formation", FORMATIONS)
def test_each_formation_is_a_gray_a_tool_would_write(ihc_bottom, formation):
    gray = make_gray(ihc_bottom, formation)
    assert gray.shape == ihc_bottom.shape[:2]
    expected = {"lstar": np.float32, "gamma": np.float32, "luma": np.uint8}
    assert gray.dtype == expected.get(formation.rstrip("0123456789."), np.uint16)
    # every formation is (nearly) monotone in the true lightness
    L = ncg.to_gray(ihc_bottom).ravel()
    rank = np.corrcoef(np.argsort(np.argsort(L)), np.argsort(np.argsort(gray.ravel())))[0, 1]
    assert rank > 0.95


def test_lstar_formation_is_to_gray_and_cameras_use_their_bits(ihc_bottom):
    np.testing.assert_array_equal(make_gray(ihc_bottom, "lstar"), ncg.to_gray(ihc_bottom))
    assert make_gray(ihc_bottom, "linear12").max() < 4096
    assert make_gray(ihc_bottom, "linear16").max() > 4096
    noisy = make_gray(ihc_bottom, "camera12", seed=1)
    np.testing.assert_array_equal(noisy, make_gray(ihc_bottom, "camera12", seed=1))
    assert (noisy != make_gray(ihc_bottom, "camera12", seed=2)).any()


@pytest.mark.parametrize("bad", ["srgb", "linear7", "gamma", "gamma99", "luma2"])
def test_unknown_formation_is_named(ihc_bottom, bad):
    with pytest.raises(ValueError, match="formation"):
        make_gray(ihc_bottom, bad)


def test_random_grays_reproducible_and_keep_a_share_exact(ihc_bottom):
    rgb = torch.from_numpy(ihc_bottom[:64, :64]).permute(2, 0, 1)[None].repeat(200, 1, 1, 1)
    L = rgb_to_lab(rgb)[:, :1]
    a = random_grays(rgb, L, torch.Generator().manual_seed(3), lstar_share=0.4)
    b = random_grays(rgb, L, torch.Generator().manual_seed(3), lstar_share=0.4)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    exact = ((a - L).abs().amax((1, 2, 3)) == 0).float().mean()
    assert 0.3 < float(exact) < 0.5
    assert float(a.min()) >= 0 and float(a.max()) <= 100
    assert float((a - L).abs().mean()) > 1  # the rest differ from L*


def test_chroma_score_ignores_lightness(ihc_bottom):
    truth = ihc_bottom
    darker = np.clip(truth * 0.8, 0, 1)  # other lightness, (almost) the same hue
    assert chroma_delta_e2000(truth, truth) == 0
    assert chroma_delta_e2000(darker, truth) < ncg.metrics.evaluate(darker, truth)["delta_e2000"]
    gray = np.repeat(ncg.to_gray(truth)[..., None], 3, -1)
    scores = ncg.metrics.evaluate(gray, truth)
    assert scores["delta_e2000_chroma"] == pytest.approx(scores["delta_e2000"], abs=1e-3)


def test_evaluate_scores_a_model_under_a_camera_gray(ihc_bottom):
    from napari_colorgan.train.evaluate import evaluate_model

    crop = {"ihc": ihc_bottom[:128, :256]}
    exact = evaluate_model("histology", crop)["ihc"]["model"]
    camera = evaluate_model("histology", crop, gray="camera12")["ihc"]["model"]
    # under L* the input's lightness is the truth's: the two scores coincide
    assert exact["delta_e2000_chroma"] == pytest.approx(exact["delta_e2000"], abs=1e-3)
    # a camera gray keeps the camera's lightness, not the truth's
    assert camera["delta_e2000"] > camera["delta_e2000_chroma"]


@pytest.mark.parametrize("formation", ["linear16", "camera12", "gamma0.6", "luma"])
def test_histology_colours_a_camera_gray_of_held_out_ihc(ihc_bottom, formation):
    """The stage-1 model, trained on L* only, scored 20.1 / 21.5 / 11.6 here; read as
    they come, the stage-3 one 8.5 / 9.2 under the cameras; gray scores 7.75."""
    from napari_colorgan.train.evaluate import gray_baseline

    gray = make_gray(ihc_bottom, formation)
    score = chroma_delta_e2000(ncg.colorize(gray, "histology"), ihc_bottom)
    exact = chroma_delta_e2000(ncg.colorize(ncg.to_gray(ihc_bottom), "histology"), ihc_bottom)
    assert score < chroma_delta_e2000(gray_baseline(ihc_bottom), ihc_bottom) - 1.5
    assert exact < 4.6


@pytest.mark.parametrize("model, reads_light", [("histology", True), ("general", False)])
def test_auto_reads_a_camera_as_the_model_reads_its_domain(ihc_bottom, model, reads_light):
    """histology's cameras are brightfield (a white background): by default their
    counts are light; general's domains include fundus and fluorescence, whose
    brightest pixel is not white, so it reads them as an encoded gray."""
    counts = make_gray(ihc_bottom[:96, :160], "camera12")
    auto = ncg.colorize(counts, model)
    linear = ncg.colorize(counts, model, normalize="linear")
    encoded = ncg.colorize(counts, model, normalize="percentiles")
    np.testing.assert_array_equal(auto, linear if reads_light else encoded)
    assert np.abs(linear - encoded).max() > 0.1
    luma = make_gray(ihc_bottom[:96, :160], "luma")  # uint8: its own range, as it is
    np.testing.assert_array_equal(ncg.colorize(luma, model), ncg.colorize(luma / 255, model))


def test_astronomy_colour_survives_tone_curves():
    """Held-out Hubble: within 1.15 x + 0.2 of the L* score under every formation."""
    rgb = skimage.data.hubble_deep_field()[:, 600:].astype(np.float32) / 255  # held out
    scores = {
        f: chroma_delta_e2000(ncg.colorize(make_gray(rgb, f), "astronomy"), rgb)
        for f in FORMATIONS
    }
    assert max(scores.values()) <= 1.15 * scores["lstar"] + 0.2, scores


@pytest.mark.parametrize("formation", ["linear12", "camera16"])
def test_a_camera_gray_declared_linear_is_read_as_the_lightness_it_stands_for(
    ihc_bottom, formation
):
    """``normalize="linear"``: the stretched counts, sRGB-encoded, are the network's gray;
    on held-out IHC that beats both reading them as an encoded gray and no colour at all."""
    from napari_colorgan.io.scaling import intensity_range, to_unit_range
    from napari_colorgan.train.evaluate import gray_baseline

    counts = make_gray(ihc_bottom, formation)
    low, high, linear = intensity_range(counts, "linear")
    assert linear and (low, high) == intensity_range(counts, "percentiles")[:2]
    light = to_unit_range(counts, low, high)
    encoded = np.where(light > 0.0031308, 1.055 * light ** (1 / 2.4) - 0.055, 12.92 * light)
    exact = {"model": "histology", "precision": "float32"}
    declared = ncg.colorize(counts, normalize="linear", **exact)
    as_gray = ncg.colorize(encoded.astype(np.float32), normalize="none", **exact)
    np.testing.assert_allclose(declared, as_gray, atol=1e-5)
    # light from the camera is darker than lightness: the mid-tones come up
    assert np.median(ncg.to_gray(declared)) > np.median(light) + 0.1
    score = chroma_delta_e2000(declared, ihc_bottom)
    encoded = ncg.colorize(counts, "histology", normalize="percentiles")
    assert score < chroma_delta_e2000(encoded, ihc_bottom)
    assert score < chroma_delta_e2000(gray_baseline(ihc_bottom), ihc_bottom)


def test_linear_reading_is_one_mapping_for_tiles_chunks_and_the_whole(ihc_bottom):
    import dask.array as da

    counts = make_gray(ihc_bottom, "linear16")
    whole = ncg.colorize(counts, "histology", normalize="linear")
    tiled = ncg.colorize(counts, "histology", normalize="linear", tile_size=128)
    lazy = ncg.colorize(da.from_array(counts, chunks=(96, 160)), "histology", normalize="linear")
    np.testing.assert_allclose(tiled, whole, atol=2e-5)
    np.testing.assert_allclose(lazy.compute(), whole, atol=2e-5)
