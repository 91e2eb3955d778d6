"""FITS images and cubes (``.fits``, ``.fit``, ``.fts``, ``.fz``) opened lazily with astropy.

The first HDU holding an image of two or more axes is read, compressed (tile-
compressed ``.fz``) or not, through astropy's ``section``: a chunk reads only its
own bytes, and ``BSCALE``/``BZERO``/``BLANK`` are applied by astropy (``BLANK``
becomes NaN, which the NaN policy of :mod:`.scaling` renders black). Axes are in
numpy order, ``(..., NAXIS2, NAXIS1)``, as astropy returns them. The world
coordinate system goes along as header cards so that a colour result keeps its
sky position (:func:`wcs_cards`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DamagedFileError
from .handles import Handles, file_version

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fz")
CHUNK_BYTES = 32 * 2**20  # rows of a plane read per task


def is_fits(path: str | os.PathLike) -> bool:
    """True for a FITS file name (``.fz`` and ``.fits.fz`` included)."""
    return Path(path).suffix.lower() in FITS_SUFFIXES


def _astropy_fits() -> Any:
    try:
        from astropy.io import fits
    except ImportError:
        raise ImportError(
            "reading FITS needs astropy: pip install 'napari-colorgan[astro]'"
        ) from None
    return fits


def _open_hdul(path: str) -> Any:
    # memmap=False: astropy refuses memory maps of scaled (BSCALE/BZERO/BLANK)
    # data; its section still reads only the bytes of the rows asked for
    return _astropy_fits().open(path, memmap=False, lazy_load_hdus=True)


OPEN_FILES = 4  # FITS files held open at once per process
_HANDLES = Handles(_open_hdul, OPEN_FILES)


def image_hdu(path: str | os.PathLike) -> int:
    """Index of the first HDU with an image of at least two axes.

    Raises
    ------
    ValueError
        When the file has no such HDU (a table only, or an empty primary).
    """
    fits = _astropy_fits()
    try:  # astropy warns of a cut file in its own words; the check below says it once
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "File may have been truncated")
            hdul = fits.open(path, memmap=False)
        with hdul:
            for index, hdu in enumerate(hdul):
                if hdu.is_image and len(hdu.shape) >= 2 and 0 not in hdu.shape:
                    _check_complete(path, hdu)
                    return index
    except OSError as err:
        raise ValueError(f"cannot decode {path}: {err}") from None
    raise ValueError(f"{Path(path).name} holds no image HDU with two or more axes")


def _check_complete(path: str | os.PathLike, hdu: Any) -> None:
    """Refuse an uncompressed image HDU whose data run past the end of the file."""
    compressed = isinstance(hdu, _astropy_fits().CompImageHDU)  # its header hides ZIMAGE
    if "BITPIX" not in hdu.header or compressed:
        return  # tile-compressed data live in a table; astropy checks them as it reads
    needed = hdu.fileinfo()["datLoc"] + abs(int(hdu.header["BITPIX"])) // 8 * int(
        np.prod(hdu.shape)
    )
    size = os.path.getsize(path)
    if needed > size:
        raise ValueError(
            f"{path} is truncated: its image data end at byte {needed}, the file has {size}"
        )


class FitsSection:
    """A read-only, picklable view of one image HDU of a FITS file.

    It holds the path and the HDU's index: each process opens the file once and
    reads the rows a chunk needs through astropy's ``section``.
    """

    def __init__(self, path: str, hdu: int):
        from dask.base import tokenize

        self.path, self.hdu = path, hdu
        self.version = file_version(path)
        with _HANDLES.lock:
            image = _HANDLES.get(self.version)[hdu]
            self.shape = tuple(image.shape)
            self.ndim = len(self.shape)
            first = np.asarray(image.section[(*[0] * (self.ndim - 1), slice(0, 1))])
        self.dtype = first.dtype.newbyteorder("=")  # FITS is big-endian; compute is native
        self.token = tokenize(hdu, *self.version)

    def __getitem__(self, key: Any) -> np.ndarray:
        if file_version(self.path) != self.version:
            raise DamagedFileError(
                f"{self.path} changed while it was being read; open it again"
            )
        try:
            with _HANDLES.lock:  # one open file per process: seek and read are not thread-safe
                block = np.asarray(_HANDLES.get(self.version)[self.hdu].section[key])
        except Exception as err:  # astropy and its codecs (zlib, Rice) raise many types
            text = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise DamagedFileError(f"cannot decode {self.path}: {text}") from None
        return block.astype(self.dtype, copy=False)


def open_fits(path: str | os.PathLike) -> Any:
    """A lazy dask array of a FITS file's first image, ``(..., Y, X)``.

    Parameters
    ----------
    path : path-like
        ``.fits``, ``.fit``, ``.fts`` or ``.fz`` (tile-compressed).

    Returns
    -------
    dask.array.Array
        One plane per chunk on leading axes, bands of rows of about 32 MiB;
        float for scaled data, with NaN where the header's ``BLANK`` is.
    """
    import dask.array as da

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    view = FitsSection(str(path.resolve()), image_hdu(path))
    rows = max(1, CHUNK_BYTES // (view.shape[-1] * view.dtype.itemsize))
    chunks = (*[1] * (view.ndim - 2), min(rows, view.shape[-2]), view.shape[-1])
    return da.from_array(view, chunks=chunks, asarray=True, name=f"fits-{view.token}")


def wcs_cards(path: str | os.PathLike) -> dict[str, Any] | None:
    """The world coordinate system of a FITS file's image, as header cards.

    Returns
    -------
    dict or None
        ``{keyword: value}`` as ``astropy.wcs.WCS(header).to_header()`` writes
        them (CTYPE, CRVAL, CRPIX, CD/PC, ...), JSON-ready; None when the header
        has no celestial or spectral axes. ``astropy.wcs.WCS(cards)`` rebuilds it.
    """
    import warnings

    from astropy.wcs import WCS, FITSFixedWarning

    header = _astropy_fits().getheader(path, image_hdu(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)  # astropy's own fix-ups
            wcs = WCS(header)
            wcs.wcs.set()  # wcslib checks the projection and the matrix here
            if not wcs.has_celestial and not wcs.wcs.spec >= 0:
                return None
            cards = wcs.to_header(relax=True)
    except (ValueError, MemoryError, KeyError) as err:  # wcslib's errors are ValueErrors
        warnings.warn(
            f"{Path(path).name} has a world coordinate system wcslib cannot use "
            f"({_wcslib_reason(err)}): the output keeps no sky position",
            UserWarning,
            stacklevel=2,
        )
        return None
    return {key: cards[key] for key in cards if key not in ("COMMENT", "HISTORY", "")}


def _wcslib_reason(err: BaseException) -> str:
    """wcslib's message without its C-source location (``ERROR 4 in wcs_types() at line ...``)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith("ERROR ")]
    return (reasons or lines or [type(err).__name__])[-1].rstrip(".")


def cards_text(cards: dict[str, Any]) -> str:
    """FITS header cards as the 80-column text of a header, one card per line."""
    fits = _astropy_fits()
    return fits.Header(cards).tostring(sep="\n", endcard=False, padding=False).rstrip()
