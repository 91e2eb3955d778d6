"""Run a generator over the tiles of one 2-D plane, in batches, on one device."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.nn import functional as F

from ..color import gray_to_lightness, lab_to_rgb_in_gamut
from .tiling import Tile, padded_shape, round_up, tile_grid

_CPU_PIXELS_PER_BATCH = 1 << 20  # about 1 MP of windows per forward keeps caches warm


def lightness_plane(gray: np.ndarray, stride: int) -> torch.Tensor:
    """L in [0, 100] of a gray plane in [0, 1], as ``(1, 1, Yp, Xp)`` padded to ``stride``.

    The padding replicates the last row and column; the pixels it adds are cropped
    from the output, and it is the same for a tile at the border as for the whole image.
    """
    L = gray_to_lightness(torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32)))
    py, px = padded_shape(gray.shape, stride)
    return F.pad(L[None, None], (0, px - gray.shape[1], 0, py - gray.shape[0]), mode="replicate")


def default_batch_size(window: tuple[int, int], device: torch.device) -> int:
    """Windows per forward: bounded by pixels on CPU, by free memory on CUDA."""
    pixels = window[0] * window[1]
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(1, min(64, int(free * 0.5) // (pixels * 1024)))
    return max(1, _CPU_PIXELS_PER_BATCH // pixels)


def colorize_plane(
    model,
    gray: np.ndarray,
    out: np.ndarray,
    *,
    tile_size: int = 512,
    batch_size: int | None = None,
    halo: int | None = None,
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
    batch_size : int, optional
        Tiles per forward pass; default from the window size and free memory.
    halo : int, optional
        Context per side, rounded up to the stride; default ``model.halo()`` (exact).

    Yields
    ------
    (int, int)
        Tiles done and in all, once per batch: stop iterating to cancel.
    """
    device = next(model.parameters()).device
    L = lightness_plane(gray, model.stride)
    halo = model.halo() if halo is None else round_up(halo, model.stride)
    tiles = tile_grid(gray.shape, tile_size, halo, model.stride)
    window = L[..., tiles[0].window[0], tiles[0].window[1]].shape[-2:]
    batch_size = batch_size or default_batch_size(window, device)
    done = 0
    while done < len(tiles):
        batch = tiles[done : done + batch_size]
        try:
            _run_batch(model, L, batch, out, device)
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise MemoryError(
                    f"out of memory on {device} with a single {window[0]}x{window[1]} window; "
                    "lower tile_size (--tile-size) or use device='cpu'"
                ) from None
            batch_size //= 2  # back off and retry the same tiles
            torch.cuda.empty_cache()
            continue
        done += len(batch)
        yield done, len(tiles)


def _run_batch(model, L: torch.Tensor, batch: list[Tile], out: np.ndarray, device) -> None:
    windows = torch.cat([L[..., t.window[0], t.window[1]] for t in batch])
    cuda = device.type == "cuda"
    if cuda:  # pinned host memory lets the copy overlap with queued work
        windows = windows.pin_memory().to(device, non_blocking=True)
    amp = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    with torch.inference_mode():
        with torch.autocast(device.type, dtype=amp, enabled=cuda):
            pred = model(windows)
        pred = pred.float()  # colour conversion in float32: L stays exact
        for t, p, lw in zip(batch, pred, windows):
            keep = (slice(None), *t.keep)
            if model.mode == "colorize":
                rgb = lab_to_rgb_in_gamut(lw[keep], p[keep])
            else:
                rgb = p[keep].clamp(0, 1)
            out[t.target] = rgb.permute(1, 2, 0).float().cpu().numpy()
