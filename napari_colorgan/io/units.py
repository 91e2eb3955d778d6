"""Physical units of an input's axes, spelled as OME-NGFF (UDUNITS-2) names.

An output keeps the input's pixel size (:func:`~.readers.open_image` returns it)
and, from here, what that size is measured in, so a scale bar reads "0.26 µm",
not "0.26 pixel". A unit no OME-NGFF name stands for (an OME ``PhysicalSizeXUnit``
of ``"furlong"``, an ImageJ ``unit`` of ``"parsecs per fortnight"``, an OME-Zarr
axis unit outside the specification) is dropped with one warning naming the file
and the unit: the sizes are kept without a unit, so the output stays valid OME-NGFF
(whose units must be UDUNITS-2 names) and an OME-TIFF output does not claim the
micrometres OME-XML assumes of a size without one.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

# the SI prefixes of OME-NGFF's names (it has no decameter)
_PREFIXES = ("yotta", "zetta", "exa", "peta", "tera", "giga", "mega", "kilo", "hecto", "deci",
             "centi", "milli", "micro", "nano", "pico", "femto", "atto", "zepto", "yocto")  # fmt: skip
# every unit OME-NGFF 0.5 allows on a space or time axis
_NGFF_NAMES = frozenset(
    [f"{prefix}meter" for prefix in _PREFIXES]
    + [f"{prefix}second" for prefix in _PREFIXES]
    + ["meter", "second", "angstrom", "foot", "inch", "mile", "parsec", "yard"]
    + ["minute", "hour", "day"]
)
_SI = {"Y": "yotta", "Z": "zetta", "E": "exa", "P": "peta", "T": "tera", "G": "giga",
       "M": "mega", "k": "kilo", "h": "hecto", "d": "deci", "c": "centi", "m": "milli",
       "µ": "micro", "μ": "micro", "u": "micro", "n": "nano", "p": "pico", "f": "femto",
       "a": "atto", "z": "zepto", "y": "yocto"}  # fmt: skip
# symbols are case-sensitive ("Mm" is a megametre, "mm" a millimetre)
_SYMBOLS = {
    **{f"{symbol}m": f"{prefix}meter" for symbol, prefix in _SI.items()},
    **{f"{symbol}s": f"{prefix}second" for symbol, prefix in _SI.items()},
    "m": "meter", "s": "second", "sec": "second", "Å": "angstrom", "å": "angstrom",
    "\\u00b5m": "micrometer", "\\u00B5m": "micrometer", "ft": "foot", "in": "inch",
    "mi": "mile", "pc": "parsec", "yd": "yard", "min": "minute", "h": "hour", "d": "day",
}  # fmt: skip
_NAMES = {
    **{name: name for name in _NGFF_NAMES},
    **{name.replace("meter", "metre"): name for name in _NGFF_NAMES if "meter" in name},
    "micron": "micrometer", "microns": "micrometer", "inches": "inch", "feet": "foot",
    # symbols read whatever their case, as they always were ("UM", "NM", "MM")
    **{symbol: _SYMBOLS[symbol] for symbol in ("µm", "μm", "um", "nm", "mm", "cm", "m", "å",
                                               "in", "s", "sec", "ms")},
}  # fmt: skip
# spellings that say "no physical unit": dropped without a warning
_NO_UNIT = frozenset(["pixel", "pixels", "px", "reference frame", "none", "unit", "units"])
_LENGTH_SYMBOLS = {"meter": "m", "angstrom": "Å", "foot": "ft", "inch": "in", "mile": "mi",
                   "parsec": "pc", "yard": "yd"}  # fmt: skip
_LENGTH_SYMBOLS.update(
    {f"{prefix}meter": f"{symbol}m" for symbol, prefix in _SI.items() if symbol not in "μu"}
)
NO_OME_UNIT = "reference frame"
"""OME-XML's unit of a length in no standard unit (a size whose unit was dropped)."""

Units = tuple[str | None, ...]


def ngff_unit(text: Any) -> str | None:
    """The OME-NGFF name of a unit (``"um"`` -> ``"micrometer"``); None when unknown."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    return _SYMBOLS.get(text) or _NAMES.get(text.lower())


def ome_symbol(unit: str | None) -> str | None:
    """The OME-XML symbol of an OME-NGFF length unit (``"micrometer"`` -> ``"µm"``)."""
    return _LENGTH_SYMBOLS.get(unit or "")


class _Reading:
    """Units looked up for one file; those no OME-NGFF name stands for are remembered."""

    def __init__(self) -> None:
        self.unknown: list[tuple[str, str]] = []

    def unit(self, text: Any, key: str) -> str | None:
        """The OME-NGFF name of ``text`` (the value of ``key``), or None."""
        unit = ngff_unit(text)
        if unit is None and isinstance(text, str) and text.strip().lower() not in _NO_UNIT:
            if text.strip():
                self.unknown.append((key, text))
        return unit

    def warn(self, path: str | os.PathLike) -> None:
        """One warning naming the file and its first unknown unit, if there is one."""
        if not self.unknown:
            return
        key, text = self.unknown[0]
        more = f" (and {len(self.unknown) - 1} more)" if len(self.unknown) > 1 else ""
        warnings.warn(
            f"{Path(path).name}: its unit {text!r} ({key}){more} is not one OME-NGFF names; "
            "the output keeps the pixel size without a unit",
            UserWarning,
            stacklevel=4,
        )


def input_units(path: str | os.PathLike, level: int = 0) -> Units | None:
    """The unit of each axis of ``open_image(path)``, or None when the file names none.

    TIFF: the ImageJ ``unit`` (Y, X, and Z of a 3-D stack with a spacing), the
    OME-XML ``PhysicalSize*Unit`` (micrometer when a size is given without one),
    or the resolution tags' inch/centimeter. OME-Zarr: the multiscale's axes.

    Warns
    -----
    UserWarning
        Once, naming the file and the unit, when a unit no OME-NGFF name stands
        for is dropped (that axis's unit is None).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    reading = _Reading()
    try:
        if suffix in (".tif", ".tiff"):
            units = _tiff_units(path, reading)
        elif suffix == ".zarr":
            units = _zarr_units(path, reading)
        else:
            return None
    except Exception:  # unreadable metadata: the reader reports the file's own error
        return None
    reading.warn(path)
    return units


def _tiff_units(path: Path, reading: _Reading) -> Units | None:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        ndim = len(tif.series[0].shape)
        if tif.is_ome:
            image = tifffile.xml2dict(tif.ome_metadata).get("OME", {}).get("Image", {})
            sizes = (image[0] if isinstance(image, list) else image).get("Pixels", {})
            if "PhysicalSizeX" not in sizes:
                return None
            x = reading.unit(sizes.get("PhysicalSizeXUnit", "µm"), "PhysicalSizeXUnit")
            y = x  # as X unless Y names its own
            if "PhysicalSizeYUnit" in sizes:
                y = reading.unit(sizes["PhysicalSizeYUnit"], "PhysicalSizeYUnit")
            z = None
            if "PhysicalSizeZ" in sizes:
                z = reading.unit(sizes.get("PhysicalSizeZUnit", "µm"), "PhysicalSizeZUnit")
            return _lead(ndim, z) + (y, x)
        imagej = tif.imagej_metadata or {}
        if "unit" in imagej:
            unit = reading.unit(imagej["unit"], "ImageJ unit")
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


def _zarr_units(path: Path, reading: _Reading) -> Units | None:
    import zarr

    node = zarr.open(path, mode="r")
    if not isinstance(node, zarr.Group):
        return None
    units = _axis_units(node, reading)
    return None if units is None else tuple(u for u, c in units if not c)


def ome_axis_units(
    group: Any, path: str | os.PathLike | None = None
) -> list[tuple[str | None, bool]] | None:
    """``(unit, is_channel)`` per axis of an OME-Zarr group's first multiscale.

    None when the group has no multiscale or no axis names a unit. A unit no
    OME-NGFF name stands for is None (with ``path``, after one warning naming it).
    """
    reading = _Reading()
    units = _axis_units(group, reading)
    if path is not None:
        reading.warn(path)
    return units


def _axis_units(group: Any, reading: _Reading) -> list[tuple[str | None, bool]] | None:
    multiscales = dict(group.attrs.get("ome", {})).get("multiscales")
    multiscales = multiscales or group.attrs.get("multiscales")
    if not multiscales:
        return None
    axes = multiscales[0].get("axes", [])
    units = [
        (
            reading.unit(a.get("unit"), f"unit of axis {a.get('name')!r}"),
            a.get("type") == "channel" or a.get("name") == "c",
        )
        if isinstance(a, dict)
        else (None, a == "c")
        for a in axes
    ]
    return units if reading.unknown or any(u for u, _ in units) else None
