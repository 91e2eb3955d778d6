"""Opening grayscale images without loading them: TIFF, zarr/OME-Zarr, FITS, video, PNG, JPEG."""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DamagedFileError
from .fits import FITS_SUFFIXES, is_fits, open_fits
from .handles import Handles, file_version
from .ome_zarr import as_dask, check_finished, read_multiscale
from .photometric import read_flat, tiff_colours
from .physical import checked_sizes
from .scaling import to_unit_float
from .video import VIDEO_SUFFIXES, is_video, open_video

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
READ_SUFFIXES = (*IMAGE_SUFFIXES, ".zarr")
INPUT_SUFFIXES = (*READ_SUFFIXES, *FITS_SUFFIXES, *VIDEO_SUFFIXES)  # what open_image opens


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def open_image(path: str | os.PathLike, *, level: int = 0) -> tuple[Any, tuple[float, ...] | None]:
    """Open an image for reading without loading it whole.

    TIFF, BigTIFF and OME-TIFF are opened as zarr stores through tifffile, zarr and
    OME-Zarr with zarr (read-only), FITS through astropy's sections and video
    frames by PyAV in chunks (:mod:`.fits`, :mod:`.video`), so chunks are read only
    when computed; PNG and JPEG are read into memory.

    Parameters
    ----------
    path : path-like
        ``.tif``, ``.tiff``, ``.zarr`` (incl. ``.ome.zarr``), ``.fits``/``.fit``/
        ``.fz``, ``.mp4``/``.avi``/``.mov``/``.mkv`` (gray), ``.png``, ``.jpg``.
    level : int, optional
        Pyramid level of a multiscale TIFF or OME-Zarr (0 = full resolution).

    Returns
    -------
    array : numpy.ndarray or dask.array.Array
    scale : tuple of float or None
        Physical pixel size per axis, when the file records it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    suffix = _suffix(path)
    if suffix == ".zarr":
        return _open_zarr(path, level)
    if suffix in (".tif", ".tiff"):
        return _open_tiff(path, level)
    if is_fits(path):
        return _no_levels(path, level, open_fits(path)), None
    if is_video(path):
        return _no_levels(path, level, open_video(path)[0]), None
    return _no_levels(path, level, one_gray(read_image(path), path)), None


def _no_levels(path: Path, level: int, image: Any) -> Any:
    """Refuse a pyramid level of a file that has none."""
    if level != 0:
        raise ValueError(f"{path.name} is not a pyramid (one level), got level={level}")
    return image


def one_gray(image: Any, path: str | os.PathLike) -> Any:
    """A (..., Y, X, 1) image as (..., Y, X); gray + alpha (..., Y, X, 2) without its alpha.

    The alpha channel holds no intensity: it is dropped with a warning.
    """
    if image.ndim >= 3 and image.shape[-1] == 1:
        return image[..., 0]
    if image.ndim == 3 and image.shape[-1] == 2 and image.shape[-2] > 4:
        warnings.warn(
            f"{Path(path).name} is gray with an alpha channel: the alpha is dropped",
            UserWarning,
            stacklevel=3,
        )
        return image[..., 0]
    return image


def _open_tiff(path: Path, level: int) -> tuple[Any, tuple[float, ...] | None]:
    import dask.array as da
    import tifffile

    with tiff_errors(path), tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ValueError(f"cannot decode {path}: it holds no image")
        series = tif.series[0]
        if not 0 <= level < len(series.levels):
            raise ValueError(f"{path.name} has {len(series.levels)} level(s), got level={level}")
        _check_tiff_data(path, series.levels[level])
        _check_tiff_axes(path, series.axes, series.shape)
        page = series.pages[0]
        spacing = (tif.imagej_metadata or {}).get("spacing")
        pixel = _pixel_size(series.pages[0])
        if tif.is_ome:  # OME-XML physical sizes win over the TIFF tags
            spacing, pixel = _ome_sizes(tif.ome_metadata, spacing, pixel)
            _check_ome_planes(path, tif)
        spacing, pixel = checked_sizes(path, spacing, pixel)
    reader = TiffLevel(str(path.resolve()), level)
    array = da.from_array(reader, chunks=reader.chunks, asarray=True, name=f"tiff-{reader.token}")
    array = one_gray(tiff_colours(path, page, array), path)
    scale = None
    if pixel or spacing:
        scale = (*[1.0] * (array.ndim - 2), *(pixel or (1.0, 1.0)))
        if spacing and array.ndim == 3:
            scale = (float(spacing), *scale[1:])
    return array, scale


class TiffLevel:
    """A read-only, picklable view of one level of a TIFF's first series.

    It holds only the path: each process (a dask.distributed worker too) opens the
    file once, through tifffile's zarr store, and reads only the chunks asked for.
    """

    def __init__(self, path: str, level: int):
        from dask.base import tokenize

        self.path, self.level = path, level
        self.version = file_version(path)
        z = _TIFFS.get(self.version, level).array
        self.shape, self.dtype, self.ndim = z.shape, z.dtype, z.ndim
        self.chunks = z.chunks
        self.token = tokenize(level, *self.version)

    def __getitem__(self, key: Any) -> np.ndarray:
        if file_version(self.path) != self.version:
            raise DamagedFileError(f"{self.path} changed while it was being read; open it again")
        with tiff_errors(self.path), _TIFFS.using(self.version, self.level) as tiff:
            return tiff.array[key]


class _OpenTiff:
    """One level of a TIFF opened as a zarr array through tifffile's store."""

    def __init__(self, path: str, level: int):
        import tifffile
        import zarr

        with tiff_errors(path):
            self.store = tifffile.imread(path, aszarr=True, level=level)
            self.array = zarr.open_array(self.store, mode="r")

    def close(self) -> None:
        self.store.close()


_TIFFS = Handles(_OpenTiff, 8)  # TIFF levels held open at once per process


class _Collect(logging.Handler):
    """Keeps the warnings tifffile logs in this thread (it logs damage, then reads zeros)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread, self.messages = threading.get_ident(), []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextmanager
def tiff_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn what tifffile logs or raises about a damaged file into one ValueError.

    tifffile logs a missing tag or an offset past the end and carries on with
    zeros; for us a damaged file is an error that names it.
    """
    collect = _Collect()
    log = logging.getLogger("tifffile")
    log.addHandler(collect)
    try:
        yield
    except ValueError:
        raise
    except Exception as err:  # tifffile and its codecs raise many types
        raise DamagedFileError(f"cannot decode {path}: {_first_line(err)}") from None
    finally:
        log.removeHandler(collect)
    damage = [m for m in collect.messages if any(w in m.lower() for w in _DAMAGE_WORDS)]
    if damage:
        raise DamagedFileError(f"{path} is damaged or truncated: {damage[0]}")


# what tifffile logs when it reads zeros instead of a file's data (not metadata quirks,
# such as ImageJ metadata it cannot parse: the data checks still run then)
_DAMAGE_WORDS = ("missing", "offset", "bytecount", "truncat")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _check_tiff_data(path: Path, series: Any) -> None:
    """Refuse a TIFF whose image data lie (partly) beyond the end of the file."""
    size = path.stat().st_size
    if series.dataoffset is not None:  # contiguous data: one range to check
        ranges = [(series.dataoffset, series.nbytes)]
    else:
        ranges = []
        for k, page in enumerate(series.pages):
            if page is None or not page.dataoffsets:
                raise ValueError(f"{path} is damaged: page {k} has no image data")
            ranges.extend(zip(page.dataoffsets, page.databytecounts))
    end = max(offset + count for offset, count in ranges)
    if end > size:
        raise ValueError(
            f"{path} is truncated: its image data end at byte {end}, the file has {size}"
        )


def _check_tiff_axes(path: Path, axes: str, shape: tuple[int, ...]) -> None:
    """Refuse colour samples stored as planes and multi-channel images by name."""
    if "S" in axes and axes.index("S") != len(axes) - 1:
        raise ValueError(
            f"{path.name} is RGB stored as planes (axes {axes}, shape {shape}), not "
            "grayscale: convert it with napari_colorgan.to_gray or pass --from-rgb on a "
            "(Y, X, 3) copy"
        )
    if "C" in axes and shape[axes.index("C")] > 1:
        raise ValueError(
            f"{path.name} has {shape[axes.index('C')]} channels (axes {axes}); colorgan "
            "colourises one grayscale channel: save the channel you want on its own"
        )


def _ome_sizes(
    xml: str, spacing: Any, pixel: tuple[float, float] | None
) -> tuple[Any, tuple[float, float] | None]:
    """PhysicalSizeZ and (PhysicalSizeY, PhysicalSizeX) of an OME-TIFF's first image."""
    import tifffile

    image = tifffile.xml2dict(xml).get("OME", {}).get("Image", {})
    sizes = (image[0] if isinstance(image, list) else image).get("Pixels", {})
    if "PhysicalSizeX" in sizes and "PhysicalSizeY" in sizes:
        pixel = (sizes["PhysicalSizeY"], sizes["PhysicalSizeX"])  # checked by the caller
    return sizes.get("PhysicalSizeZ", spacing), pixel


def _check_ome_planes(path: Path, tif: Any) -> None:
    """Refuse an OME-TIFF whose OME-XML describes fewer planes than the file's pages.

    tifffile then reads the planes the XML names and only logs the rest away;
    colourising part of a stack without a word is worse than refusing it.
    """
    described = {getattr(p, "index", None) for series in tif.series for p in series.pages}
    first = tif.series[0].pages[0]
    # pages the XML leaves out that look like planes of the image (not a thumbnail)
    left_out = [
        i for i in range(len(tif.pages))
        if i not in described and _full_page(tif.pages[i]).shape == first.shape
    ]  # fmt: skip
    if left_out:
        count = len(tif.series[0].pages)
        raise ValueError(
            f"{path.name}: its OME-XML describes {count} plane(s) but the file holds "
            f"{count + len(left_out)} of that size; correct SizeZ/SizeT/SizeC in its metadata "
            "or save it again"
        )


def _full_page(page: Any) -> Any:
    """A TIFF page with its own tags (tifffile may hand out a frame that borrows them)."""
    return page.aspage() if hasattr(page, "aspage") else page


def _pixel_size(page: Any) -> tuple[float, float] | None:
    """Pixel height and width from the TIFF resolution tags, when they are set."""
    tags = page.tags
    if "XResolution" not in tags or "YResolution" not in tags:
        return None
    (xn, xd), (yn, yd) = tags["XResolution"].value, tags["YResolution"].value
    if not xn or not yn or (xn, xd) == (1, 1):
        return None
    return yd / yn, xd / xn  # a resolution of n/0 gives a size of 0, refused by the caller


def _open_zarr(path: Path, level: int) -> tuple[Any, tuple[float, ...] | None]:
    import zarr

    try:
        node = zarr.open(path, mode="r")
    except Exception as err:  # zarr raises several types for a folder that is not a store
        raise ValueError(f"cannot open {path} as zarr: {_first_line(err)}") from None
    if isinstance(node, zarr.Array):
        return _no_levels(path, level, one_gray(as_dask(node, path), path)), None
    check_finished(node, path)
    multiscale = read_multiscale(node, path)
    if multiscale is None:
        raise ValueError(f"{path} is a zarr group without OME-Zarr multiscales metadata")
    axes, count = multiscale.axes, len(multiscale.arrays)
    if not 0 <= level < count:
        raise ValueError(f"{path.name} has {count} level(s), got level={level}")
    array, scale = as_dask(multiscale.arrays[level], path), multiscale.scales[level]
    if "c" in axes:  # one channel (as bioformats2raw writes tczyx) is gray: drop the axis
        c = axes.index("c")
        if array.shape[c] != 1:
            raise ValueError(
                f"{path} has {array.shape[c]} channels (axes {axes}); colorgan colourises "
                "one grayscale channel"
            )
        array = array[(slice(None),) * c + (0,)]
        scale = scale[:c] + scale[c + 1 :] if scale else None
    return array, tuple(scale) if scale else None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG, JPEG or TIFF file into an array: gray, or RGB(A) for colour models.

    Samples keep their bit depth; a TIFF's white-is-zero, palette, CMYK or YCbCr
    and a CMYK JPEG are converted as :mod:`.photometric` says.

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
    if _suffix(path) not in READ_SUFFIXES or _suffix(path) == ".zarr":
        raise ValueError(
            f"cannot read {path.name}: supported inputs are {', '.join(INPUT_SUFFIXES)}"
        )
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"cannot decode {path}: the file is empty (0 bytes)")
    if _suffix(path) in (".tif", ".tiff"):
        import tifffile

        import dask.array as da

        with tiff_errors(path), tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise ValueError(f"cannot decode {path}: it holds no image")
            data, page = tif.series[0].asarray(), tif.series[0].pages[0]
        return np.asarray(tiff_colours(path, page, da.from_array(data, chunks=-1)))
    try:
        return read_flat(path)
    except Exception as err:  # decoders raise many types; name the file and the reason
        raise ValueError(f"cannot decode {path}: {_first_line(err)}") from None


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read a 2-D colour image as float32 RGB in [0, 1] (alpha dropped)."""
    image = read_image(path)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"{path} is not a 2-D colour image (shape {image.shape})")
    return to_unit_float(image[..., :3])
