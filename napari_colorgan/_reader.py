"""napari reader for zarr and OME-Zarr: grayscale inputs and our own colour results.

napari 0.5+ reads ``viewer.open(path)`` with its builtin reader unless a plugin is
named (``plugin="napari-colorgan"``) or preferred for ``*.ome.zarr`` in napari's
settings; the builtin reader ignores OME metadata (colour on a slider, no scale).
"""

from __future__ import annotations

from pathlib import Path


def get_reader(path):
    """Return a reader for a ``.zarr`` folder, or None for anything else (cheap check)."""
    if isinstance(path, list):
        path = path[0] if len(path) == 1 else None
    if path is None or not str(path).rstrip("/").lower().endswith(".zarr"):
        return None
    return read_zarr if Path(path).is_dir() else None


def read_zarr(path) -> list[tuple]:
    """Layers of a zarr store: a multiscale RGB layer for a colour result, else grayscale.

    A damaged or unfinished store raises a ValueError naming it (napari shows it).
    """
    import zarr

    from .io.ome_zarr import as_dask, check_finished, read_multiscale
    from .io.readers import open_image
    from .io.units import input_units

    if isinstance(path, list):
        path = path[0]
    path = Path(path)
    try:
        node = zarr.open(path, mode="r")
    except Exception as err:  # zarr raises several types for a folder that is not a store
        raise ValueError(f"cannot open {path} as zarr: {err}") from None
    name = path.name.split(".")[0]
    multiscale = read_multiscale(node, path) if isinstance(node, zarr.Group) else None
    if multiscale and "c" in multiscale.axes:
        channels = multiscale.arrays[0].shape[multiscale.axes.index("c")]
        if channels == 3:
            return [_colour_layer(node, multiscale, name, path)]
    if isinstance(node, zarr.Group) and "colorgan" in node.attrs and not multiscale:
        check_finished(node, path)  # our plain .zarr result: one (..., y, x, 3) array "0"
        if not isinstance(node.get("0"), zarr.Array):
            raise ValueError(f"{path} is a napari-colorgan result without its array '0'")
        node = node["0"]
    if isinstance(node, zarr.Array) and node.ndim >= 3 and node.shape[-1] == 3:
        return [(_displayable(as_dask(node, path)), {"name": name, "rgb": True}, "image")]
    image, scale = open_image(path)
    meta = {"name": name, **({"scale": scale} if scale else {})}
    units = input_units(path)
    if units:
        meta["units"] = [u or "pixel" for u in units]
    return [(image, meta, "image")]


def _colour_layer(group, multiscale, name: str, path: Path) -> tuple:
    """An OME-Zarr with three channels as a multiscale RGB layer (channel moved last)."""
    import dask.array as da

    from .io.ome_zarr import as_dask, check_finished
    from .io.units import ome_axis_units

    check_finished(group, path)
    channel = multiscale.axes.index("c")
    levels = [_displayable(da.moveaxis(as_dask(a, path), channel, -1)) for a in multiscale.arrays]
    scale = multiscale.scales[0]
    meta = {"name": name, "rgb": True, "multiscale": len(levels) > 1}
    if scale:
        meta["scale"] = [s for i, s in enumerate(scale) if i != channel]
    shift = _translation(group)
    if shift and len(shift) == len(multiscale.axes):
        meta["translate"] = [s for i, s in enumerate(shift) if i != channel]
    units = ome_axis_units(group, path)
    if units and len(units) == len(multiscale.axes):
        meta["units"] = [u or "pixel" for i, (u, _) in enumerate(units) if i != channel]
    meta["axis_labels"] = [a for i, a in enumerate(multiscale.axes) if i != channel]
    data = levels if len(levels) > 1 else levels[0]
    return data, meta, "image"


def _translation(group) -> list[float] | None:
    """The finest level's OME-Zarr ``translation`` transform, when there is one."""
    multiscales = dict(group.attrs.get("ome", {})).get("multiscales")
    multiscales = multiscales or group.attrs.get("multiscales")
    transforms = multiscales[0]["datasets"][0].get("coordinateTransformations", [])
    return next((t["translation"] for t in transforms if t.get("type") == "translation"), None)


def _displayable(rgb):
    """uint8 and float RGB as stored; other integers (uint16) as float32 in [0, 1], lazily."""
    import numpy as np

    from .io.scaling import to_unit_float

    if rgb.dtype == np.uint8 or rgb.dtype.kind == "f":
        return rgb
    return rgb.map_blocks(to_unit_float, dtype=np.float32)
