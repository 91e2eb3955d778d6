"""Paired training patches (L in, colour out) cut from colour images."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..color import rgb_to_lab
from ..engine.io import to_unit_float


def load_source(source: str, *, rows=(0.0, 1.0), cols=(0.0, 1.0), base: Path | None = None):
    """Load a colour image as float32 RGB in [0, 1], keeping only a fraction of it.

    Parameters
    ----------
    source : str
        ``"skimage:NAME"`` (``skimage.data.NAME()``; for stereo pairs the left image),
        ``"sklearn:NAME.jpg"`` (a scikit-learn sample image) or a file path,
        relative to ``base`` when not absolute.
    rows, cols : (float, float)
        The fractions of rows and columns to keep, e.g. ``cols=(0, 0.6)`` for the
        left 60 %: how training and held-out parts of one image are separated.
    """
    kind, _, name = source.partition(":")
    if kind == "skimage":
        import skimage.data

        image = getattr(skimage.data, name)()
        if isinstance(image, tuple):
            image = image[0]
    elif kind == "sklearn":
        from sklearn.datasets import load_sample_image

        image = load_sample_image(name)
    else:
        import skimage.io

        path = Path(os.path.expandvars(source))
        image = skimage.io.imread(base / path if base and not path.is_absolute() else path)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] < 3:
        raise ValueError(f"{source} is not a colour image (shape {image.shape})")
    image = image[..., :3]
    h, w = image.shape[:2]
    image = image[int(rows[0] * h) : int(rows[1] * h), int(cols[0] * w) : int(cols[1] * w)]
    return to_unit_float(image)


@dataclass(frozen=True)
class Augment:
    """Input-only augmentations that mimic scientific data; the target colour is unchanged.

    Parameters
    ----------
    gamma : float
        Log-uniform gamma in [1/gamma, gamma] applied to the gray input (1 = off).
    noise : float
        Largest standard deviation of Gaussian noise added to the gray input.
    """

    gamma: float = 1.0
    noise: float = 0.0


class PatchSampler:
    """Random crops, flips and 90 degree rotations of colour images, as Lab batches.

    Images are drawn with probability proportional to the square root of their
    area, so that one large slide does not drown the small photographs.
    Deterministic for a given ``seed``.
    """

    def __init__(self, images, patch: int = 128, seed: int = 0, augment: Augment = Augment()):
        self.images = [torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1) for im in images]
        small = [im for im in self.images if min(im.shape[1:]) < patch]
        if small:
            raise ValueError(
                f"patch size {patch} is larger than an image of shape {small[0].shape}"
            )
        area = torch.tensor([im.shape[1] * im.shape[2] for im in self.images], dtype=torch.float64)
        self.weights = area.sqrt() / area.sqrt().sum()
        self.patch = patch
        self.augment = augment
        self.rng = torch.Generator().manual_seed(seed)

    def _crop(self) -> torch.Tensor:
        rng, p = self.rng, self.patch
        im = self.images[int(torch.multinomial(self.weights, 1, generator=rng))]
        y = int(torch.randint(im.shape[1] - p + 1, (1,), generator=rng))
        x = int(torch.randint(im.shape[2] - p + 1, (1,), generator=rng))
        crop = im[:, y : y + p, x : x + p]
        crop = torch.rot90(crop, int(torch.randint(4, (1,), generator=rng)), dims=(1, 2))
        return crop.flip(2) if torch.rand((), generator=rng) < 0.5 else crop

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(L_input, L_true, ab_true)``, each ``(batch, C, patch, patch)``."""
        rgb = torch.stack([self._crop() for _ in range(batch)])
        lab = rgb_to_lab(rgb)
        L, ab = lab[:, :1], lab[:, 1:]
        return self._augment(L), L, ab

    def _augment(self, L: torch.Tensor) -> torch.Tensor:
        a, rng, n = self.augment, self.rng, L.shape[0]
        if a.gamma != 1.0:
            g = torch.exp((torch.rand(n, 1, 1, 1, generator=rng) * 2 - 1) * np.log(a.gamma))
            L = 100 * (L / 100).clamp_min(0) ** g
        if a.noise > 0:
            sigma = torch.rand(n, 1, 1, 1, generator=rng) * a.noise * 100
            L = (L + sigma * torch.randn(L.shape, generator=rng)).clamp(0, 100)
        return L
