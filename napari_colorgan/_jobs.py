"""What a press of Colorize runs, in the worker: a frozen snapshot and the job reading it.

:class:`ColorizeRun` holds every value a run uses, read from the widget once at
the press; :func:`colorize_job` is the worker's body. It reads the pixels, takes
the intensity statistics, loads the model, checks the domain and colourises,
yielding :class:`~napari_colorgan.engine.progress.Progress` from its first
moment, so napari's event loop never waits on any of it. Nothing here imports
Qt: the job runs (and is tested) without a viewer.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._geometry import LIVE, Plane, result_shape
from .engine.progress import Progress
from .engine.settings import TileSettings

PREPARING = ("reading", "model", "statistics")


@dataclass(frozen=True, eq=False)
class ColorizeRun:
    """One run of the Colorize widget, as it was when the button was pressed.

    Attributes
    ----------
    name : str
        The result layer's name.
    image : array-like
        The layer level that ``plane`` reads (numpy, dask or zarr; not yet read).
    statistics : array-like
        What the intensity range (and a matched model's lookup) comes from: the whole
        layer, or a multiscale layer's coarsest level; the same for a slice, the whole
        layer and live.
    plane : Plane
        Which part of ``image`` is colourised (:func:`~._geometry.choose_plane`).
    scope : {"current slice", "whole layer", "live"}
    model : str
        A shipped model's name or a weights path.
    normalize : str
        How the values map to [0, 1] (:func:`~napari_colorgan.io.scaling.intensity_range`).
    tiles : TileSettings
        Tile size, device, precision and render scale.
    hints : tuple or None
        ``((coordinates, rgb), ...)`` on what is read (:func:`~._geometry.hints_on`).
    hint_reach : int
    reference : array-like or None
        A colour layer's full-resolution pixels (not yet read).
    samples : int or None
        Colourings to draw (at least 2), or None.
    placed : dict
        The result layer's ``scale``, ``translate`` and, where the layer has them,
        ``axis_labels`` and ``units``.
    recolour : bool
        A hint edit: the result replaces the pixels of the layer called ``name``.
    """

    name: str
    image: Any
    statistics: Any
    plane: Plane
    scope: str
    model: str
    normalize: str
    tiles: TileSettings
    hints: tuple | None
    hint_reach: int
    reference: Any
    samples: int | None
    placed: dict
    recolour: bool = False


@dataclass(frozen=True, eq=False)
class ColorizeResult:
    """What a run hands to the widget: the colour and, with samples, their spread."""

    rgb: Any
    uncertainty: np.ndarray | None = None


def colorize_job(run: ColorizeRun) -> Generator[Progress, None, ColorizeResult]:
    """The worker's body: everything from reading the pixels to the last tile.

    Yields
    ------
    Progress
        ``reading``, ``model`` and ``statistics`` (one step each; the range comes
        after the model, whose reading of cameras it follows), then one per
        tile batch: the worker stops at any of them when cancelled.
    """
    from .engine.lazy import as_dask, is_lazy
    from .engine.pipeline import check_gray, colorize_steps, colorize_with, model_intensity
    from .engine.settings import Guidance
    from .models.registry import as_model

    steps = len(PREPARING)
    yield Progress("reading", 0, steps)
    check_gray(run.image)  # a boolean or empty layer is named before anything is read
    image = run.image[run.plane.key] if run.plane.index is not None else run.image
    if run.scope != LIVE and (run.plane.index is not None or run.hints or run.samples):
        image = np.asarray(image)  # one plane, or guidance that needs it in memory
    yield Progress("model", 1, steps)
    net = as_model(run.model, run.tiles.device)
    yield Progress("statistics", 2, steps)
    normalize = model_intensity(run.statistics, run.normalize, net)
    guidance = Guidance(
        hints=list(run.hints) if run.hints else None,
        hint_reach=run.hint_reach,
        reference=None if run.reference is None else np.asarray(run.reference),
        samples=run.samples,
    )
    yield Progress("statistics", 3, steps)
    if run.scope == LIVE:
        lazy = as_dask(image) if is_lazy(image) else _planes(image)
        whole = run.statistics  # a matched model's lookup: the same as for a slice
        return ColorizeResult(
            colorize_with(lazy, net, run.tiles, guidance, normalize=normalize, whole=whole)
        )
    rgb = yield from colorize_steps(image, net, run.tiles, guidance, normalize, run.statistics)
    if run.samples is None:
        return ColorizeResult(np.reshape(rgb, result_shape(run.plane, rgb.shape)))
    from .guide import chroma_uncertainty

    rgb = np.reshape(rgb, (rgb.shape[0], *result_shape(run.plane, rgb.shape[1:])))
    return ColorizeResult(rgb, chroma_uncertainty(rgb))


def _planes(image: np.ndarray) -> Any:
    """A numpy stack as a dask array of one chunk per plane, for live mode."""
    import dask.array as da

    return da.from_array(image, chunks=(1,) * (image.ndim - 2) + image.shape[-2:])
