"""The image-level context code: one low-resolution view of the whole input, one code.

A context model (``GeneratorConfig.context > 0``) reads, besides each tile, a code
computed once per image from a view of all of it, so that every tile knows whether it
is H&E or IHC, sky or tissue. The view is the lightness averaged over blocks of
``s x s`` pixels, ``s`` the smallest stride that brings the longer side to at most
:data:`VIEW_SIDE` pixels; training draws its views the same way
(:meth:`~napari_colorgan.train.data.PatchSampler.sample`). A stack's code comes from
its middle plane. Dask and zarr inputs are read chunk by chunk, never whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..color import gray_to_lightness
from ..io.scaling import Intensity, to_unit_range
from ..models.contract import ColorModel, model_device

VIEW_SIDE = 128
"""Longest side of a context view, in pixels."""


def view_stride(shape: tuple[int, ...]) -> int:
    """The block size that brings an image of ``shape`` (..., Y, X) to its view."""
    return max(1, -(-max(shape[-2:]) // VIEW_SIDE))


def block_view(L: torch.Tensor) -> torch.Tensor:
    """The view of a ``(..., h, w)`` lightness tensor, by the same rule as
    :func:`context_view`: means over blocks of :func:`view_stride` pixels.

    Written with reshapes, so that in a traced graph (the export) the block size
    follows the input's size; training draws its views with it too.
    """
    h, w = L.shape[-2], L.shape[-1]
    s = (torch.maximum(torch.as_tensor(h), torch.as_tensor(w)) + VIEW_SIDE - 1) // VIEW_SIDE
    rows, cols = h // s, w // s
    if rows == 0 or cols == 0:  # smaller than one block along an axis: all of it
        return L
    blocks = L[..., : rows * s, : cols * s].reshape(*L.shape[:-2], rows, s, cols, s)
    return blocks.mean((-3, -1))


def context_view(image: Any, intensity: Intensity) -> np.ndarray:
    """The ``(h, w)`` float32 view, L in [0, 100], of ``image``'s middle plane.

    Parameters
    ----------
    image : array-like, shape (..., Y, X)
        numpy, dask or zarr; read in strips of whole blocks.
    intensity : Intensity
        The global range mapped to [0, 1], as for the tiles.
    """
    import dask.array as da

    from .lazy import as_dask, is_lazy

    plane = image[tuple(n // 2 for n in image.shape[:-2])]
    s = view_stride(plane.shape)
    h, w = (plane.shape[0] // s) * s, (plane.shape[1] // s) * s
    if h == 0 or w == 0:  # smaller than one block along an axis: one block of all of it
        s, h, w = 1, *plane.shape
    plane = as_dask(plane if is_lazy(plane) else np.asarray(plane))
    strips = plane[:h, :w].rechunk((max(s, (4 << 20) // max(w, 1) // s * s), w))

    def lightness(block: np.ndarray) -> np.ndarray:
        gray = torch.from_numpy(to_unit_range(block, *intensity))
        return gray_to_lightness(gray).numpy()

    L = strips.map_blocks(lightness, dtype=np.float32)
    return da.coarsen(np.mean, L, {0: s, 1: s}).compute(scheduler="threads").astype(np.float32)


def image_code(net: ColorModel, image: Any, intensity: Intensity) -> np.ndarray | None:
    """What a model reads of the whole ``image`` besides its tiles; None for most models.

    A context model's code (float32, ``(K,)``); a matched model's lookup (float32,
    ``(2, Q)``: :func:`~napari_colorgan.matching.image_lookup` of the whole image or
    stack, from a bounded read).
    """
    if getattr(net.arch, "matched", False):
        from ..matching import image_lookup

        return image_lookup(image, intensity, net.reference.cpu().numpy())
    if not getattr(net.arch, "context", 0):
        return None
    view = torch.from_numpy(context_view(image, intensity)).to(model_device(net))
    with torch.inference_mode():
        return net.image_code(view)[0].float().cpu().numpy()
