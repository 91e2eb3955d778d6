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
    assert intensity_range(gray) == (0.0, 1.0)
    assert intensity_range(da.from_array(gray, chunks=64)) == (0.0, 1.0)
    counts = gray * 4000 - 20  # float counts outside [0, 1]: stretched
    low, high = intensity_range(counts)
    np.testing.assert_allclose((low, high), np.percentile(counts, (0.1, 99.9)))
    with_nan = gray.copy()
    with_nan[:5] = np.nan
    assert intensity_range(with_nan) == (0.0, 1.0)
    with pytest.raises(ValueError, match="'percentiles'"):
        intensity_range(gray, "stretch")
