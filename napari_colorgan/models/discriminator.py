"""Conditional PatchGAN discriminator with spectral normalisation on every convolution."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..color import AB_SCALE


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Architecture of a :class:`PatchDiscriminator`.

    Parameters
    ----------
    width : int
        Channels of the first layer; doubled at each stride-2 layer up to 8x.
    depth : int
        Stride-2 layers. The default 3 gives the 70 px receptive field of pix2pix.
    in_channels : int
        3 for (L, a, b) or 4 for (L, R, G, B) in ``translate`` mode.
    """

    width: int = 32
    depth: int = 3
    in_channels: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


class PatchDiscriminator(nn.Module):
    """Scores overlapping patches of an (L, colour) pair as real or generated.

    Returns a list of the intermediate features and the final patch logits, so
    that the trainer can use discriminator feature matching without a second pass.
    """

    def __init__(self, config: DiscriminatorConfig = DiscriminatorConfig()):
        super().__init__()
        self.config = config
        layers, c_in, c = [], config.in_channels, config.width
        for i in range(config.depth + 1):
            stride = 2 if i < config.depth else 1
            layers.append(
                nn.Sequential(
                    spectral_norm(nn.Conv2d(c_in, c, 4, stride=stride, padding=1)),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
            c_in, c = c, min(c * 2, config.width * 8)
        self.features = nn.ModuleList(layers)
        self.logits = spectral_norm(nn.Conv2d(c_in, 1, 4, padding=1))

    def receptive_field(self) -> int:
        """Receptive field of one output logit, in input pixels."""
        rf, jump = 1, 1
        for i in range(self.config.depth + 2):
            rf += 3 * jump
            jump *= 2 if i < self.config.depth else 1
        return rf

    def forward(self, L: torch.Tensor, colour: torch.Tensor) -> list[torch.Tensor]:
        """Features of each layer, then logits, for L in [0, 100] and ab or RGB."""
        # both colour kinds to about [-1, 1]: ab / AB_SCALE, or RGB * 2 - 1
        colour = colour / AB_SCALE if colour.shape[1] == 2 else colour * 2 - 1
        x = torch.cat((L / 50 - 1, colour), dim=1)
        feats = []
        for layer in self.features:
            x = layer(x)
            feats.append(x)
        feats.append(self.logits(x))
        return feats
