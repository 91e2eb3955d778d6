"""Intensity scaling: raw grayscale to [0, 1] with one global range, and back to samples.

The range is computed once over the whole image (never per tile), so every tile
and every file chunk is scaled the same way.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

OUT_DTYPES = ("uint8", "uint16", "float32")


def intensity_range(image: Any, normalize: Any = "auto") -> tuple[float, float]:
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
          whole array (never per tile), ignoring NaN and infinities.
        - ``"percentiles"``: always the 0.1 and 99.9 percentiles (a float image
          in [0, 1] that is dim, e.g. normalised counts, stretched).
        - ``"none"``: the data already lie in [0, 1].
        - ``(low, high)``: a fixed range.

    Returns
    -------
    (low, high) : tuple of float

    Raises
    ------
    ValueError
        For an unknown ``normalize`` or a range with ``high <= low``.
    """
    if isinstance(normalize, str):
        if normalize == "none":
            return 0.0, 1.0
        if normalize not in ("auto", "percentiles"):
            raise ValueError(
                f"normalize must be 'auto', 'percentiles', 'none' or (low, high), got {normalize!r}"
            )
        if normalize == "auto" and image.dtype == np.uint8:
            return 0.0, 255.0
        if normalize == "auto" and image.dtype.kind == "f" and _within_unit(image):
            return 0.0, 1.0
        low, high = _global_percentiles(image, (0.1, 99.9))
    else:
        try:
            low, high = (float(v) for v in normalize)
        except (TypeError, ValueError):
            raise ValueError(
                f"normalize must be 'auto', 'none' or (low, high), got {normalize!r}"
            ) from None
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"normalize range must be finite numbers, got ({low}, {high})")
    if not high > low:
        if high == low and isinstance(normalize, str):
            return low, low + 1.0  # a constant image: map it to black
        raise ValueError(f"normalize range needs high > low, got ({low}, {high})")
    return low, high


def _within_unit(image: Any) -> bool:
    """True when every finite value of a float array lies in [0, 1] (one pass for dask)."""
    if isinstance(image, np.ndarray):
        finite = image[np.isfinite(image)]
        return finite.size > 0 and bool(finite.min() >= 0 and finite.max() <= 1)
    import dask.array as da

    finite = da.where(da.isfinite(image), image, 0.5)  # NaN/inf left out of the test
    low, high = da.compute(finite.min(), finite.max())
    return bool(low >= 0 and high <= 1)


def _global_percentiles(image: Any, q: tuple[float, float]) -> tuple[float, float]:
    """Percentiles of a whole numpy or dask array.

    Integers of up to 16 bits use a histogram summed over chunks: exact, one pass,
    and identical for numpy and dask. Other numpy arrays use ``np.percentile`` on the
    finite values; other dask arrays dask's approximate percentiles.
    """
    if image.dtype.kind in "ui" and image.dtype.itemsize <= 2:
        return _percentiles_from_histogram(image, q)
    if isinstance(image, np.ndarray):
        values = image if image.dtype.kind in "ui" else image[np.isfinite(image)]
        if values.size == 0:
            return 0.0, 1.0
        low, high = np.percentile(values, q)
        return float(low), float(high)
    import dask.array as da

    flat = image.ravel()
    if flat.dtype.kind not in "ui":
        flat = flat[da.isfinite(flat)]
    try:
        low, high = da.percentile(flat.astype(np.float64), list(q)).compute()
    except ValueError:  # dask finds no finite value at all
        return 0.0, 1.0
    return float(low), float(high)


def _percentiles_from_histogram(image: Any, q: tuple[float, float]) -> tuple[float, float]:
    offset = int(np.iinfo(image.dtype).min)
    bins = 1 << (8 * image.dtype.itemsize)

    def count(block: np.ndarray) -> np.ndarray:
        return np.bincount((block.ravel().astype(np.int64) - offset), minlength=bins)

    if isinstance(image, np.ndarray):
        counts = count(image)
    else:  # a pairwise tree of sums keeps few histograms in memory at once
        import dask

        parts = [dask.delayed(count)(block) for block in image.to_delayed().ravel()]
        while len(parts) > 1:
            pairs = [dask.delayed(np.add)(a, b) for a, b in zip(parts[::2], parts[1::2])]
            parts = pairs + parts[len(pairs) * 2 :]
        counts = parts[0].compute()
    cum = np.cumsum(counts)
    result = []
    for p in q:  # linear interpolation between order statistics, as np.percentile
        rank = p / 100 * (cum[-1] - 1)
        below = int(np.floor(rank))
        v0 = np.searchsorted(cum, below, side="right")
        v1 = np.searchsorted(cum, below + 1, side="right")
        result.append(float(v0 + (rank - below) * (v1 - v0)) + offset)
    return result[0], result[1]


def to_unit_range(block: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map intensities to float32 in [0, 1] with a fixed range.

    NaN and -inf become 0 (black) and +inf becomes 1 (white); the caller's array
    is not modified.
    """
    # float64 arithmetic: 32/64-bit integers and offset floats keep their precision
    out = (block.astype(np.float64) - low) / (high - low)
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32)


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

    ``uint16`` for integer input wider than 8 bits (except JPEG, 8-bit only),
    ``uint8`` for everything else (8-bit and float input).
    """
    kind, size = np.dtype(input_dtype).kind, np.dtype(input_dtype).itemsize
    wide = kind in "ui" and size > 1
    return "uint16" if wide and suffix.lower() not in (".jpg", ".jpeg") else "uint8"


def to_dtype(rgb: np.ndarray, dtype: str) -> np.ndarray:
    """Convert float RGB in [0, 1] to ``uint8``, ``uint16`` or ``float32``."""
    if dtype not in OUT_DTYPES:
        raise ValueError(f"output dtype must be one of {OUT_DTYPES}, got {dtype!r}")
    if dtype == "float32":
        return rgb.astype(np.float32, copy=False)
    top = np.iinfo(dtype).max
    return np.rint(np.clip(rgb, 0, 1) * top).astype(dtype)
