"""napari reader for zarr and OME-Zarr: grayscale inputs and our own colour results."""

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
    """Layers of a zarr store: a multiscale RGB layer for a colour result, else grayscale."""
    import dask.array as da
    import zarr

    from .io.readers import ome_multiscale, open_image

    if isinstance(path, list):
        path = path[0]
    path = Path(path)
    group = zarr.open(path, mode="r")
    multiscale = ome_multiscale(group) if isinstance(group, zarr.Group) else None
    name = path.name.split(".")[0]
    if multiscale and "c" in multiscale["axes"]:
        return [_colour_layer(group, multiscale, name, path)]
    if isinstance(group, zarr.Array) and group.ndim >= 3 and group.shape[-1] == 3:
        return [(da.from_zarr(group), {"name": name, "rgb": True}, "image")]
    image, scale = open_image(path)
    return [(image, {"name": name, **({"scale": scale} if scale else {})}, "image")]


def _colour_layer(group, multiscale: dict, name: str, path: Path) -> tuple:
    """An OME-Zarr with a channel axis as a multiscale RGB layer (channel moved last)."""
    import dask.array as da

    from .io.readers import check_finished, dataset_scale

    check_finished(group, path)
    channel = multiscale["axes"].index("c")
    levels = [
        da.moveaxis(da.from_zarr(group[d["path"]]), channel, -1) for d in multiscale["datasets"]
    ]
    scale = dataset_scale(multiscale, 0)
    meta = {"name": name, "rgb": True, "multiscale": len(levels) > 1}
    if scale:
        meta["scale"] = [s for i, s in enumerate(scale) if i != channel]
    data = levels if len(levels) > 1 else levels[0]
    return data, meta, "image"
