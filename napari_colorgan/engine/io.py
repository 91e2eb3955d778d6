"""Reading grayscale images and writing colour results, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

READ_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
WRITE_SUFFIXES = (".png", ".tif", ".tiff")
OUT_DTYPES = ("uint8", "uint16", "float32")


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG, JPEG or TIFF file into an array, as stored (no conversion).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The format is not supported or the file cannot be decoded.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    if _suffix(path) not in READ_SUFFIXES:
        raise ValueError(
            f"cannot read {path.name}: supported inputs are {', '.join(READ_SUFFIXES)}"
        )
    try:
        if _suffix(path) in (".tif", ".tiff"):
            import tifffile

            return tifffile.imread(path)
        import imageio.v3 as iio

        return iio.imread(path)
    except Exception as err:  # decoders raise many types; name the file and the reason
        raise ValueError(f"cannot decode {path}: {err}") from None


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read a 2-D colour image as float32 RGB in [0, 1] (alpha dropped)."""
    image = read_image(path)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"{path} is not a 2-D colour image (shape {image.shape})")
    scale = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 1.0
    return image[..., :3].astype(np.float32) / np.float32(scale)


def to_dtype(rgb: np.ndarray, dtype: str) -> np.ndarray:
    """Convert float RGB in [0, 1] to ``uint8``, ``uint16`` or ``float32``."""
    if dtype not in OUT_DTYPES:
        raise ValueError(f"output dtype must be one of {OUT_DTYPES}, got {dtype!r}")
    if dtype == "float32":
        return rgb.astype(np.float32, copy=False)
    top = np.iinfo(dtype).max
    return np.rint(rgb * top).astype(dtype)


def write_image(path: str | os.PathLike, rgb: np.ndarray, dtype: str = "uint8") -> Path:
    """Write RGB ``(..., Y, X, 3)`` in [0, 1] to PNG (2-D only) or TIFF, atomically.

    The data go to a hidden temporary file beside ``path``, renamed over it only
    when complete: an interrupted run never leaves a truncated image.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in WRITE_SUFFIXES:
        raise ValueError(
            f"cannot write {path.name}: supported outputs are {', '.join(WRITE_SUFFIXES)}"
        )
    if suffix == ".png" and rgb.ndim != 3:
        raise ValueError(
            f"PNG holds a single 2-D image but the result has shape {rgb.shape}; write a .tif"
        )
    if suffix == ".png" and dtype == "float32":
        raise ValueError("PNG cannot hold float32; use --dtype uint8 or uint16, or a .tif")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    data = to_dtype(rgb, dtype)
    tmp = path.with_name(f".{path.stem}.partial{suffix}")
    try:
        if suffix == ".png":
            import imageio.v3 as iio

            iio.imwrite(tmp, data)
        else:
            import tifffile

            tifffile.imwrite(tmp, data, photometric="rgb", compression="zlib")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
