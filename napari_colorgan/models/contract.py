"""What the engine needs from a model, written down: :class:`ColorModel`.

The engine calls only what this protocol names. :class:`~.generator.Generator`
and the engine's :class:`~napari_colorgan.engine.spread.HintSpread` implement it
openly (they subclass it); any other wrapper may, or match it structurally.
This module is a leaf: it imports nothing of the package, so every module of
``models/`` and ``engine/`` may import it. :func:`~.registry.as_model` turns what
a user passes into a ColorModel.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class Architecture(Protocol):
    """The part of a model's architecture the engine reads.

    Attributes
    ----------
    mode : {"colorize", "translate"}
        What the network predicts (ab for the input's L, or sRGB).
    guided : bool
        Whether it reads hint maps and a colour code besides L.
    context : int
        Size of its image-level code; 0 for a model without one.
    """

    mode: str
    guided: bool
    context: int


class ColorModel(Protocol):
    """A colourisation network the tiled engine can run exactly.

    Attributes
    ----------
    arch : Architecture
        Its architecture (a :class:`~.generator.GeneratorConfig` for a generator).
    mode : {"colorize", "translate"}
        ``"colorize"`` predicts ab for the input's L; ``"translate"`` predicts sRGB.
    source : str or None
        The weights file it was loaded from (None when built in memory); a lazy
        graph ships the path to its workers instead of the pickled model, and an
        output records the file's digest.
    provenance : dict
        What it was trained on; a guided model's ``"code_prior"`` is what
        ``samples`` draws palettes from.
    """

    arch: Architecture
    mode: str
    source: str | None
    provenance: dict

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

    def state_dict(self) -> dict[str, Any]:
        """Its weights by name: an output made by a model without a file records their digest."""
        ...

    def __call__(
        self,
        x: torch.Tensor,
        code: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(N, 2 | 3, H, W)`` colour for ``(N, 1 | 4, H, W)`` L (and hint maps).

        Stateless: threads sharing one model call it at once (no hooks, no
        attribute set during a call).
        """
        ...

    def image_code(self, view: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` image codes of low-resolution L views; called when ``arch.context``."""
        ...

    def encode(self, L: torch.Tensor) -> torch.Tensor:
        """The bottleneck features of ``(N, 1, H, W)`` L: the domain check's input."""
        ...


def is_guided(model: ColorModel) -> bool:
    """True for a model that reads hint maps and a colour code."""
    return bool(model.arch.guided)


def model_device(model: ColorModel) -> torch.device:
    """The device of a model's weights, where its input must go."""
    return next(model.parameters()).device
