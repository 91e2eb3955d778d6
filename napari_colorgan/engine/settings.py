"""The settings of one colourisation, typed, frozen and checked once where they are built.

:class:`TileSettings` says how the image is cut and run (tile size, halo, batch,
blend, render scale, device); :class:`Guidance` says what steers the colours
(hints, a reference, sampled palettes, temporal follow). ``colorize`` builds both
from its keywords and hands them by name to the planes, the lazy graph and the
runner, so a value is followed by reading, not by counting tuple positions.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields
from typing import Any

from .precision import PRECISIONS, Precision, default_tile_size, resolve_precision
from .spread import HINT_REACH
from .tiling import BLENDS, RENDER_SCALES


@dataclass(frozen=True)
class TileSettings:
    """How an image is tiled and run.

    Parameters
    ----------
    tile_size : int or None
        Output pixels per tile side (rounded up to the model's stride); None is the
        measured default for the device and precision
        (:func:`~.precision.default_tile_size`). Tiles carry a halo of the model's
        receptive field, so the result equals a whole-image pass (no seams, no
        blending).
    overlap : int or None
        Halo in pixels per side; None is the model's own, which makes tiling exact.
    batch_size : int or None
        Tiles per forward pass; None picks it for the device and precision
        (:func:`~.precision.default_batch_size`).
    render_scale : {1, 2, 4}
        Predict chroma at 1/``render_scale`` resolution and upsample it along the
        full-resolution L's edges: much faster, L still exact, chroma a little
        softer (docs/benchmarks.md has the speed and the CIEDE2000 cost).
    blend : {"none", "gaussian"}
        - ``"none"``: crop-and-stitch, exact with the default ``overlap``.
        - ``"gaussian"``: overlapping windows averaged with Gaussian weights (as
          MONAI), for an ``overlap`` smaller than the receptive field; numpy only.
    device : str
        Where the model runs: ``"auto"`` (cuda, mps, cpu), ``"cpu"``, ``"cuda:N"``
        or ``"mps"``.
    precision : {"auto", "float32", "bfloat16"}
        Number format of the network's forward pass (:mod:`.precision`):
        ``"auto"`` is bf16 autocast on CPUs that compute bf16 natively, AMP on
        CUDA, float32 elsewhere; colour conversion always runs in float32.

    Raises
    ------
    ValueError
        For a value out of range, naming it.
    """

    tile_size: int | None = None
    overlap: int | None = None
    batch_size: int | None = None
    render_scale: int = 1
    blend: str = "none"
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("tile_size", "overlap", "batch_size", "render_scale"):
            _check_integer(name, getattr(self, name), optional=name != "render_scale")
        if self.overlap is not None and self.overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {self.overlap}")
        if self.tile_size is not None and self.tile_size < 1:
            raise ValueError(f"tile_size must be positive, got {self.tile_size}")
        if self.render_scale not in RENDER_SCALES:
            raise ValueError(
                f"render_scale must be one of {RENDER_SCALES}, got {self.render_scale}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(
                f"batch_size must be >= 1 (or None for automatic), got {self.batch_size}"
            )
        if self.blend not in BLENDS:
            raise ValueError(f"blend must be one of {BLENDS}, got {self.blend!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def check_for(self, stride: int) -> None:
        """Refuse a ``tile_size`` smaller than one cell of the model's grid.

        Tiles are whole multiples of ``stride`` times ``render_scale`` (the model's
        downsampling): anything smaller cannot be a tile.
        """
        minimum = stride * self.render_scale
        if self.tile_size is not None and self.tile_size < minimum:
            scale = f" times render_scale={self.render_scale}" if self.render_scale > 1 else ""
            raise ValueError(
                f"tile_size={self.tile_size} is below this model's minimum of {minimum} (its "
                f"stride {stride}{scale}); use at least {minimum}, or leave it unset for the "
                "device's default"
            )

    def precision_on(self, device: Any) -> Precision:
        """The precision these settings resolve to on ``device`` (a torch device)."""
        return resolve_precision(self.precision, device)

    def tile_size_on(self, device: Any) -> int:
        """``tile_size``, or the measured default for ``device`` and the precision there."""
        return self.tile_size or default_tile_size(self.precision_on(device))


@dataclass(frozen=True, eq=False)
class Guidance:
    """What steers a guided model's colours; all empty means an unguided run.

    Parameters
    ----------
    hints : list of ((coords), (r, g, b)) or (rgb image, mask), optional
        Colours the user knows: points with leading coordinates first and RGB in
        [0, 1], or a colour image with a boolean mask of the hinted pixels (see
        :func:`napari_colorgan.guide.hint_maps`).
    hint_reach : int
        Pixels over which a hint pulls the colour of similar lightness towards its
        own (an edge-aware spread after the network); 0 leaves hints to the
        network. It also carries ``temporal`` mode's colours to moved pixels.
    reference : array-like, shape (..., Y, X, 3), optional
        A colour image of the same kind whose palette the result should follow; the
        only guidance that also works on dask/zarr input (one code for every chunk).
    samples : int, optional
        Return this many (at least 2) plausible colourings stacked on a new first
        axis, each from a palette drawn from the model's prior.
    temporal : bool
        Colourise the first axis (time or z) in order, each plane guided by the
        previous result where the lightness has not changed: no flicker.
    seed : int
        Seed of the palettes drawn for ``samples``.
    """

    hints: Any = None
    hint_reach: int = HINT_REACH
    reference: Any = None
    samples: int | None = None
    temporal: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        _check_integer("hint_reach", self.hint_reach)
        _check_integer("samples", self.samples, optional=True)
        _check_integer("seed", self.seed)
        if self.hint_reach < 0:
            raise ValueError(f"hint_reach must be >= 0, got {self.hint_reach}")
        if self.samples is not None and self.samples < 2:
            raise ValueError(f"samples must be at least 2, got {self.samples}")

    @property
    def is_empty(self) -> bool:
        """True when nothing guides the run (any model will do)."""
        return (
            self.hints is None
            and self.reference is None
            and self.samples is None
            and not self.temporal
        )

    @property
    def per_plane(self) -> bool:
        """True when the guidance needs the whole image in memory (all but a reference)."""
        return self.hints is not None or self.samples is not None or self.temporal


def _check_integer(name: str, value: Any, optional: bool = False) -> None:
    """Refuse a setting that is not a whole number (a string, a float, a bool)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")


def settings_from(options: dict[str, Any]) -> tuple[TileSettings, Guidance]:
    """Split ``colorize``'s keywords into the tile settings and the guidance.

    Raises
    ------
    TypeError
        For a keyword that is neither, naming it.
    """
    tile_names = {f.name for f in fields(TileSettings)}
    guide_names = {f.name for f in fields(Guidance)}
    unknown = sorted(set(options) - tile_names - guide_names)
    if unknown:
        raise TypeError(f"unknown colorize option(s): {', '.join(unknown)}")
    tiles = TileSettings(**{k: v for k, v in options.items() if k in tile_names})
    guidance = Guidance(**{k: v for k, v in options.items() if k in guide_names})
    return tiles, guidance
