"""The Colorize widget's settings: one typed record, kept between sessions as JSON.

:class:`ColorizeSettings` is what the widget shows and what it saves; a value
read back from disk is kept only when it has the field's type and still applies
on this machine (a weights file that still exists, a device that is present),
so a stale file never overrides what the widget shows.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ._geometry import CURRENT_SLICE, SCOPES

log = logging.getLogger(__name__)

SETTINGS_ENV = "NAPARI_COLORGAN_SETTINGS"  # a JSON path for the widget's last settings; "" off


def _default_reach() -> int:
    from .engine.spread import HINT_REACH

    return HINT_REACH


@dataclass(frozen=True)
class ColorizeSettings:
    """Every value of the Colorize widget that is kept between sessions.

    Parameters
    ----------
    model : str
        A shipped model's name or a ``.safetensors`` path; the widget's model
        dropdown shows it, a path as a choice of its own.
    intensity : {"auto", "percentiles", "linear"}
        How the layer's values map to lightness (``normalize`` of
        :func:`~napari_colorgan.colorize`); ``"linear"`` for a monochrome camera.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda:N"`` or ``"mps"``.
    tile_size : int
        Output pixels per tile side.
    precision : {"auto", "float32", "bfloat16"}
        Number format of the network.
    render_scale : {1, 2, 4}
        Chroma at full, half or quarter resolution.
    scope : {"current slice", "whole layer", "live"}
        What a press colourises.
    hint_reach : int
        Pixels over which a hint pulls similar pixels to its colour.
    samples : int
        Plausible colourings to draw (0: off, else at least 2).
    """

    model: str = "general"
    intensity: str = "auto"
    device: str = "auto"
    tile_size: int = 512
    precision: str = "auto"
    render_scale: int = 1
    scope: str = CURRENT_SLICE
    hint_reach: int = field(default_factory=_default_reach)
    samples: int = 0

    def updated(self, **values: Any) -> ColorizeSettings:
        """A copy with ``values`` replaced (the record itself never changes)."""
        return replace(self, **values)


def settings_path() -> Path | None:
    """Where the Colorize widget keeps its settings: napari's config folder.

    ``NAPARI_COLORGAN_SETTINGS`` names another file; set to "" it turns saving off.
    """
    chosen = os.environ.get(SETTINGS_ENV)
    if chosen is not None:
        return Path(chosen) if chosen else None
    from napari.settings import get_settings

    return Path(get_settings().config_path).parent / "napari-colorgan" / "colorize.json"


def load_settings(path: Path | None, devices: list[str], models: list[str]) -> ColorizeSettings:
    """The settings saved at ``path``, each value where it still applies, else the default.

    Parameters
    ----------
    path : Path or None
        The JSON file (None or missing: the defaults).
    devices, models : list of str
        The devices on this machine and the shipped models' names; a saved model
        that is neither one of them nor an existing file is dropped.
    """
    defaults = ColorizeSettings()
    try:
        saved = json.loads(path.read_text()) if path is not None else {}
    except (OSError, ValueError):  # none yet, or unreadable: the defaults stand
        return defaults
    if not isinstance(saved, dict):
        return defaults
    valid = {
        "model": lambda v: v in models or Path(v).is_file(),
        "intensity": lambda v: v in ("auto", "percentiles", "linear"),
        "device": lambda v: v in devices,
        "tile_size": lambda v: 64 <= v <= 8192,
        "precision": lambda v: v in ("auto", "float32", "bfloat16"),
        "render_scale": lambda v: v in (1, 2, 4),
        "scope": lambda v: v in SCOPES,
        "hint_reach": lambda v: 0 <= v <= 512,
        "samples": lambda v: v == 0 or 2 <= v <= 32,
    }
    kept = {}
    for f in fields(ColorizeSettings):
        value, kind = saved.get(f.name), type(getattr(defaults, f.name))
        if type(value) is kind and valid[f.name](value):
            kept[f.name] = value
    return replace(defaults, **kept)


def save_settings(path: Path | None, settings: ColorizeSettings) -> None:
    """Write ``settings`` atomically; a read-only config folder only logs."""
    from .io.atomic import atomic_write

    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(asdict(settings)))
    except OSError as err:
        log.info("Colorize settings not kept (%s)", err)
