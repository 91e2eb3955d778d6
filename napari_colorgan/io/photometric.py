"""Colour models of input files, turned into gray or RGB as stored samples mean them.

A TIFF says how its samples are to be read (``PhotometricInterpretation``): white
is zero, a palette, CMYK ink, YCbCr. Read as they are stored, such samples give an
inverted or meaningless lightness; here each becomes gray (``(..., Y, X)``) or RGB
(``(..., Y, X, 3 | 4)``) with the file's own meaning, lazily for a TIFF, or is
refused with one line that names the file and its colour model. PNG keeps 16-bit
colour (decoded by imagecodecs, not Pillow's 8-bit RGB) and a CMYK JPEG is converted
to RGB by Pillow, which also undoes Adobe's inverted CMYK.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

# TIFF PhotometricInterpretation values
MINISWHITE, MINISBLACK, RGB, PALETTE, SEPARATED, YCBCR = 0, 1, 2, 3, 5, 6
_JPEG = {6, 7, 33007, 34892}  # compressions whose decoder gives RGB for YCbCr
_NAMES = {4: "a transparency mask", 8: "CIELAB", 9: "ICC L*a*b*", 10: "ITU L*a*b*",
          32803: "a colour filter array (raw Bayer)", 32844: "LogL", 32845: "LogLuv",
          34892: "linear raw"}  # fmt: skip


def tiff_colours(path: str | os.PathLike, page: Any, array: Any) -> Any:
    """The lazy samples of a TIFF series as gray or RGB, following its first page.

    Parameters
    ----------
    path : path-like
        The file, named in errors.
    page : tifffile.TiffPage
        The series' first page: its photometric, colormap, ink set and subsampling.
    array : dask.array.Array
        The series as stored, samples last for colour.

    Raises
    ------
    ValueError
        For a colour model that cannot be turned into lightness (CIELAB, raw Bayer
        data, CMYK with another ink set, subsampled YCbCr outside JPEG...).
    """
    name = Path(path).name
    photometric = int(page.photometric)
    if photometric in (MINISBLACK, RGB):
        return array
    if photometric == MINISWHITE:
        if array.dtype == bool:  # bilevel: a set bit is black
            return ~array
        if array.dtype.kind != "u":
            raise ValueError(f"{name} is white-is-zero with {array.dtype} samples; save it "
                             "as black-is-zero (MinIsBlack)")  # fmt: skip
        return np.iinfo(array.dtype).max - array  # white is zero: invert to intensity
    if photometric == PALETTE:
        return _palette(name, page, array)
    if photometric == SEPARATED:
        return _cmyk(name, page, array)
    if photometric == YCBCR:
        if int(page.compression) in _JPEG:
            return array  # the JPEG decoder gives RGB
        subsampling = tuple(getattr(page, "subsampling", None) or (1, 1))
        if subsampling != (1, 1) or array.shape[-1] != 3:
            raise ValueError(
                f"{name} is YCbCr with subsampling {subsampling} outside JPEG; convert it to RGB"
            )
        return array.map_blocks(ycbcr_to_rgb, dtype=np.uint8)
    what = _NAMES.get(photometric, f"photometric {photometric}")
    raise ValueError(f"{name} holds {what}, not gray or RGB; convert it to RGB or gray first")


def _palette(name: str, page: Any, array: Any) -> Any:
    """Palette indices looked up: gray for a gray palette, else 16-bit RGB."""
    colormap = page.colormap
    if colormap is None or array.dtype.kind != "u":
        raise ValueError(f"{name} is a palette image without a usable colour map")
    colormap = np.asarray(colormap, np.uint16)  # 2**bits colours: every index has one
    if (colormap == colormap[0]).all():  # a gray ramp: one channel is the intensity
        return array.map_blocks(lambda b: colormap[0][b], dtype=np.uint16)
    table = colormap.T.copy()
    return array.map_blocks(lambda b: table[b], dtype=np.uint16, new_axis=array.ndim)


def _cmyk(name: str, page: Any, array: Any) -> Any:
    """CMYK ink as RGB: ``R = (1 - C)(1 - K)`` and so on, in the samples' own range."""
    inkset = page.tags.get("InkSet")
    if (inkset is not None and int(inkset.value) != 1) or array.shape[-1] < 4:
        raise ValueError(f"{name} holds separated inks other than CMYK; convert it to RGB")
    if array.dtype.kind != "u":
        raise ValueError(f"{name} is CMYK with {array.dtype} samples; convert it to RGB")
    array = array.rechunk({array.ndim - 1: -1})
    return array.map_blocks(cmyk_to_rgb, dtype=array.dtype, chunks=(*array.chunks[:-1], 3))


def cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """Unsigned CMYK samples ``(..., 4 | more)`` as RGB ``(..., 3)`` of the same dtype."""
    top = float(np.iinfo(cmyk.dtype).max)
    ink = cmyk[..., :4].astype(np.float32) / top
    rgb = (1 - ink[..., :3]) * (1 - ink[..., 3:4])
    return np.rint(rgb * top).astype(cmyk.dtype)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """8-bit YCbCr (ITU-R BT.601, full range, TIFF's defaults) as 8-bit RGB."""
    y, cb, cr = (ycc[..., i].astype(np.float32) for i in range(3))
    cb, cr = cb - 128, cr - 128
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def read_flat(path: str | os.PathLike) -> np.ndarray:
    """A PNG or JPEG as gray, gray + alpha, RGB or RGBA samples, at their bit depth.

    A gray palette becomes gray; CMYK becomes RGB.
    """
    import warnings

    from PIL import Image

    # Pillow warns past 89 M pixels (a large micrograph is no attack) and refuses past
    # twice that, before decoding: a PNG of every depth is decoded whole in memory
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        picture = Image.open(path)
    with picture:
        mode = picture.mode
        if mode == "CMYK":  # Pillow reads Adobe's inverted CMYK right, and converts it
            return np.asarray(picture.convert("RGB"))
        if mode == "P" and _gray_palette(picture):
            return np.asarray(picture.convert("L"))
        if not _png16(path):
            if mode in ("P", "PA"):  # a colour palette: its colours
                has_alpha = mode == "PA" or "transparency" in picture.info
                return np.asarray(picture.convert("RGBA" if has_alpha else "RGB"))
            return np.asarray(picture.convert("L") if mode == "1" else picture)
    import imagecodecs

    try:  # Pillow would give 8 bits
        return imagecodecs.png_decode(Path(path).read_bytes())
    except imagecodecs.PngError as err:
        raise ValueError(f"{Path(path).name} is truncated or damaged ({err})") from None


def _png16(path: str | os.PathLike) -> bool:
    """True for a PNG of 16-bit samples (its header's bit depth): Pillow gives 8 bits for
    16-bit colour and gray + alpha."""
    with open(path, "rb") as file:
        head = file.read(26)
    png = head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 26
    return png and head[24] == 16


def _gray_palette(picture: Any) -> bool:
    colours = np.asarray(picture.getpalette() or [], np.uint8).reshape(-1, 3)
    return bool(len(colours)) and bool((colours == colours[:, :1]).all())
