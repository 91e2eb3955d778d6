"""Spread colour hints into their surroundings: edge-aware, local, exact under tiling.

A guided network reads the hints as inputs, but a small network honours a few sparse
points only weakly. This step makes a hint hold: the difference between each hint
and the network's chroma at that pixel is carried to nearby pixels of similar
lightness and added to their chroma. The weight of hint pixel q at pixel p is a
Gaussian of their distance times a Gaussian of their L* difference, a bilateral
weight, computed on a stack of lightness levels (Durand and Dorsey 2002) at a
quarter of the resolution. Both Gaussians are truncated, so the step is a local
operator: a tile with ``reach`` more pixels of halo gives the same pixels as the
whole image.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from ..color import AB_SCALE
from ..models.contract import ColorModel
from .tiling import round_up

if TYPE_CHECKING:
    from ..models.generator import GeneratorConfig

HINT_REACH = 48  # default: pixels over which a hint's colour fades out
LEVEL_STEP = 10.0  # L* between lightness levels, and the sigma of the L* weight
_CELL = 4  # hints are pooled onto cells of 4 x 4 pixels before spreading


def spread_hints(
    L: torch.Tensor, hints: torch.Tensor, ab: torch.Tensor, reach: int
) -> torch.Tensor:
    """Chroma ``ab`` corrected towards the hints, in a neighbourhood of ``reach`` pixels.

    Parameters
    ----------
    L : torch.Tensor
        ``(N, 1, H, W)`` lightness in [0, 100]; H and W multiples of 4.
    hints : torch.Tensor
        ``(N, 3, H, W)`` hint a / 110, b / 110 and mask.
    ab : torch.Tensor
        ``(N, 2, H, W)`` the network's chroma.
    reach : int
        Distance in pixels at which a hint's pull has faded to nothing
        (spatial sigma ``reach / 3``).

    Returns
    -------
    torch.Tensor
        ``(N, 2, H, W)`` chroma equal to the hints at hinted pixels, pulled towards
        them nearby, and unchanged where no hint of similar lightness is within reach.
    """
    mask = hints[:, 2:]
    if reach <= 0 or not bool(mask.any()):
        return ab
    target = hints[:, :2] * AB_SCALE
    delta = (target - ab) * mask
    kernel = _kernel(reach / 3 / _CELL, math.ceil(reach / _CELL), L)
    num = torch.zeros_like(ab)
    den = torch.zeros_like(mask)
    for level in torch.arange(0, 100 + LEVEL_STEP, LEVEL_STEP).tolist():
        near = ((L - level) / LEVEL_STEP).abs()
        source = torch.exp(-(near**2) / 2) * (near <= 2.5) * mask  # hints of this L*
        if not bool(source.any()):
            continue
        at = (1 - near).clamp_min(0)  # pixels of this L*, linear between levels
        if not bool(at.any()):
            continue
        pooled = F.avg_pool2d(torch.cat([delta * source, source], 1), _CELL) * _CELL**2
        spread = F.interpolate(_blur(pooled, kernel), scale_factor=_CELL, mode="bilinear")
        num += at * spread[:, :2]
        den += at * spread[:, 2:]
    strength = 1 - torch.exp(-den)  # ~1 within a hint's own few pixels, fading out
    pulled = ab + strength * num / den.clamp_min(1e-6)
    return torch.where(mask > 0, target, pulled)


def _kernel(sigma: float, radius: int, like: torch.Tensor) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
    return torch.exp(-((x / sigma) ** 2) / 2)


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with zero padding, per channel."""
    c, r = x.shape[1], kernel.numel() // 2
    x = F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(r, 0), groups=c)
    return F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, r), groups=c)


class HintSpread(nn.Module, ColorModel):
    """A guided ``colorize`` generator followed by :func:`spread_hints`, with the halo
    that keeps tiling exact; a :class:`~napari_colorgan.models.contract.ColorModel`.

    Parameters
    ----------
    model : Generator
        A guided generator in ``colorize`` mode.
    reach : int
        See :func:`spread_hints`.
    """

    def __init__(self, model: ColorModel, reach: int):
        super().__init__()
        self.model, self.reach = model, reach
        self.source = None  # built in memory around the generator

    @property
    def arch(self) -> GeneratorConfig:
        return self.model.arch

    @property
    def mode(self) -> str:
        return self.model.mode

    @property
    def stride(self) -> int:
        """The generator's stride, and a multiple of the spread's pooled cells."""
        return math.lcm(self.model.stride, _CELL)

    @property
    def margin(self) -> int:
        """Context the spread adds to the generator's: the reach and two pooled cells."""
        return self.reach + 2 * _CELL

    def halo(self) -> int:
        """The generator's halo plus :attr:`margin`."""
        return round_up(self.model.halo() + self.margin, self.stride)

    def forward(self, x: torch.Tensor, *codes: torch.Tensor | None) -> torch.Tensor:
        ab = self.model(x, *codes)  # the guided code, then a context code, if any
        if x.shape[1] == 1:
            return ab
        # in float32 even under autocast: the blurred hint mass overflows float16
        with torch.autocast(x.device.type, enabled=False):
            return spread_hints(x[:, :1].float(), x[:, 1:].float(), ab.float(), self.reach)
