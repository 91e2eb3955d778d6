"""What the tiler needs from a model, written down: :class:`ColorModel`, and :func:`as_model`.

The engine calls only what this protocol names. :class:`~.generator.Generator`
and the engine's :class:`~napari_colorgan.engine.spread.HintSpread` implement it
openly (they subclass it); any other wrapper may, or match it structurally.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

    from .generator import GeneratorConfig


class ColorModel(Protocol):
    """A colourisation network the tiled engine can run exactly.

    Attributes
    ----------
    arch : GeneratorConfig
        Its architecture; ``arch.guided`` says whether it reads hints and a code.
    mode : {"colorize", "translate"}
        ``"colorize"`` predicts ab for the input's L; ``"translate"`` predicts sRGB.
    source : str or None
        The weights file it was loaded from (None when built in memory); a lazy
        graph ships the path to its workers instead of the pickled model.
    """

    arch: GeneratorConfig
    mode: str
    source: str | None

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this (the total downsampling)."""
        ...

    def halo(self) -> int:
        """Context per side, in input pixels, that makes a crop of the output exact."""
        ...

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """Its weights; the first one's device is where the tiles are sent."""
        ...

    def __call__(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, 2 | 3, H, W)`` colour for ``(N, 1 | 4, H, W)`` L (and hint maps)."""
        ...


def as_model(model: str | os.PathLike | ColorModel, device: str = "auto") -> ColorModel:
    """The one entry from what a user passes to a runnable model.

    Parameters
    ----------
    model : str, path or ColorModel
        A shipped model's name, a ``.safetensors`` path (loaded and cached by
        :func:`~.registry.load_model`), or a model already loaded, used as it is.
    device : str
        Where a loaded model goes: ``"auto"``, ``"cpu"``, ``"cuda:N"`` or ``"mps"``.

    Raises
    ------
    TypeError
        For an object that is neither a name, a path nor a model.
    """
    if isinstance(model, (str, os.PathLike)):
        from .registry import load_model

        return load_model(model, device)
    missing = [name for name in ("arch", "mode", "stride", "halo") if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"model must be a name, a weights path or a generator; a {type(model).__name__} "
            f"has no {', '.join(missing)}"
        )
    return model


def is_guided(model: ColorModel) -> bool:
    """True for a model that reads hint maps and a colour code."""
    return bool(model.arch.guided)


def model_device(model: ColorModel) -> torch.device:
    """The device of a model's weights, where its input must go."""
    return next(model.parameters()).device
