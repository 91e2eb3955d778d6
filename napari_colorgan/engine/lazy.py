"""Lazy colourisation of dask and zarr arrays: one task per chunk, halos from dask.

Chunks are aligned to the generator's stride and at least one halo wide; dask's
``overlap`` gathers each chunk's neighbours (no padding at the image border), and
every task colourises its block and keeps the centre. The result is exact, and
computing a slice reads only the chunks (and neighbours) it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io.scaling import Intensity, to_unit_range
from ..models.contract import ColorModel, model_device
from .settings import TileSettings
from .tiling import round_up

if TYPE_CHECKING:
    import dask.array as da
    import zarr


def is_lazy(image: Any) -> bool:
    """True for dask arrays and zarr arrays, which ``colorize`` returns lazily."""
    module = type(image).__module__
    return module.startswith("dask.") or module.startswith("zarr")


def as_dask(image: Any) -> Any:
    """A dask view of a dask, zarr or numpy array (zarr is read chunk by chunk)."""
    import dask.array as da

    if isinstance(image, da.Array):
        return image
    return da.from_array(image) if isinstance(image, np.ndarray) else da.from_zarr(image)


def aligned_chunks(image: Any, halo: int, stride: int, tile_size: int) -> Any:
    """Rechunk to one plane per chunk on leading axes and a regular, stride-aligned Y/X grid.

    The Y/X chunk size starts from the input's, rounded up to the stride and to at
    least one halo (dask's overlap needs it) and a quarter tile (per-task overhead),
    and grows by the stride until the last chunk is empty or at least one halo: a
    regular grid, so that the chunks match a zarr output's one to one.
    """
    chunks = {i: 1 for i in range(image.ndim - 2)}
    for axis in (image.ndim - 2, image.ndim - 1):
        length = image.shape[axis]
        size = round_up(max(max(image.chunks[axis]), halo, tile_size // 4, stride), stride)
        while size < length and 0 < length % size < halo:
            size += stride
        chunks[axis] = min(size, length)
    return image.rechunk(chunks)


def colorize_lazy(
    image: da.Array | zarr.Array,
    net: ColorModel,
    intensity: Intensity,
    tiles: TileSettings,
    *,
    code: np.ndarray | None = None,
    context: np.ndarray | None = None,
) -> da.Array:
    """Lazy ``(..., Y, X, 3)`` float32 colourisation of a dask/zarr array.

    ``intensity`` is the global ``(low, high)`` range already computed, ``tiles``
    the settings of :func:`~napari_colorgan.engine.pipeline.colorize` (blend
    ``"none"``), and ``code`` a guided model's colour code (a reference's palette),
    the same for every chunk, as is ``context``, a context model's image code.
    """
    import dask.array as da

    from .runner import plane_halo

    halo = plane_halo(net, tiles.render_scale, tiles.overlap)
    stride = net.stride * tiles.render_scale
    tile_size = tiles.tile_size_on(model_device(net))
    image = aligned_chunks(as_dask(image), halo, stride, tile_size)
    ndim = image.ndim
    depth = {i: 0 for i in range(ndim)}
    for axis in (ndim - 2, ndim - 1):
        if image.numblocks[axis] > 1:  # a single chunk needs no neighbours
            depth[axis] = halo
    grown = da.overlap.overlap(image, depth=depth, boundary="none")
    # a model from a file travels as its path and is loaded once per worker process
    # (load_model caches it); a model built in memory travels pickled with the graph
    model = (net.source, model_device(net).type) if net.source else net
    task = _BlockTask(intensity, tiles, depth, image.numblocks, code, context)
    return da.map_blocks(
        _colorize_block,
        grown,
        dtype=np.float32,
        chunks=(*image.chunks, (3,)),
        new_axis=ndim,
        meta=np.empty((0,) * (ndim + 1), np.float32),
        token="colorize",
        model=model,
        task=task,
    )


@dataclass(frozen=True, eq=False)
class _BlockTask:
    """What every chunk's task needs besides its pixels and the model."""

    intensity: Intensity
    tiles: TileSettings
    depth: dict[int, int]
    numblocks: tuple[int, ...]
    code: np.ndarray | None
    context: np.ndarray | None


def _colorize_block(
    block: np.ndarray, model: Any, task: _BlockTask, block_info: dict | None = None
) -> np.ndarray:
    """One task: colourise a chunk grown by its halo, return the chunk's own pixels."""
    from ..models.registry import load_model
    from .runner import plane_steps

    net = load_model(*model) if isinstance(model, tuple) else model
    where = block_info[0]["chunk-location"]
    ndim = block.ndim
    crop, region = [slice(None)] * (ndim - 2), []
    for axis in (ndim - 2, ndim - 1):
        first, last = where[axis] == 0, where[axis] == task.numblocks[axis] - 1
        pad, size = task.depth[axis], block.shape[axis]
        keep = (0 if first else pad, size if last else size - pad)
        crop.append(slice(*keep))
        region.append(keep)
    # the block carries its halo: at render scale 1, windows of the measured tile size
    # over its own pixels (cache-sized, as in memory), each reaching into the halo for
    # its context; otherwise one window for the whole block
    if task.tiles.render_scale == 1:
        tiles = replace(task.tiles, tile_size=task.tiles.tile_size_on(model_device(net)))
    else:
        tiles = replace(task.tiles, tile_size=max(block.shape[-2:]), overlap=None)
    out = np.empty((*block.shape, 3), np.float32)
    for index in np.ndindex(block.shape[:-2]):
        gray = to_unit_range(block[index], *task.intensity)
        steps = plane_steps(
            net, gray, out[index], tiles, code=task.code, context=task.context, region=tuple(region)
        )
        for _ in steps:
            pass
    return out[(*crop, slice(None))]
