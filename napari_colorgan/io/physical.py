"""Physical pixel sizes read from file metadata, checked before they reach an output.

A size of 0, a negative, NaN or infinite one (an OME ``PhysicalSizeX="0"``, a TIFF
resolution of 1/0, an ImageJ spacing of -2) cannot scale an axis: OME-NGFF requires
positive scales, so an output carrying it would be refused by every reader, ours
included. Such sizes are dropped, all of them, with one warning naming the file;
the pixels are colourised as they are.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def checked_sizes(
    path: str | os.PathLike, spacing: Any, pixel: tuple[Any, Any] | None
) -> tuple[float | None, tuple[float, float] | None]:
    """``(spacing, (pixel height, pixel width))`` as numbers, or both None if any is impossible.

    Parameters
    ----------
    path : path-like
        The file, named in the warning.
    spacing : number, str or None
        The distance between planes of a stack (ImageJ ``spacing``, OME ``PhysicalSizeZ``).
    pixel : (number, number) or None
        The pixel's height and width.

    Warns
    -----
    UserWarning
        Once, naming the file and the impossible value, when sizes are dropped.
    """
    values = {"spacing": spacing, "pixel height": None, "pixel width": None}
    if pixel is not None:
        values["pixel height"], values["pixel width"] = pixel
    given = {name: value for name, value in values.items() if value is not None}
    numbers = {name: _number(value) for name, value in given.items()}
    bad = [name for name, n in numbers.items() if n is None or not math.isfinite(n) or n <= 0]
    if bad:
        warnings.warn(
            f"{Path(path).name}: its {bad[0]} {given[bad[0]]!r} is not a positive size; "
            "the output records no physical pixel size",
            UserWarning,
            stacklevel=3,
        )
        return None, None
    y, x = numbers.get("pixel height"), numbers.get("pixel width")
    return numbers.get("spacing"), (y, x) if y is not None and x is not None else None
