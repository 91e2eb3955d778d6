"""Honest defaults: to_gray output keeps its lightness, guidance picks the guided model."""

import dask.array as da
import numpy as np
import pytest
from skimage.color import rgb2lab

import napari_colorgan as ncg
from napari_colorgan.io.scaling import intensity_range


def test_to_gray_then_colorize_keeps_the_lightness(ihc_heldout):
    """The README's own sequence, with the default normalize='auto'."""
    gray = ncg.to_gray(ihc_heldout)
    assert gray.dtype == np.float32 and 0 <= gray.min() and gray.max() <= 1
    rgb = ncg.colorize(gray, "histology", device="cpu")
    L_in, L_out = rgb2lab(ihc_heldout)[..., 0], rgb2lab(rgb)[..., 0]
    assert np.abs(L_out - L_in).max() < 0.5
    stretched = ncg.colorize(gray, "histology", device="cpu", normalize="percentiles")
    assert np.abs(rgb2lab(stretched)[..., 0] - L_in).mean() > 2  # what 'auto' used to do


def test_auto_range_by_dtype_and_values(ihc_heldout):
    gray = ncg.to_gray(ihc_heldout)
    assert intensity_range(gray) == (0.0, 1.0, False)
    assert intensity_range(da.from_array(gray, chunks=64)) == (0.0, 1.0, False)
    counts = gray * 4000 - 20  # float counts outside [0, 1]: stretched
    low, high, _ = intensity_range(counts)
    np.testing.assert_allclose((low, high), np.percentile(counts, (0.1, 99.9)))
    with_nan = gray.copy()
    with_nan[:5] = np.nan
    assert intensity_range(with_nan) == (0.0, 1.0, False)
    with pytest.raises(ValueError, match="'percentiles'"):
        intensity_range(gray, "stretch")


def test_guidance_without_a_model_takes_guided(ihc_heldout):
    gray = ncg.to_gray(ihc_heldout)[:64, :96]
    hints = [((30, 40), (0.8, 0.2, 0.3))]
    np.testing.assert_array_equal(
        ncg.colorize(gray, hints=hints, device="cpu"),
        ncg.colorize(gray, "guided", hints=hints, device="cpu"),
    )
    np.testing.assert_array_equal(
        ncg.colorize(gray, device="cpu"), ncg.colorize(gray, "general", device="cpu")
    )
    with pytest.raises(ValueError, match="guided model"):
        ncg.colorize(gray, "general", hints=hints, device="cpu")


def test_models_command_prints_held_out_metrics(capsys):
    from napari_colorgan.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ncg.list_models():
        rows = out.split(f"\n{name} (", 1)[1].splitlines()[1:]
        assert rows and rows[0].startswith("  ") and len(rows[0].split()) >= 5  # a held-out row
    from napari_colorgan.models.registry import read_metadata, resolve

    histology = out.split("\nhistology (", 1)[1]
    scores = read_metadata(resolve("histology"))["provenance"]["heldout_metrics"]
    ihc = next(line for line in histology.splitlines() if "immunohistochemistry rows=0.5-1" in line)
    shipped = scores["skimage:immunohistochemistry rows=0.5-1"]["delta_e2000"]
    assert float(ihc.split()[-4]) == round(shipped, 2)
