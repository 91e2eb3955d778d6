"""Physical units of an input's axes, spelled as OME-NGFF (UDUNITS-2) names.

An output keeps the input's pixel size (:func:`~.readers.open_image` returns it)
and, from here, what that size is measured in, so a scale bar reads "0.26 µm",
not "0.26 pixel".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# the spellings found in ImageJ, OME-XML and TIFF tags, mapped to OME-NGFF names
_NAMES = {
    "micrometer": ("µm", "μm", "um", "micron", "microns", "micrometre", "\\u00b5m"),
    "nanometer": ("nm", "nanometre"),
    "millimeter": ("mm", "millimetre"),
    "centimeter": ("cm", "centimetre"),
    "meter": ("m", "metre"),
    "angstrom": ("å", "Å"),
    "inch": ("in", "inches"),
    "second": ("s", "sec"),
    "millisecond": ("ms",),
}
NGFF_UNITS = {alias.lower(): name for name, aliases in _NAMES.items() for alias in aliases}
NGFF_UNITS.update({name: name for name in _NAMES})

Units = tuple[str | None, ...]
_OME_SYMBOLS = {
    "micrometer": "µm",
    "nanometer": "nm",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
    "angstrom": "Å",
    "inch": "in",
}


def ngff_unit(text: Any) -> str | None:
    """The OME-NGFF name of a unit (``"um"`` -> ``"micrometer"``); None when unknown."""
    if not isinstance(text, str) or not text.strip():
        return None
    return NGFF_UNITS.get(text.strip().lower())


def ome_symbol(unit: str | None) -> str | None:
    """The OME-XML symbol of an OME-NGFF length unit (``"micrometer"`` -> ``"µm"``)."""
    return _OME_SYMBOLS.get(unit or "")


def input_units(path: str | os.PathLike, level: int = 0) -> Units | None:
    """The unit of each axis of ``open_image(path)``, or None when the file names none.

    TIFF: the ImageJ ``unit`` (Y, X, and Z of a 3-D stack with a spacing), the
    OME-XML ``PhysicalSize*Unit`` (micrometer when a size is given without one),
    or the resolution tags' inch/centimeter. OME-Zarr: the multiscale's axes.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            return _tiff_units(path)
        if suffix == ".zarr":
            return _zarr_units(path)
    except Exception:  # unreadable metadata: the reader reports the file's own error
        return None
    return None


def _tiff_units(path: Path) -> Units | None:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        ndim = len(tif.series[0].shape)
        if tif.is_ome:
            image = tifffile.xml2dict(tif.ome_metadata).get("OME", {}).get("Image", {})
            sizes = (image[0] if isinstance(image, list) else image).get("Pixels", {})
            if "PhysicalSizeX" not in sizes:
                return None
            unit = ngff_unit(sizes.get("PhysicalSizeXUnit", "µm"))
            z = sizes.get("PhysicalSizeZUnit", "µm") if "PhysicalSizeZ" in sizes else None
            return _lead(ndim, ngff_unit(z)) + (unit, unit)
        imagej = tif.imagej_metadata or {}
        if "unit" in imagej:
            unit = ngff_unit(imagej["unit"])
            return _lead(ndim, unit if "spacing" in imagej else None) + (unit, unit)
        tags = tif.pages[0].tags
        resolution = tags.get("ResolutionUnit")
        if resolution is None or "XResolution" not in tags:
            return None
        unit = {2: "inch", 3: "centimeter"}.get(int(resolution.value))
        return None if unit is None else _lead(ndim, None) + (unit, unit)


def _lead(ndim: int, z: str | None) -> Units:
    """Units of the leading axes: ``z`` for the first of a 3-D stack, else None."""
    lead: list[str | None] = [None] * (ndim - 2)
    if ndim == 3:
        lead[0] = z
    return tuple(lead)


def _zarr_units(path: Path) -> Units | None:
    import zarr

    node = zarr.open(path, mode="r")
    if not isinstance(node, zarr.Group):
        return None
    units = ome_axis_units(node)
    return None if units is None else tuple(u for u, c in units if not c)


def ome_axis_units(group: Any) -> list[tuple[str | None, bool]] | None:
    """``(unit, is_channel)`` per axis of an OME-Zarr group's first multiscale.

    None when the group has no multiscale or no axis names a unit.
    """
    multiscales = dict(group.attrs.get("ome", {})).get("multiscales")
    multiscales = multiscales or group.attrs.get("multiscales")
    if not multiscales:
        return None
    axes = multiscales[0].get("axes", [])
    units = [
        (ngff_unit(a.get("unit")), a.get("type") == "channel" or a.get("name") == "c")
        if isinstance(a, dict)
        else (None, a == "c")
        for a in axes
    ]
    return units if any(u for u, _ in units) else None
