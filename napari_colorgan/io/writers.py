"""Writing a colour result held in memory to PNG, JPEG or TIFF, atomically.

Streaming output lives in :mod:`.zarr_sink` and :mod:`.tiff_sink`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .scaling import OUT_DTYPES, to_dtype

WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".zarr", ".mp4")
FLAT_SUFFIXES = (".png", ".jpg", ".jpeg")  # one 2-D picture, written from memory


def check_destination(path: str | os.PathLike, ndim: int, dtype: str = "uint8") -> Path:
    """Raise before any work when ``path`` cannot hold an ``ndim``-D grayscale's result."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        choices = ", ".join((".ome.zarr", *WRITE_SUFFIXES))
        raise ValueError(f"cannot write {path.name}: supported outputs are {choices}")
    kind = suffix[1:].upper().replace("JPG", "JPEG")
    if suffix in FLAT_SUFFIXES and ndim != 2:
        raise ValueError(f"{kind} holds a single 2-D image but the input is {ndim}-D; write a .tif")
    if suffix == ".mp4" and ndim != 3:
        raise ValueError(f"MP4 holds frames (T, Y, X) but the input is {ndim}-D; write a .tif")
    if suffix == ".mp4" and dtype != "uint8":
        raise ValueError(f"MP4 holds 8-bit frames only, got dtype={dtype!r}; write a .tif")
    if suffix == ".png" and dtype == "float32":
        raise ValueError("PNG cannot hold float32; use dtype='uint8' or dtype='uint16', or a .tif")
    if kind == "JPEG" and dtype != "uint8":
        raise ValueError(f"JPEG holds 8-bit samples only, got dtype={dtype!r}; use a .png or .tif")
    if dtype not in OUT_DTYPES:
        raise ValueError(f"output dtype must be one of {OUT_DTYPES}, got {dtype!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    if suffix != ".zarr" and path.is_dir():  # found before the work, not after it
        raise IsADirectoryError(f"the output {path} is a folder, not a {kind} file; name a file")
    return path


def write_image(path: str | os.PathLike, rgb: np.ndarray, dtype: str = "uint8") -> Path:
    """Write RGB ``(..., Y, X, 3)`` in [0, 1] to PNG/JPEG (2-D only) or TIFF, atomically.

    The data go to a hidden temporary file beside ``path``, renamed over it only
    when complete: an interrupted run never leaves a truncated image.
    """
    path = check_destination(path, rgb.ndim - 1, dtype)
    suffix = path.suffix.lower()
    if suffix in (".zarr", ".mp4"):
        raise ValueError(f"{suffix} output streams through napari_colorgan.colorize_to_file")
    data = to_dtype(rgb, dtype)
    with atomic_write(path) as tmp:
        if suffix == ".png":  # imagecodecs writes 16-bit RGB, which Pillow cannot
            import imagecodecs

            tmp.write_bytes(imagecodecs.png_encode(data))
        elif suffix in FLAT_SUFFIXES:
            import imageio.v3 as iio

            iio.imwrite(tmp, data, extension=suffix, quality=95)
        else:
            import tifffile

            tifffile.imwrite(tmp, data, photometric="rgb", compression="zlib")
    return path
