"""Lightness matching: an image's lightness distribution mapped onto a model's own.

The tone curve of a gray depends on how it was made (a linear camera, luma, L*,
a display curve; :mod:`napari_colorgan.grays`), but the order of its pixels from
dark to light does not. A *matched* model reads each pixel's rank in its whole
image, expressed as the lightness of that rank in the model's training data: the
image's quantiles are mapped onto the model's reference quantiles (stored in its
weights) by one monotone, piecewise-linear lookup. The lookup comes from a bounded
read of the whole image or stack (:func:`~napari_colorgan.io.scaling.bounded_sample`)
and is applied pixel by pixel, so tiled still equals whole and lazy still equals
eager. Training makes its inputs the same way, from each training image's own
overview under the same gray formation as the patch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from .io.scaling import Intensity

#: Quantiles a reference and a lookup are made of.
QUANTILES = 1025


def quantiles(L: np.ndarray, n: int = QUANTILES) -> np.ndarray:
    """``n`` evenly spaced quantiles (0 to 100 %) of the finite values of ``L``."""
    values = np.asarray(L, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite lightness values to match")
    return np.quantile(values, np.linspace(0, 1, n))


def pooled_quantiles(samples: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The :data:`QUANTILES` quantiles of a mixture of images' lightness.

    Parameters
    ----------
    samples : sequence of numpy.ndarray
        Each image's lightness in [0, 100] (or a sample of it).
    weights : sequence of float
        How often each image is drawn.

    Returns
    -------
    numpy.ndarray
        Increasing quantiles of the mixture, each image counting by its weight
        whatever its size: a model's reference.
    """
    grid = np.linspace(0, 100, 10001)
    cdf = np.zeros_like(grid)
    for sample, w in zip(samples, np.asarray(weights, dtype=np.float64) / np.sum(weights)):
        values = np.sort(np.asarray(sample, dtype=np.float64).ravel())
        cdf += w * np.searchsorted(values, grid, side="right") / values.size
    p = np.maximum(np.linspace(0, 1, QUANTILES), 1e-12)  # p = 0: the least value seen
    # the mixture's quantile function: the smallest lightness whose CDF reaches p
    index = np.minimum(np.searchsorted(cdf, p, side="left"), grid.size - 1)
    return grid[index]


def lookup(L: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The monotone lookup that maps an image's lightness onto ``reference``.

    Parameters
    ----------
    L : numpy.ndarray
        Lightness in [0, 100] of the whole image, or of a bounded sample of it.
    reference : numpy.ndarray
        A model's reference quantiles (:func:`pooled_quantiles`).

    Returns
    -------
    (xp, fp) : tuple of numpy.ndarray
        Strictly increasing lightness of the image and where each goes, for
        :func:`apply`. A value that many pixels share (a saturated background, a
        quantised level) goes to the middle of the reference quantiles it spans.
    """
    return _onto(quantiles(L, len(reference)), reference)


def _onto(q: np.ndarray, reference) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lookup` from the image's quantiles ``q`` (as many as the reference's)."""
    reference = np.asarray(reference, dtype=np.float64)
    xp, first, counts = np.unique(q, return_index=True, return_counts=True)
    sums = np.add.reduceat(reference, first)
    return xp.astype(np.float32), (sums / counts).astype(np.float32)


def image_lookup(image, intensity: Intensity, reference: np.ndarray) -> np.ndarray:
    """The lookup of a whole image or stack onto ``reference``, as one ``(2, Q)`` array.

    Parameters
    ----------
    image : array-like
        numpy, dask or zarr ``(..., Y, X)``; read by
        :func:`~napari_colorgan.io.scaling.bounded_sample` (whole up to 16 M pixels).
    intensity : Intensity
        The global range that maps it to [0, 1], as for its tiles.
    reference : numpy.ndarray
        The model's reference quantiles.

    Returns
    -------
    numpy.ndarray
        float32 ``(2, Q)``: :func:`lookup`'s ``xp`` and ``fp``, padded to ``Q`` by
        repeating their last values (which :func:`apply` reads as the same lookup).
    """
    from .color import gray_to_lightness
    from .io.scaling import bounded_sample, percentiles, to_unit_range

    # quantiles of the raw values, then converted: the conversion is monotone, and
    # 1025 values convert in microseconds where 16 M pixels take seconds
    q = percentiles(bounded_sample(image), np.linspace(0, 100, len(reference)))
    gray = torch.from_numpy(to_unit_range(q, *intensity))
    xp, fp = _onto(gray_to_lightness(gray).double().numpy(), reference)
    pad = len(reference) - xp.size
    return np.stack([np.pad(xp, (0, pad), mode="edge"), np.pad(fp, (0, pad), mode="edge")])


def apply(L: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Map lightness ``L`` (any shape) through the lookup ``(xp, fp)``, piecewise linearly.

    ``xp`` is non-decreasing; a repeated value is a step (padding repeats the last
    one). Values beyond the ends of ``xp`` go to the ends of ``fp``; each pixel's
    result depends on its value alone.
    """
    n = xp.numel()
    x = torch.minimum(torch.maximum(L, xp[0]), xp[-1])
    hi = torch.searchsorted(xp, x.contiguous(), right=True).clamp(max=n - 1)
    lo = (hi - 1).clamp(min=0)
    x0, width, y0 = xp[lo], xp[hi] - xp[lo], fp[lo]
    t = torch.where(width > 0, (x - x0) / torch.where(width > 0, width, 1.0), 0.0)
    return y0 + t * (fp[hi] - y0)
