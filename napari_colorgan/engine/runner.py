"""Run a generator over the tiles of one 2-D plane, in batches, on one device."""

from __future__ import annotations

import os
import threading
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
import torch
from torch.nn import functional as F

from ..color import gray_to_lightness, lab_to_rgb_in_gamut
from ..models.contract import ColorModel, is_guided, model_device
from .precision import Precision, default_batch_size, resolve_precision
from .settings import TileSettings
from .spread import HINT_REACH, HintSpread
from .tiling import Tile, padded_shape, round_up, tile_grid

_EDGE_EPS = 1e-4  # regulariser of the edge-aware upsampling, for L / 100 in [0, 1]


def lightness_plane(gray: np.ndarray, multiple: int) -> torch.Tensor:
    """L in [0, 100] of a gray plane in [0, 1], as ``(1, 1, Yp, Xp)`` padded to ``multiple``.

    The padding replicates the last row and column; the pixels it adds are cropped
    from the output, and it is the same for a tile at the border as for the whole image.
    """
    L = gray_to_lightness(torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32)))
    py, px = padded_shape(gray.shape, multiple)
    return F.pad(L[None, None], (0, px - gray.shape[1], 0, py - gray.shape[0]), mode="replicate")


def plane_halo(model: ColorModel, render_scale: int = 1, halo: int | None = None) -> int:
    """Context, in input pixels, that makes a crop of the plane exact.

    With a render scale the model's halo counts low-resolution pixels; the bilinear
    upsampling and the edge-aware filter (two box filters of radius ``render_scale``)
    add a little at full resolution.
    """
    base = model.halo() if halo is None else halo
    if render_scale == 1:
        return round_up(base, model.stride)
    return round_up(base * render_scale + 3 * render_scale, model.stride * render_scale)


def colorize_plane(
    model: ColorModel,
    gray: np.ndarray,
    out: np.ndarray,
    *,
    tile_size: int | None = None,
    batch_size: int | None = None,
    halo: int | None = None,
    render_scale: int = 1,
    blend: str = "none",
    precision: str = "auto",
    hints: np.ndarray | None = None,
    code: np.ndarray | None = None,
    hint_reach: int = HINT_REACH,
) -> Iterator[tuple[int, int]]:
    """Colourise one gray plane into ``out``, yielding ``(tiles_done, tiles_total)``.

    Parameters
    ----------
    model : Generator
        On its device, in eval mode.
    gray : ndarray
        ``(Y, X)`` float32 intensities in [0, 1].
    out : ndarray
        ``(Y, X, 3)`` float32 array filled in place with sRGB in [0, 1].
    tile_size : int, optional
        Output pixels per tile side (rounded up to the model's stride); the
        halo of ``model.halo()`` pixels is added on each side and discarded.
        Default: :func:`~.precision.default_tile_size` for the device and precision.
    batch_size : int, optional
        Tiles per forward pass; default :func:`~.precision.default_batch_size`.
    halo : int, optional
        Context per side, rounded up to the stride; default ``model.halo()`` (exact).
    render_scale : {1, 2, 4}, optional
        Predict chroma at 1/``render_scale`` resolution, then upsample it guided by
        the full-resolution L (:func:`edge_aware_upsample`): about
        ``render_scale**2`` times fewer network pixels, L still exact.
    blend : {"none", "gaussian"}, optional
        - ``"none"``: keep each tile's centre; exact when the halo covers the
          receptive field (the default halo does).
        - ``"gaussian"``: average whole overlapping windows with Gaussian weights,
          as MONAI does; for a ``halo`` smaller than the receptive field.
    precision : {"auto", "float32", "bfloat16"}, optional
        Number format of the network (:func:`~.precision.resolve_precision`); the
        colour conversion runs in float32 whatever it is.
    hints, code : ndarray, optional
        A guided model's ``(Y, X, 3)`` hint maps and its colour code (see
        :mod:`napari_colorgan.guide`); hints are tiled with L, so tiles stay exact.
    hint_reach : int, optional
        Pixels over which each hint pulls the colour of similar lightness towards
        its own (:func:`~napari_colorgan.engine.spread.spread_hints`; ``colorize``
        mode); 0 leaves the hints to the network alone. The halo, given or default,
        grows by this much (plus 8).

    Yields
    ------
    (int, int)
        Tiles done and in all, once per batch: stop iterating to cancel.
    """
    tiles = TileSettings(tile_size, halo, batch_size, render_scale, blend, precision=precision)
    if hint_reach < 0:
        raise ValueError(f"hint_reach must be >= 0, got {hint_reach}")
    return plane_steps(model, gray, out, tiles, hints=hints, code=code, hint_reach=hint_reach)


def plane_steps(
    model: ColorModel,
    gray: np.ndarray,
    out: np.ndarray,
    tiles: TileSettings,
    *,
    hints: np.ndarray | None = None,
    code: np.ndarray | None = None,
    context: np.ndarray | None = None,
    hint_reach: int = HINT_REACH,
    region: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> Iterator[tuple[int, int]]:
    """:func:`colorize_plane` with its settings already checked, as ``tiles``.

    ``region`` (``((y0, y1), (x0, x1))``, starts on the stride) is the part of ``out``
    that must be filled; with render scale 1 and no blending the pixels outside it
    are left as they were (a lazy chunk's halo), otherwise all are computed.
    ``context`` is a context model's image code (:func:`~.context.image_code`).
    """
    render_scale, blend, halo = tiles.render_scale, tiles.blend, tiles.overlap
    if (hints is not None or code is not None) and not is_guided(model):
        raise ValueError("hints, a reference or samples need a guided model, e.g. 'guided'")
    if hints is not None and render_scale != 1:
        raise ValueError("hints are applied at full resolution: use render_scale=1")
    if hints is not None and hint_reach > 0 and model.mode == "colorize":
        if blend != "none":
            raise ValueError("hints are spread exactly only with blend='none'")
        model = HintSpread(model, hint_reach)
        if halo is not None:  # the caller's halo is the generator's context
            halo += model.margin
    halo = model.halo() if halo is None else round_up(halo, model.stride)
    run = _Run(model, tiles.batch_size, halo, (code, context), tiles.precision)
    tile_size = tiles.tile_size_on(run.device)
    if render_scale == 1 and blend == "none":  # fast path: each tile straight to RGB
        L = lightness_plane(gray, model.stride)
        if hints is not None:
            L = torch.cat([L, _pad_like(hints, L)], 1)

        def write_rgb(tile: Tile, L_window: torch.Tensor, pred_window: torch.Tensor) -> None:
            keep = (slice(None), *tile.keep)
            out[tile.target] = _to_rgb(model, L_window[:1][keep], pred_window[keep])

        yield from run.tiles(L, gray.shape, tile_size, write_rgb, region)
        return
    L = lightness_plane(gray, model.stride * render_scale)
    work = F.avg_pool2d(L, render_scale) if render_scale > 1 else L
    work_shape = tuple(-(-n // render_scale) for n in gray.shape)
    if hints is not None:
        work = torch.cat([work, _pad_like(hints, work)], 1)
    tile_size = max(1, tile_size // render_scale)
    colour = yield from _predict(run, work, work_shape, tile_size, blend)
    if render_scale > 1:
        colour = edge_aware_upsample(L, colour, render_scale)
    h, w = gray.shape
    out[...] = _to_rgb(model, L[0, :1, :h, :w], colour[0, :, :h, :w]).reshape(h, w, 3)


def _pad_like(maps: np.ndarray, L: torch.Tensor) -> torch.Tensor:
    """``(Y, X, C)`` maps as ``(1, C, Yp, Xp)`` zero-padded to L's padded plane."""
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32)).permute(2, 0, 1)[None]
    return F.pad(t, (0, L.shape[-1] - t.shape[-1], 0, L.shape[-2] - t.shape[-2]))


def _predict(
    run: _Run, L: torch.Tensor, shape: tuple[int, int], tile_size: int, blend: str
) -> Generator[tuple[int, int], None, torch.Tensor]:
    """The model's colour prediction for a whole plane, ``(1, C, Yp, Xp)``, tile by tile.

    ``"none"``: each tile's centre (crop-and-stitch, exact). ``"gaussian"``: whole
    windows averaged with Gaussian weights (sigma = window / 8, as MONAI), which hides
    seams when the halo is made smaller than the receptive field.
    """
    channels = 2 if run.model.mode == "colorize" else 3
    colour = torch.zeros((channels, *L.shape[-2:]))
    weight = torch.zeros((1, *L.shape[-2:]))
    lock = threading.Lock()

    def write(tile: Tile, L_window: torch.Tensor, pred_window: torch.Tensor) -> None:
        if blend == "none":
            keep = (slice(None), *tile.keep)
            colour[(slice(None), *tile.target)] = pred_window[keep].cpu()
            return
        g = _gaussian(pred_window.shape[-2:])
        with lock:  # windows overlap and tiles run in parallel
            colour[(slice(None), *tile.window)] += pred_window.cpu() * g
            weight[(slice(None), *tile.window)] += g

    yield from run.tiles(L, shape, tile_size, write, clip=blend == "none")
    if blend == "gaussian":
        colour /= weight.clamp_min(1e-12)
    return colour[None]


@cache
def _gaussian(shape: tuple[int, int]) -> torch.Tensor:
    axes = [torch.exp(-(((torch.arange(n) - (n - 1) / 2) / (n / 8)) ** 2) / 2) for n in shape]
    return (axes[0][:, None] * axes[1][None, :]).clamp_min(1e-3)


@cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """One long-lived pool per process: threads (and their malloc arenas) are reused."""
    return ThreadPoolExecutor(workers, thread_name_prefix="colorgan")


Write = Callable[[Tile, torch.Tensor, torch.Tensor], None]


class _Run:
    """One plane's forward passes: the model, its halo, codes and precision, and the batch
    that fits.

    The batch size is halved on each out-of-memory error and remembered after.
    """

    def __init__(
        self,
        model: ColorModel,
        batch_size: int | None,
        halo: int,
        codes: tuple[np.ndarray | None, np.ndarray | None],
        precision: str = "auto",
    ):
        self.model, self.batch_size, self.halo = model, batch_size, halo
        self.device = model_device(model)
        # the model's arguments after L: the guided code and the context code, if any
        codes = [
            None if c is None else torch.as_tensor(c, dtype=torch.float32, device=self.device)
            for c in codes
        ]
        while codes and codes[-1] is None:
            codes.pop()
        self.codes = tuple(codes)
        self.precision: Precision = resolve_precision(precision, self.device)
        self.window: tuple[int, int] = (0, 0)

    def tiles(
        self,
        L: torch.Tensor,
        shape: tuple[int, int],
        tile_size: int,
        write: Write,
        region: tuple[tuple[int, int], tuple[int, int]] | None = None,
        clip: bool = True,
    ) -> Iterator[tuple[int, int]]:
        """Run all tiles, yielding progress, with several batches in flight.

        On CPU two small forwards in parallel use the cores better than one forward's
        intra-op threads (docs/benchmarks.md). ``region`` limits the tiles to part of
        the plane (:func:`~.tiling.tile_grid`); with one window per forward and
        ``clip``, edge windows are clipped to the plane rather than slid inwards.
        """
        tiles = tile_grid(shape, tile_size, self.halo, self.model.stride, region)
        self.window = tuple(L[..., tiles[0].window[0], tiles[0].window[1]].shape[-2:])
        size = self.batch_size = self.batch_size or default_batch_size(
            self.precision, self.window, self.device
        )
        if size == 1 and clip:  # no batch to stack: edge windows clipped, fewer pixels
            tiles = tile_grid(shape, tile_size, self.halo, self.model.stride, region, uniform=False)
        # CPU: a forward per core; GPU: two batches in flight on their own CUDA streams, so
        # one batch's host-to-device copy overlaps the other's compute
        workers = (os.cpu_count() or 1) if self.device.type == "cpu" else 2
        batches = [tiles[i : i + size] for i in range(0, len(tiles), size)]
        pool = _pool(workers)
        in_flight: deque = deque()
        done = 0
        try:
            for batch in batches:
                in_flight.append(pool.submit(self.batch, L, batch, write))
                if len(in_flight) < workers:
                    continue
                done += in_flight.popleft().result()
                yield done, len(tiles)
            while in_flight:
                done += in_flight.popleft().result()
                yield done, len(tiles)
        finally:  # cancelled: drop what has not started, wait for what has
            for future in in_flight:
                future.cancel()
            for future in in_flight:
                if not future.cancelled():
                    future.exception()

    def batch(self, L: torch.Tensor, batch: list[Tile], write: Write) -> int:
        """Run one batch, split to the largest size that fits; the tiles done."""
        size = self.batch_size  # read once: another thread may lower it meanwhile
        if len(batch) > size:
            parts = [batch[i : i + size] for i in range(0, len(batch), size)]
            return sum(self.batch(L, part, write) for part in parts)
        try:
            if self.device.type == "cuda":
                with torch.cuda.stream(_worker_stream(self.device)):
                    return self._forward(L, batch, write)
            return self._forward(L, batch, write)
        except torch.cuda.OutOfMemoryError:
            if len(batch) == 1:
                h, w = self.window
                raise MemoryError(
                    f"out of memory on {self.device} with a single {h}x{w} window; "
                    "lower tile_size (--tile-size) or use device='cpu'"
                ) from None
            torch.cuda.empty_cache()
            self.batch_size = min(self.batch_size, len(batch) // 2)
            return self.batch(L, batch, write)

    def _forward(self, L: torch.Tensor, batch: list[Tile], write: Write) -> int:
        windows = torch.cat([L[..., t.window[0], t.window[1]] for t in batch])
        windows = windows.contiguous(memory_format=torch.channels_last)
        cuda = self.device.type == "cuda"
        if cuda:  # from pinned memory the copy runs asynchronously on this thread's stream
            windows = windows.pin_memory().to(self.device, non_blocking=True)
        # the network at its precision; colour conversion in float32: L stays exact
        pred = self.precision.forward(self.model, windows, *self.codes)
        with torch.inference_mode():
            for t, p, lw in zip(batch, pred.contiguous(), windows.contiguous()):
                write(t, lw, p)
        return len(batch)


_STREAMS = threading.local()


def _worker_stream(device: torch.device) -> torch.cuda.Stream:
    """This worker thread's own CUDA stream (work on separate streams can overlap)."""
    if getattr(_STREAMS, "stream", None) is None:
        _STREAMS.stream = torch.cuda.Stream(device)
    return _STREAMS.stream


def _to_rgb(model: ColorModel, L: torch.Tensor, pred: torch.Tensor) -> np.ndarray:
    """``(Y, X, 3)`` sRGB from L and the model's ab (kept L) or RGB prediction."""
    with torch.inference_mode():
        rgb = lab_to_rgb_in_gamut(L, pred) if model.mode == "colorize" else pred.clamp(0, 1)
        return rgb.permute(1, 2, 0).float().cpu().numpy()


def edge_aware_upsample(L: torch.Tensor, low: torch.Tensor, scale: int) -> torch.Tensor:
    """Upsample low-resolution colour to L's grid, its edges following L.

    Bilinear upsampling, then He et al.'s (2010) local linear filter of radius
    ``scale`` with L / 100 as the edge map, so chroma edges follow the
    full-resolution structure.
    """
    with torch.inference_mode():
        colour = F.interpolate(low, scale_factor=scale, mode="bilinear", align_corners=False)
        edges = L / 100

        def box(x: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(x, 2 * scale + 1, 1, scale, count_include_pad=False)

        mean_e, mean_c = box(edges), box(colour)
        var_e = box(edges * edges) - mean_e**2
        a = (box(edges * colour) - mean_e * mean_c) / (var_e + _EDGE_EPS)
        b = mean_c - a * mean_e
        return box(a) * edges + box(b)


def guided_upsample(L: torch.Tensor, low: torch.Tensor, scale: int) -> torch.Tensor:
    """Deprecated name of :func:`edge_aware_upsample` ("guided" now means hints only)."""
    warnings.warn(
        "guided_upsample is deprecated; use edge_aware_upsample",
        DeprecationWarning,
        stacklevel=2,
    )
    return edge_aware_upsample(L, low, scale)
