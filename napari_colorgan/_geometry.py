"""Where a run reads, where its hints fall and where its result goes: pure functions.

Everything here is a function of a layer's level shapes, its scale and translate
(level 0's, in world units per pixel), the viewer's dims point (world
coordinates) and the scope chosen in the widget. A multiscale level ``k`` is
placed as napari draws it: its pixel ``i`` lies at level-0 pixel ``i * f``, ``f``
being the level's downsampling on that axis, with the layer's own translate.
Only scale and translate are followed (not rotate, shear or affine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CURRENT_SLICE, WHOLE_LAYER, LIVE = "current slice", "whole layer", "live"
SCOPES = (CURRENT_SLICE, WHOLE_LAYER, LIVE)

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Plane:
    """What a run reads of a layer.

    Attributes
    ----------
    level : int
        The pyramid level read (0 for a plain layer, and for the whole layer or live).
    index : tuple of int or None
        For a current slice of a stack, its index on the leading axes *at that
        level*; None when all of the level is read (a 2-D image, whole, live).
    factors : tuple of float
        The level's downsampling per axis against level 0 (all 1 at level 0).
    """

    level: int
    index: tuple[int, ...] | None
    factors: tuple[float, ...]

    @property
    def key(self) -> tuple:
        """The index into the level's array: the plane's leading index, then all of Y, X."""
        return () if self.index is None else self.index


def level_factors(shapes: Sequence[Shape], level: int) -> tuple[float, ...]:
    """Downsampling of ``shapes[level]`` against ``shapes[0]``, per axis."""
    return tuple(float(a) / float(b) for a, b in zip(shapes[0], shapes[level]))


def to_data(world: Sequence[float], scale: Sequence[float], translate: Sequence[float]):
    """Level-0 pixel coordinates of world coordinates (the layer's last axes)."""
    world = np.asarray(world, dtype=float)[-len(scale) :]
    return (world - np.asarray(translate, dtype=float)) / np.asarray(scale, dtype=float)


def choose_plane(
    shapes: Sequence[Shape],
    scale: Sequence[float],
    translate: Sequence[float],
    point: Sequence[float],
    scope: str,
    displayed_level: int = 0,
) -> Plane:
    """Which level, and which plane of it, a run of ``scope`` reads.

    Parameters
    ----------
    shapes : sequence of tuple of int
        The shape of every level, full resolution first (one for a plain layer).
    scale, translate : sequence of float
        The layer's level-0 world geometry, one value per axis.
    point : sequence of float
        The viewer's dims point in world coordinates (its last ``ndim`` values
        are the layer's axes).
    scope : {"current slice", "whole layer", "live"}
        A current slice is read at the level napari displays; the whole layer
        and live mode at full resolution.
    displayed_level : int
        The level napari displays (``layer.data_level``; 0 for a plain layer).

    Returns
    -------
    Plane
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if scope != CURRENT_SLICE:
        return Plane(0, None, (1.0,) * len(shapes[0]))
    level = min(max(int(displayed_level), 0), len(shapes) - 1)
    factors = level_factors(shapes, level)
    shape = shapes[level]
    if len(shape) == 2:
        return Plane(level, None, factors)
    lead = to_data(point, scale, translate)[:-2] / np.asarray(factors[:-2])
    index = tuple(int(np.clip(np.round(p), 0, n - 1)) for p, n in zip(lead, shape[:-2]))
    return Plane(level, index, factors)


def hints_on(
    plane: Plane,
    shape: Shape,
    scale: Sequence[float],
    translate: Sequence[float],
    points: np.ndarray,
    colours: np.ndarray,
) -> list[tuple[tuple[int, ...], tuple[float, float, float]]]:
    """The hints that fall on what ``plane`` reads, in its pixel coordinates.

    Parameters
    ----------
    plane : Plane
        From :func:`choose_plane`.
    shape : tuple of int
        The shape of the level read (``shapes[plane.level]``).
    scale, translate : sequence of float
        The layer's level-0 world geometry.
    points : ndarray, shape (n, ndim)
        The hint points in world coordinates.
    colours : ndarray, shape (n, 3 | 4)
        Their colours, RGB(A) in [0, 1].

    Returns
    -------
    list of ((int, ...), (float, float, float))
        ``(coordinates, rgb)`` for :class:`~napari_colorgan.engine.settings.Guidance`:
        2-D coordinates on a plane, all axes when the whole level is read. Points
        on other planes, or outside the image, are left out.
    """
    found = []
    for world, colour in zip(np.asarray(points, dtype=float), np.asarray(colours)):
        pixel = np.round(to_data(world, scale, translate) / np.asarray(plane.factors))
        if plane.index is not None:
            if tuple(int(v) for v in pixel[:-2]) != plane.index:
                continue
            pixel, bounds = pixel[-2:], shape[-2:]
        else:
            bounds = shape
        if all(0 <= v < n for v, n in zip(pixel, bounds)):
            rgb = tuple(float(c) for c in colour[:3])
            found.append((tuple(int(v) for v in pixel), rgb))
    return found


def placement(plane: Plane, scale: Sequence[float], translate: Sequence[float]) -> dict:
    """Where the result of ``plane`` goes: ``scale`` and ``translate`` on all the layer's axes.

    A current slice of a stack becomes a layer with one plane on each leading
    axis (shape ``(1, ..., 1, Y, X, 3)``) lying at its own world position, so it
    is shown at that plane only; a level above 0 has that level's pixel size.
    """
    scale = tuple(s * f for s, f in zip(scale, plane.factors))
    translate = tuple(float(t) for t in translate)
    if plane.index is not None:
        lead = tuple(t + i * s for t, i, s in zip(translate, plane.index, scale))
        translate = (*lead, *translate[len(lead) :])
    return {"scale": scale, "translate": translate}


def result_shape(plane: Plane, rgb_shape: Shape) -> Shape:
    """The result layer's shape: a slice's ``(Y, X, 3)`` gets its leading axes back (of 1)."""
    if plane.index is None:
        return tuple(rgb_shape)
    return (*(1,) * len(plane.index), *rgb_shape[-3:])


def describe(plane: Plane, scope: str, axis_labels: Sequence[str], multiscale: bool) -> str:
    """What the result shows, for its name: ``live``, ``whole``, a slice or a level preview."""
    if scope == LIVE:
        return "live"
    if plane.index is not None:
        where = ", ".join(
            str(i) if label.lstrip("-").isdigit() else f"{label}={i}"
            for label, i in zip(axis_labels, plane.index)
        )
        return f"slice {where}" + (f", level {plane.level}" if plane.level else "")
    if multiscale and scope == CURRENT_SLICE:
        return f"level {plane.level} preview"
    return "whole"
