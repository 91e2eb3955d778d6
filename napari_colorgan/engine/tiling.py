"""Tile grid with a halo, aligned to the generator's stride: exact crop-and-stitch.

A window of ``tile + 2 * halo`` pixels is cut around each tile. Windows start on
multiples of the stride and all have one shape (edge windows slide inwards rather
than shrink), so they batch together; the image's own border stays a border, so
every kept pixel sees the same context as in a whole-image pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

RENDER_SCALES = (1, 2, 4)  # chroma at full, half or quarter resolution
BLENDS = ("none", "gaussian")  # crop-and-stitch, or MONAI-style weighted windows


def round_up(value: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``value``."""
    return math.ceil(value / multiple) * multiple


@dataclass(frozen=True)
class Tile:
    """One tile: its ``window`` (input slice) and where its centre goes in the output.

    ``window`` slices the stride-padded image; ``keep`` slices the window's
    prediction; ``target`` slices the output image.
    """

    window: tuple[slice, slice]
    keep: tuple[slice, slice]
    target: tuple[slice, slice]


def _axis(
    padded: int, tile: int, halo: int, lo: int, hi: int, stride: int, uniform: bool
) -> list[tuple[slice, slice, slice]]:
    window = min(tile + 2 * halo, padded)
    spans = []
    for start in range(lo, hi, tile):
        stop = min(start + tile, hi)
        if uniform:  # slide inwards at the edges: one window shape
            w0 = min(max(start - halo, 0), padded - window)
            w1 = w0 + window
        else:  # clip at the edges: no more pixels than the halo needs
            w0, w1 = max(start - halo, 0), min(round_up(stop, stride) + halo, padded)
        spans.append((slice(w0, w1), slice(start - w0, stop - w0), slice(start, stop)))
    return spans


def tile_grid(
    shape: tuple[int, int],
    tile_size: int,
    halo: int,
    stride: int,
    region: tuple[tuple[int, int], tuple[int, int]] | None = None,
    uniform: bool = True,
) -> list[Tile]:
    """Tiles covering a ``(Y, X)`` image, or the part of it in ``region``.

    Parameters
    ----------
    shape : (int, int)
        Image height and width.
    tile_size : int
        Output pixels per tile side; rounded up to a multiple of ``stride``.
    halo : int
        Context on each side, a multiple of ``stride`` (see ``Generator.halo``).
    stride : int
        The generator's total downsampling factor.
    region : ((int, int), (int, int)), optional
        ``((y0, y1), (x0, x1))``: cover only these pixels (starts a multiple of
        ``stride``), the windows still reaching into the rest of the image for their
        context; default the whole image.
    uniform : bool, optional
        True: every window has one shape (edge windows slide inwards), so windows
        batch together. False: edge windows are clipped to the image, which computes
        fewer pixels (a forward per window, as on the CPU).

    Returns
    -------
    list of Tile
        Windows index the image padded to :func:`padded_shape`.
    """
    if tile_size < 1:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    if halo % stride:
        raise ValueError(f"halo must be a multiple of the stride {stride}, got {halo}")
    tile = round_up(tile_size, stride)
    padded = padded_shape(shape, stride)
    (y0, y1), (x0, x1) = region or ((0, shape[0]), (0, shape[1]))
    if y0 % stride or x0 % stride:
        raise ValueError(f"region must start on multiples of the stride {stride}, got {region}")
    ys = _axis(padded[0], tile, halo, y0, y1, stride, uniform)
    xs = _axis(padded[1], tile, halo, x0, x1, stride, uniform)
    return [Tile((wy, wx), (ky, kx), (ty, tx)) for (wy, ky, ty), (wx, kx, tx) in product(ys, xs)]


def padded_shape(shape: tuple[int, int], stride: int) -> tuple[int, int]:
    """``shape`` rounded up to multiples of ``stride``, as the generator needs."""
    return round_up(shape[0], stride), round_up(shape[1], stride)
