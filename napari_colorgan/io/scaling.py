"""Intensity scaling: raw grayscale to [0, 1] with one global range, and back to samples.

The range is computed once for the whole image (never per tile), so every tile
and every file chunk is scaled the same way. Its statistics come from a bounded,
deterministic read (:func:`bounded_sample`): all pixels of an image of up to
:data:`SAMPLE_PIXELS`, windows spread over a larger one, so that starting on a
store of any size costs the same.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

OUT_DTYPES = ("uint8", "uint16", "float32")

#: Pixels read for whole-image statistics; images up to this size are read whole.
SAMPLE_PIXELS = 1 << 24
#: Side of the square windows a larger image is sampled by.
SAMPLE_WINDOW = 256


def bounded_sample(image: Any, max_pixels: int = SAMPLE_PIXELS) -> np.ndarray:
    """A deterministic sample of at most ``max_pixels`` pixels of ``image``.

    Parameters
    ----------
    image : array-like
        numpy, dask or zarr array of shape ``(..., Y, X)``.
    max_pixels : int, optional
        The budget. An image of at most this many pixels is returned whole, so
        statistics of it are exact.

    Returns
    -------
    numpy.ndarray
        The whole image, or the pixels of square windows of side
        :data:`SAMPLE_WINDOW`, spread evenly over the planes, rows and columns by a
        quasi-random sequence, flattened. Where they lie depends only on the shape,
        so an array gives the same sample in memory, as dask (any chunks) or as zarr; a
        window decodes only the chunks under it, so a store of tens of GB costs a
        few hundred of its chunks.
    """
    shape = tuple(int(n) for n in image.shape)
    if float(np.prod(shape, dtype=np.float64)) <= max_pixels:
        return np.asarray(image)
    side = [min(SAMPLE_WINDOW, n) for n in shape[-2:]]
    count = max(1, max_pixels // (side[0] * side[1]))
    room = np.array([*shape[:-2], *(n - s + 1 for n, s in zip(shape[-2:], side))])
    where = (_quasi_random(count, len(shape)) * room).astype(np.int64)
    regions = [
        (*at[:-2], *(slice(a, a + s) for a, s in zip(at[-2:], side))) for at in where.tolist()
    ]
    if hasattr(image, "dask"):
        import dask

        parts = dask.compute(*(image[r] for r in regions))
    else:
        parts = [np.asarray(image[r]) for r in regions]
    return np.concatenate([np.ravel(p) for p in parts])


def _quasi_random(n: int, dims: int) -> np.ndarray:
    """``n`` points of Roberts' R_d sequence in [0, 1)^dims: evenly spread, never periodic,
    so windows do not alias with a mosaic's repeating tiles as a regular lattice would."""
    phi = 2.0
    for _ in range(30):  # the unique positive root of x^(d+1) = x + 1
        phi = (1 + phi) ** (1 / (dims + 1))
    alpha = phi ** -np.arange(1, dims + 1)
    return (0.5 + np.arange(n)[:, None] * alpha) % 1.0


class Intensity(NamedTuple):
    """How a gray's values become the network's gray in [0, 1].

    ``low`` maps to 0 and ``high`` to 1; with ``linear`` the values are linear in
    light (a camera, a linear export) and are sRGB-encoded after the range, so that
    the network sees the gray whose lightness they stand for.
    """

    low: float
    high: float
    linear: bool = False


NORMALIZE_MODES = ("auto", "percentiles", "linear", "none")


def intensity_range(
    image: Any, normalize: Any = "auto", *, linear_cameras: bool = False
) -> Intensity:
    """Global intensity range that maps ``image`` to [0, 1].

    Parameters
    ----------
    image : array-like
        numpy or dask array, grayscale, any integer or float dtype.
    normalize : {"auto", "none"} or tuple of float, optional
        - ``"auto"``: a type's own range where it has one, else a stretch. uint8
          uses (0, 255) and floats whose finite values all lie in [0, 1] use
          (0, 1) (scikit-image's convention for float images, and what
          :func:`~napari_colorgan.to_gray` returns), so such an image keeps its
          lightness; every other image uses the 0.1 and 99.9 percentiles of the
          whole array (never per tile; of :func:`bounded_sample` for a large
          one), ignoring NaN and infinities.
        - ``"percentiles"``: always the 0.1 and 99.9 percentiles (a float image
          in [0, 1] that is dim, e.g. normalised counts, stretched).
        - ``"linear"``: the 0.1 and 99.9 percentiles, and the values are linear
          in light (a monochrome camera, linear flux): the 0.1 percentile is
          black, the 99.9 percentile white, and what lies between is lightness
          as the eye sees it, not as the sensor counts it.
        - ``"none"``: the data already lie in [0, 1].
        - ``(low, high)``: a fixed range; an :class:`Intensity` as it is.
    linear_cameras : bool, optional
        Whether ``"auto"`` reads what it stretches as linear in light, as ``"linear"``
        does: the model's reading of its domain's cameras
        (:class:`~napari_colorgan.models.generator.GeneratorConfig`).

    Returns
    -------
    Intensity

    Raises
    ------
    ValueError
        For an unknown ``normalize`` or a range with ``high <= low``.
    """
    if isinstance(normalize, Intensity):
        return normalize
    if isinstance(normalize, str):
        if normalize not in NORMALIZE_MODES:
            raise ValueError(_bad_normalize(normalize))
        if normalize == "none":
            return Intensity(0.0, 1.0)
        if normalize == "auto" and image.dtype == np.uint8:
            return Intensity(0.0, 255.0)
        sample = bounded_sample(image)
        if normalize == "auto" and sample.dtype.kind == "f" and _within_unit(sample):
            return Intensity(0.0, 1.0)
        low, high = (float(v) for v in percentiles(sample, (0.1, 99.9)))
    else:
        try:
            low, high = (float(v) for v in normalize)
        except (TypeError, ValueError):
            raise ValueError(_bad_normalize(normalize)) from None
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"normalize range must be finite numbers, got ({low}, {high})")
    # a string test first: an array normalize compares per item
    linear = isinstance(normalize, str) and (
        normalize == "linear" or (normalize == "auto" and linear_cameras)
    )
    if not high > low:
        if high == low and isinstance(normalize, str):
            return Intensity(low, low + 1.0, linear)  # a constant image: map it to black
        raise ValueError(f"normalize range needs high > low, got ({low}, {high})")
    return Intensity(low, high, linear)


def _bad_normalize(normalize: Any) -> str:
    modes = ", ".join(repr(m) for m in NORMALIZE_MODES)
    return f"normalize must be {modes} or (low, high), got {normalize!r}"


def _within_unit(values: np.ndarray) -> bool:
    """True when every finite value of a float array lies in [0, 1]."""
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool(finite.min() >= 0 and finite.max() <= 1)


def percentiles(values: np.ndarray, q) -> np.ndarray:
    """Percentiles ``q`` (0 to 100) of the finite values, as ``np.percentile`` (linear
    interpolation between order statistics); integers of up to 16 bits by a histogram.
    Evenly spaced from 0 to 1 when there is no finite value."""
    q = np.asarray(q, dtype=np.float64)
    if values.dtype.kind in "ui" and values.dtype.itemsize <= 2:
        offset = int(np.iinfo(values.dtype).min)
        cum = np.cumsum(np.bincount(values.ravel().astype(np.int64) - offset))
        rank = q / 100 * (cum[-1] - 1)
        below = np.floor(rank)
        v0 = np.searchsorted(cum, below, side="right")
        v1 = np.searchsorted(cum, below + 1, side="right")
        return v0 + (rank - below) * (v1 - v0) + offset
    if values.dtype.kind not in "ui":
        values = values[np.isfinite(values)]
    if values.size == 0:
        return np.linspace(0.0, 1.0, q.size)
    return np.percentile(values, q)


def to_unit_range(
    block: np.ndarray, low: float, high: float, linear: bool = False
) -> np.ndarray:
    """Map intensities to float32 in [0, 1] with a fixed range (an :class:`Intensity`).

    With ``linear`` the scaled values are light and are sRGB-encoded, pixel by
    pixel. NaN and -inf become 0 (black) and +inf becomes 1 (white); the caller's
    array is not modified.
    """
    # float64 arithmetic: 32/64-bit integers and offset floats keep their precision
    out = (block.astype(np.float64) - low) / (high - low)
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0)
    out = np.clip(out, 0.0, 1.0, out=out)
    if linear:  # light to the sRGB-encoded gray that lightness is made from
        import torch

        from ..color import _linear_to_srgb

        out = _linear_to_srgb(torch.from_numpy(out)).numpy()
    return out.astype(np.float32)


def warn_nonfinite(image: Any) -> None:
    """Warn with a count when a numpy image holds NaN or infinities."""
    if isinstance(image, np.ndarray) and image.dtype.kind == "f":
        bad = int(image.size - np.count_nonzero(np.isfinite(image)))
        if bad:
            warnings.warn(
                f"{bad} NaN/inf pixels: excluded from the intensity statistics and "
                "rendered black (NaN, -inf) or white (+inf)",
                stacklevel=3,
            )


def to_unit_float(image: np.ndarray) -> np.ndarray:
    """float32 copy of an image in [0, 1]: integers divided by their type's maximum."""
    image = np.asarray(image)
    scale = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 1.0
    return np.ascontiguousarray(image, dtype=np.float32) / np.float32(scale)


def default_out_dtype(input_dtype: Any, suffix: str = "") -> str:
    """The output sample type when none is asked for: as many bits as the input needs.

    ``uint16`` for integer input wider than 8 bits (except JPEG and MP4, 8-bit
    only), ``uint8`` for everything else (8-bit and float input).
    """
    kind, size = np.dtype(input_dtype).kind, np.dtype(input_dtype).itemsize
    wide = kind in "ui" and size > 1
    return "uint16" if wide and suffix.lower() not in (".jpg", ".jpeg", ".mp4") else "uint8"


def to_dtype(rgb: np.ndarray, dtype: str) -> np.ndarray:
    """Convert float RGB in [0, 1] to ``uint8``, ``uint16`` or ``float32``."""
    if dtype not in OUT_DTYPES:
        raise ValueError(f"output dtype must be one of {OUT_DTYPES}, got {dtype!r}")
    if dtype == "float32":
        return rgb.astype(np.float32, copy=False)
    top = np.iinfo(dtype).max
    return np.rint(np.clip(rgb, 0, 1) * top).astype(dtype)
