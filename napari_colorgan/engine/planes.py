"""Colourise an in-memory image plane by plane, with optional guidance per plane."""

from __future__ import annotations

import numpy as np

from ..io.scaling import to_unit_range
from .spread import HINT_REACH


def run_planes(
    image, net, low, high, settings, hints=None, code=None, follow=None, hint_reach=HINT_REACH
):
    """Colourise plane by plane into a new array, yielding tile progress.

    ``hints`` are hint maps of the whole image; ``follow(gray, index, out, hints)`` may
    return extra hint maps for a plane from what is done already (temporal mode);
    ``hint_reach`` is :func:`~napari_colorgan.engine.runner.colorize_plane`'s.
    """
    from .runner import colorize_plane

    tile_size, batch_size, overlap, render_scale, blend = settings
    lead = image.shape[:-2]
    planes = list(np.ndindex(lead)) if lead else [()]
    out = np.empty((*image.shape, 3), dtype=np.float32)
    done = 0
    for index in planes:
        gray = to_unit_range(np.asarray(image[index]), low, high)
        plane_hints = None if hints is None else hints[index]
        if follow is not None:
            plane_hints = follow(gray, index, out, plane_hints)
        steps = colorize_plane(
            net,
            gray,
            out[index],
            tile_size=tile_size,
            batch_size=batch_size,
            halo=overlap,
            render_scale=render_scale,
            blend=blend,
            hints=plane_hints,
            code=code,
            hint_reach=hint_reach,
        )
        for tiles_done, per_plane in steps:
            yield done + tiles_done, per_plane * len(planes)
        done += per_plane
    return out
