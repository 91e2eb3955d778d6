"""Streaming, resumable writing of a lazy colour result to tiled (OME-)BigTIFF.

The result is first streamed into a hidden zarr store beside the output (resumable
chunk by chunk, see :mod:`.zarr_sink`), already in the output's sample type; the
TIFF is then written tile by tile from it, with a pyramid of sub-resolutions for a
2-D image, into a temporary file that is renamed when complete. Memory stays
bounded by a strip of tiles; a killed run resumes its colourisation.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write, partial_path, remove_partials
from .lock import output_lock
from .scaling import to_dtype
from .units import NO_OME_UNIT, ome_symbol
from .zarr_sink import pyramid, pyramid_depth, write_zarr

TILE = 256


def _tiles(level: Any, tile: int) -> Iterator[np.ndarray]:
    """Tiles of a ``(..., Y, X, 3)`` array in TIFF order, edge tiles padded to full size."""
    h, w = level.shape[-3:-1]
    for index in np.ndindex(level.shape[:-3]):
        for y in range(0, h, tile):
            strip = np.asarray(level[(*index, slice(y, y + tile))])
            for x in range(0, w, tile):
                block = strip[:, x : x + tile]
                if block.shape[:2] != (tile, tile):
                    full = np.zeros((tile, tile, 3), block.dtype)
                    full[: block.shape[0], : block.shape[1]] = block
                    block = full
                yield block


def write_tiff(
    rgb: Any,
    path: str | os.PathLike,
    *,
    source: Any = None,
    dtype: str = "uint8",
    scale: tuple[float, ...] | None = None,
    units: tuple[str | None, ...] | None = None,
    description: str | None = None,
    attrs: dict | None = None,
    resume: bool = True,
    min_level_size: int = 256,
    reach: int = 0,
) -> Iterator[tuple[str, int, int]]:
    """Stream a lazy ``(..., Y, X, 3)`` colour result into a tiled BigTIFF.

    Parameters
    ----------
    path : path-like
        ``.tif`` / ``.tiff``, or ``.ome.tif`` / ``.ome.tiff`` for OME-TIFF with the
        physical pixel size.
    dtype : {"uint8", "uint16", "float32"}
        Sample type of the file.
    rgb, source, scale, attrs, resume, reach
        As for :func:`~napari_colorgan.io.zarr_sink.write_zarr`: the chunks stage in a
        hidden zarr store beside ``path``, which a resumed run continues.
    units : tuple of (str or None), optional
        OME-NGFF unit names per input axis, written as OME-TIFF's PhysicalSize units.
    description : str, optional
        Text kept with the image (a FITS input's WCS cards): the ImageDescription of
        a plain TIFF, the OME ``Image/Description`` of an OME-TIFF.

    Yields
    ------
    (str, int, int)
        What is being written, and its steps done and in all.

    Raises
    ------
    OutputMismatchError
        When resuming chunks staged from another input or with other settings.
    OutputBusyError
        When another run is writing ``path``.
    """
    with output_lock(path):
        yield from _write_tiff(
            rgb,
            Path(path),
            source,
            dtype,
            scale,
            attrs,
            resume,
            min_level_size,
            units=units,
            description=description,
            reach=reach,
        )


def _write_tiff(
    rgb: Any,
    path: Path,
    source: Any,
    dtype: str,
    scale: tuple[float, ...] | None,
    attrs: dict | None,
    resume: bool,
    min_level_size: int,
    *,
    units: tuple[str | None, ...] | None = None,
    description: str | None = None,
    reach: int = 0,
) -> Iterator[tuple[str, int, int]]:
    import dask.array as da
    import tifffile
    import zarr

    staging = Path(f"{partial_path(path)}.zarr")  # resumable chunks, then the TIFF
    remove_partials(path)  # a TIFF half written by a killed run
    samples = rgb.map_blocks(to_dtype, dtype, dtype=np.dtype(dtype))
    attrs = {**(attrs or {}), "dtype": dtype}
    staged = write_zarr(
        samples,
        staging,
        source=source,
        ome=False,
        attrs=attrs,
        resume=resume,
        lock=False,
        shown=path,
        reach=reach,
    )
    for name, done, total in staged:
        yield f"chunk (level {name})", done, total
    level0 = da.from_zarr(zarr.open_group(staging, mode="r")["0"])
    two_d = level0.ndim == 3
    levels = pyramid_depth(level0.shape[-3:-1], min_level_size) if two_d else 0
    # the pyramid helper works on the last two axes: put colour first, then back last
    channels_first = da.moveaxis(level0, -1, 0)
    sub = [da.moveaxis(lv, 0, -1) for lv in pyramid(channels_first, levels)]
    ome = path.name.lower().endswith((".ome.tif", ".ome.tiff"))
    axes = "Q" * max(level0.ndim - 5, 0) + "TZYXS"[-min(level0.ndim, 5) :]
    metadata = {"axes": axes}
    if ome and scale is not None:
        metadata.update(PhysicalSizeY=scale[-2], PhysicalSizeX=scale[-1])
        if level0.ndim == 4:
            metadata["PhysicalSizeZ"] = scale[-3]
    if ome and scale is not None:  # a unit without a size says nothing
        named = units or (None,) * len(scale)
        for axis, unit in zip("ZYX"[-len(named) :], named[-3:]):
            if axis != "Z" or level0.ndim == 4:  # a size without a unit would read as µm
                metadata[f"PhysicalSize{axis}Unit"] = ome_symbol(unit) or NO_OME_UNIT
    if ome and description:
        metadata["Description"] = description
    with atomic_write(path) as tmp, tifffile.TiffWriter(tmp, bigtiff=True, ome=ome) as tif:
        for k, level in enumerate([level0, *sub]):
            yield f"TIFF level {k}", k, levels + 1
            tif.write(
                _tiles(level, TILE),
                shape=level.shape,
                dtype=level.dtype,
                tile=(TILE, TILE),
                photometric="rgb",
                compression="zlib",
                subifds=levels if k == 0 else None,
                subfiletype=1 if k else 0,
                # tifffile's shaped description covers no SubIFDs: a plain TIFF's pyramid
                # would read back with "invalid shaped series metadata or corrupted file"
                metadata=metadata if k == 0 and (ome or not levels) else None,
                description=description if k == 0 and not ome else None,
            )
    shutil.rmtree(staging)
    yield f"TIFF level {levels}", levels + 1, levels + 1
