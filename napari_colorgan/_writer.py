"""napari writer for RGB layers: OME-Zarr (streamed, with scale) or TIFF."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_rgb(path: str, data, meta: dict) -> list[str]:
    """Write an RGB image layer; returns the written path.

    ``.ome.zarr`` streams the (possibly lazy) layer chunk by chunk with its scale
    and units;
    ``.tif`` is written atomically. Integer RGB is scaled to [0, 1] first.
    """
    import dask.array as da

    from .io.scaling import to_unit_float
    from .io.units import ngff_unit
    from .io.writers import write_image
    from .io.zarr_sink import write_zarr

    if isinstance(data, list):  # multiscale: write the full resolution
        data = data[0]
    if data.shape[-1] != 3:
        raise ValueError(f"the writer takes RGB layers (..., 3), got shape {data.shape}")
    rgb = data if isinstance(data, da.Array) else da.from_array(np.asarray(data))
    rgb = rgb.map_blocks(to_unit_float, dtype=np.float32)  # integers to [0, 1], lazily
    if path.lower().endswith(".ome.zarr"):
        units = [ngff_unit(str(u)) for u in meta.get("units") or ()] or None
        steps = write_zarr(rgb, path, ome=True, scale=meta.get("scale"), units=units, resume=False)
        for _ in steps:
            pass
        return [path]
    write_image(Path(path), rgb.compute(), "uint8")
    return [path]
