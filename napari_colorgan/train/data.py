"""Paired training patches (L in, colour out) cut from colour images."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..color import rgb_to_lab
from ..engine.context import block_view
from ..io.scaling import to_unit_float


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
    if kind == "video":
        raise ValueError(f"{source} is a video: load it with load_frames")
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
    return _cut(np.asarray(image), source, rows, cols)


def load_frames(
    source: str, *, every: int = 1, frames=(0.0, 1.0), rows=(0.0, 1.0), cols=(0.0, 1.0), base=None
) -> list[np.ndarray]:
    """Frames of a colour video (``"video:PATH"``) as float32 RGB in [0, 1].

    Parameters
    ----------
    every : int
        Keep every ``every``-th frame.
    frames : (float, float)
        The fraction of the clip to keep, e.g. ``(0, 0.5)`` for its first half.
    rows, cols : (float, float)
        As for :func:`load_source`.
    """
    try:
        import av
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"reading {source} needs PyAV: pip install 'napari-colorgan[train]'"
        ) from err
    path = Path(os.path.expandvars(source.partition(":")[2]))
    path = base / path if base and not path.is_absolute() else path
    with av.open(str(path)) as container:
        clip = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    n = len(clip)
    clip = clip[int(frames[0] * n) : int(frames[1] * n) : every]
    return [_cut(frame, source, rows, cols) for frame in clip]


def _cut(image: np.ndarray, source: str, rows, cols) -> np.ndarray:
    if image.ndim != 3 or image.shape[-1] < 3:
        raise ValueError(f"{source} is not a colour image (shape {image.shape})")
    image = image[..., :3]
    h, w = image.shape[:2]
    image = image[int(rows[0] * h) : int(rows[1] * h), int(cols[0] * w) : int(cols[1] * w)]
    return to_unit_float(image)


@dataclass(frozen=True)
class Augment:
    """Input-only augmentations that mimic scientific data; the target colour is unchanged.

    All are off by default and draw no random numbers when off.

    Parameters
    ----------
    gamma : float
        Log-uniform gamma in [1/gamma, gamma] applied to the gray input (1 = off).
    blur : float
        Largest Gaussian blur sigma, in pixels, of the gray input (defocus, seeing).
    noise : float
        Largest standard deviation of Gaussian noise, as a fraction of the range.
    bits : int
        Quantise the input to between 6 and ``bits`` bits of levels (e.g. 10): what is
        left of a 16-bit image whose signal filled only a small part of the
        detector's range once the percentile normalisation stretches it (0 = off).
    """

    gamma: float = 1.0
    blur: float = 0.0
    noise: float = 0.0
    bits: int = 0


class PatchSampler:
    """Random crops, flips and 90 degree rotations of colour images, as Lab batches.

    Images are drawn with probability proportional to ``weights`` (default: the
    square root of their area, so that one large slide does not drown the small
    photographs). Deterministic for a given ``seed``; :meth:`state` and
    :meth:`set_state` save and restore the random stream for an exact resume.
    With ``views``, each patch also comes with a context view (see :meth:`sample`).
    """

    def __init__(
        self,
        images,
        patch: int = 128,
        seed: int = 0,
        augment: Augment = Augment(),
        weights=None,
        views: bool = False,
    ):
        self.images = [torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1) for im in images]
        self.lightness = [rgb_to_lab(im[None])[0, 0] for im in self.images] if views else None
        small = [im for im in self.images if min(im.shape[1:]) < patch]
        if small:
            raise ValueError(
                f"patch size {patch} is larger than an image of shape {small[0].shape}"
            )
        if weights is None:
            weights = [float(im.shape[1] * im.shape[2]) ** 0.5 for im in self.images]
        weights = torch.as_tensor(weights, dtype=torch.float64)
        self.weights = weights / weights.sum()
        self.patch = patch
        self.augment = augment
        self.rng = torch.Generator().manual_seed(seed)

    def state(self) -> torch.Tensor:
        """The random stream's state (a uint8 tensor)."""
        return self.rng.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        """Continue the random stream from a :meth:`state`."""
        self.rng.set_state(state)

    def _crop(self, index: int | None = None) -> tuple[torch.Tensor, int]:
        rng, p = self.rng, self.patch
        if index is None:
            index = int(torch.multinomial(self.weights, 1, generator=rng))
        im = self.images[index]
        y = int(torch.randint(im.shape[1] - p + 1, (1,), generator=rng))
        x = int(torch.randint(im.shape[2] - p + 1, (1,), generator=rng))
        crop = im[:, y : y + p, x : x + p]
        crop = torch.rot90(crop, int(torch.randint(4, (1,), generator=rng)), dims=(1, 2))
        return (crop.flip(2) if torch.rand((), generator=rng) < 0.5 else crop), index

    def _view(self, index: int) -> torch.Tensor:
        """The context view (L, block means) of image ``index``: of all of it or, half of
        the time, of a random part of it (a quarter of each side or more, anywhere),
        flipped and turned at random. Any part of an image must give its code, so the
        code learns the image's kind, not where a patch lies in it."""
        L, rng = self.lightness[index], self.rng
        whole = torch.rand((), generator=rng) < 0.5
        sides = [
            n if whole else int(torch.randint(max(1, n // 4), n + 1, (1,), generator=rng))
            for n in L.shape
        ]
        y, x = (
            int(torch.randint(n - side + 1, (1,), generator=rng)) for n, side in zip(L.shape, sides)
        )
        view = block_view(L[y : y + sides[0], x : x + sides[1]])
        view = torch.rot90(view, int(torch.randint(4, (1,), generator=rng)))
        return view.flip(1) if torch.rand((), generator=rng) < 0.5 else view

    def sample(self, batch: int, rank: int = 0, world: int = 1, references: bool = False):
        """Return ``(L_input, L_true, ab_true)``, each ``(batch // world, C, patch, patch)``.

        Every process of a data-parallel run draws the same global batch and keeps
        its own ``rank``-th part, so the union over ranks is the single-process batch.
        With ``references``, a next item holds the ab of another crop of the same
        image per sample: the reference a guided generator learns to follow. A
        sampler made with ``views`` adds a last item: a list of each patch's context
        view, ``(h, w)`` L in [0, 100], as the engine makes them from a whole image
        (:func:`~napari_colorgan.engine.context.context_view`).
        """
        part = slice(rank * batch // world, (rank + 1) * batch // world)
        rgb, sources = self.crops(batch)
        lab = rgb_to_lab(rgb[part])
        L, ab = lab[:, :1], lab[:, 1:]
        out = (self._augment(L, batch, part), L, ab)
        if references:
            refs = [self._crop(i)[0] for i in sources]
            out += (rgb_to_lab(torch.stack(refs[part]))[:, 1:],)
        if self.lightness is not None:
            out += ([self._view(i) for i in sources][part],)
        return out

    def crops(self, n: int) -> tuple[torch.Tensor, list[int]]:
        """``n`` random RGB crops ``(n, 3, patch, patch)`` and the image each came from."""
        drawn = [self._crop() for _ in range(n)]
        return torch.stack([c for c, _ in drawn]), [i for _, i in drawn]

    def _draw(self, n: int, part: slice, *shape) -> torch.Tensor:
        return torch.rand(n, *shape, generator=self.rng)[part]

    def _augment(self, L: torch.Tensor, n: int, part: slice) -> torch.Tensor:
        a = self.augment
        x = L / 100
        if a.gamma != 1.0:
            g = torch.exp((self._draw(n, part, 1, 1, 1) * 2 - 1) * np.log(a.gamma))
            x = x.clamp_min(0) ** g
        if a.blur > 0:
            sigmas = self._draw(n, part) * a.blur
            x = torch.cat([_gaussian_blur(im[None], float(s)) for im, s in zip(x, sigmas)])
        if a.noise > 0:
            sigma = self._draw(n, part, 1, 1, 1) * a.noise
            noise = torch.randn((n, *x.shape[1:]), generator=self.rng)[part]
            x = (x + sigma * noise).clamp(0, 1)
        if a.bits:
            levels = 2.0 ** (6 + self._draw(n, part, 1, 1, 1) * max(a.bits - 6, 0)) - 1
            x = torch.round(x * levels) / levels
        return x * 100


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma < 0.3:
        return image
    radius = int(3 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=image.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    padded = F.pad(image, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, k.view(1, 1, 1, -1))
    return F.conv2d(out, k.view(1, 1, -1, 1))
