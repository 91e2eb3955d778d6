"""Colourise an in-memory image plane by plane, with optional guidance per plane."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from ..io.scaling import Intensity, to_unit_range
from ..models.contract import ColorModel
from .settings import TileSettings
from .spread import HINT_REACH

# follow(gray, index, out, hints) -> hints: extra hint maps from the planes done already
Follow = Callable[[np.ndarray, tuple[int, ...], np.ndarray, np.ndarray | None], np.ndarray | None]


def run_planes(
    image: Any,
    net: ColorModel,
    intensity: Intensity,
    tiles: TileSettings,
    *,
    hints: np.ndarray | None = None,
    code: np.ndarray | None = None,
    context: np.ndarray | None = None,
    follow: Follow | None = None,
    hint_reach: int = HINT_REACH,
) -> Generator[tuple[int, int], None, np.ndarray]:
    """Colourise plane by plane into a new array, yielding tile progress.

    ``intensity`` is the global ``(low, high)`` range mapped to [0, 1]; ``hints`` are
    hint maps of the whole image; ``context`` a context model's image code
    (:func:`~.context.image_code`), the same for every plane; ``follow`` may return
    extra hint maps for a plane from what is done already (temporal mode); ``hint_reach`` is
    :func:`~napari_colorgan.engine.runner.colorize_plane`'s.
    """
    from .runner import plane_steps

    lead = image.shape[:-2]
    planes = list(np.ndindex(lead)) if lead else [()]
    out = np.empty((*image.shape, 3), dtype=np.float32)
    done = 0
    for index in planes:
        gray = to_unit_range(np.asarray(image[index]), *intensity)
        plane_hints = None if hints is None else hints[index]
        if follow is not None:
            plane_hints = follow(gray, index, out, plane_hints)
        steps = plane_steps(
            net,
            gray,
            out[index],
            tiles,
            hints=plane_hints,
            code=code,
            context=context,
            hint_reach=hint_reach,
        )
        for tiles_done, per_plane in steps:
            yield done + tiles_done, per_plane * len(planes)
        done += per_plane
    return out
