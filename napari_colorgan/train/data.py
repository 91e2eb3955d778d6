"""Training patches: (gray input, colour truth) pairs cut from colour images or real pairs.

Every patch is read as a region of its source (:mod:`.sources`), placed by
:mod:`.sampling`, turned and flipped alike in input and truth; its gray input is the
truth's L or, for a real pair, the input image's lightness; input augmentations
then apply to the input alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..color import gray_to_lightness, rgb_to_lab
from ..engine.context import block_view
from ..io.scaling import to_unit_float
from ..matching import apply, lookup, pooled_quantiles
from .sampling import Placement, foreground_mask
from .sources import Pair, Source, named_image, video_frames


MATCH_SIDE = 256
"""Longest side of the view a training image's lookup comes from (see
:meth:`PatchSampler.formation_view`)."""


def load_source(source: str, *, rows=(0.0, 1.0), cols=(0.0, 1.0), base: Path | None = None):
    """Load a colour image whole as float32 RGB in [0, 1], keeping only a fraction of it.

    For held-out truths and small images; training reads its images by regions
    through :func:`~.sources.open_entry` instead.

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
    if source.partition(":")[0] == "video":
        raise ValueError(f"{source} is a video: load it with load_frames")
    return _cut(np.asarray(named_image(source, base)), source, rows, cols)


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
    path = Path(os.path.expandvars(source.partition(":")[2]))
    path = base / path if base and not path.is_absolute() else path
    return [_cut(frame, source, rows, cols) for frame in video_frames(path, every, frames)]


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
    formations : float
        Share of colour-only patches whose gray is drawn from the family of gray
        formations (:func:`~napari_colorgan.grays.random_grays`: luma, linear
        cameras with noise and vignetting, tone curves) instead of exact L* (0 = off).
    """

    gamma: float = 1.0
    blur: float = 0.0
    noise: float = 0.0
    bits: int = 0
    formations: float = 0.0


@dataclass
class Batch:
    """One batch of training patches (or one process's part of it).

    Attributes
    ----------
    inputs : Tensor ``(n, 1, p, p)``
        What the generator reads: L in [0, 100] of the gray input, augmented.
    cond : Tensor ``(n, 1, p, p)``
        The same input before input augmentations: what the discriminator is
        conditioned on and what colour is rendered with in ``colorize`` mode.
    L, ab : Tensor ``(n, 1, p, p)``, ``(n, 2, p, p)``
        The target's CIELAB. For a colour image alone ``cond`` is ``L``.
    references : Tensor ``(n, 2, p, p)`` or None
        The ab of another crop of each patch's image (guided training).
    views : list of Tensor or None
        Each patch's context view, ``(h, w)`` L in [0, 100].
    foreground : list of float
        Each patch's share of foreground (NaN where no mask is used).
    """

    inputs: torch.Tensor
    cond: torch.Tensor
    L: torch.Tensor
    ab: torch.Tensor
    references: torch.Tensor | None = None
    views: list | None = None
    foreground: list | None = None

    def pin_memory(self) -> Batch:
        """Page-locked copies, for the DataLoader's ``pin_memory`` on CUDA."""
        pinned = {
            k: v.pin_memory() if isinstance(v, torch.Tensor) else v
            for k, v in vars(self).items()
        }
        return Batch(**pinned)


def patch_seed(seed: int, index: int, j: int) -> int:
    """The seed of patch ``j`` of batch ``index``: every patch has a stream of its own, so a
    batch is the same whichever process draws it and whenever (workers, ranks, resume)."""
    x = seed
    for value in (index, j):  # splitmix64 steps: distinct, well-mixed seeds, in microseconds
        x = (x + value + 0x9E3779B97F4A7C15) & _U64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _U64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _U64
        x ^= x >> 31
    return x >> 1


_U64 = (1 << 64) - 1


class PatchSampler:
    """Random crops, flips and 90 degree rotations of training images, as Lab batches.

    Images are read by regions only (see :mod:`.sources`), drawn with probability
    proportional to ``weights`` (default: the square root of their area, so that one
    large slide does not drown the small photographs). Batch ``index`` is a function
    of ``seed`` and ``index`` alone (:meth:`batch`): worker processes, data-parallel
    ranks and a resumed run all draw the same patches.

    Parameters
    ----------
    images : list of Source, Pair or array-like
        Colour images (``(Y, X, 3)``, float in [0, 1] or integer), sources or pairs.
    patch : int
        Side of a patch, in pixels.
    seed : int
        Seed of every patch's random stream.
    augment : Augment
        Input-only augmentations.
    weights : list of float, optional
        Sampling weight per image.
    views : bool
        Give each patch a context view (see :meth:`batch`).
    min_foreground : float
        Draw only patches with at least this share of foreground (0: anywhere); the
        mask of each image comes from its low-resolution view, when first needed.
    reference : numpy.ndarray, optional
        A matched model's reference quantiles: every input is then matched onto them
        by the lookup of its own image under the same gray formation
        (:mod:`napari_colorgan.matching`), as the engine matches a whole input.
    """

    def __init__(
        self,
        images,
        patch: int = 128,
        seed: int = 0,
        augment: Augment = Augment(),
        weights=None,
        views: bool = False,
        min_foreground: float = 0.0,
        reference=None,
    ):
        self.sources = [
            im if isinstance(im, (Source, Pair)) else Source(im, f"array{tuple(im.shape)}")
            for im in images
        ]
        small = [s for s in self.sources if min(s.shape) < patch]
        if small:
            raise ValueError(
                f"patch size {patch} is larger than {small[0].name}, of {small[0].shape[0]} "
                f"x {small[0].shape[1]} pixels; lower patch"
            )
        if not 0 <= min_foreground < 1:
            raise ValueError(f"min_foreground must be in [0, 1), got {min_foreground}")
        if weights is None:
            weights = [float(s.shape[0] * s.shape[1]) ** 0.5 for s in self.sources]
        weights = torch.as_tensor(weights, dtype=torch.float64)
        self.weights = weights / weights.sum()
        self.patch, self.seed, self.augment = patch, seed, augment
        self.views, self.min_foreground = views, min_foreground
        self._placements: dict[int, Placement] = {}
        self._lightness: dict[int, torch.Tensor] = {}
        self._formation_views: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.reference = None if reference is None else np.asarray(reference, np.float64)
        self.drawn = 0  # batches drawn by :meth:`sample`

    # -- what each image gives once ---------------------------------------------------------

    def placement(self, i: int) -> Placement:
        """Where patches of image ``i`` may lie (its foreground mask, when one is asked for)."""
        if i not in self._placements:
            source = self.sources[i]
            mask, stride = None, 1
            if self.min_foreground > 0:
                view, stride = source.overview()
                mask = foreground_mask(view)
            self._placements[i] = Placement(
                source.shape, self.patch, mask, stride, self.min_foreground, source.name
            )
        return self._placements[i]

    def lightness(self, i: int) -> torch.Tensor:
        """The L of image ``i``'s input, from its overview (the whole of a small image)."""
        if i not in self._lightness:
            source = self.sources[i]
            if isinstance(source, Pair):
                view, _ = source.input.overview()
                L = gray_to_lightness(torch.from_numpy(view))
            else:
                view, _ = source.overview()
                L = rgb_to_lab(torch.from_numpy(view).permute(2, 0, 1)[None])[0, 0]
            self._lightness[i] = L
        return self._lightness[i]

    def formation_view(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``i``'s overview, strided to at most :data:`MATCH_SIDE` a side, as
        ``(1, 3, h, w)`` sRGB (None for a pair) and ``(1, 1, h, w)`` L: what a
        whole-image statistic of a gray made from it sees."""
        if i not in self._formation_views:
            L = self.lightness(i)
            step = max(1, -(-max(L.shape) // MATCH_SIDE))
            rgb = None
            if not isinstance(self.sources[i], Pair):
                view, _ = self.sources[i].overview()
                rgb = torch.from_numpy(np.ascontiguousarray(view[::step, ::step, :3]))
                rgb = rgb.permute(2, 0, 1)[None]
            self._formation_views[i] = rgb, L[::step, ::step][None, None]
        return self._formation_views[i]

    def reference_quantiles(self) -> np.ndarray:
        """The images' pooled L* quantiles, each counted by its sampling weight: a matched
        model's reference (:func:`~napari_colorgan.matching.pooled_quantiles`)."""
        views = [self.formation_view(i)[1].numpy() for i in range(len(self.sources))]
        return pooled_quantiles(views, self.weights.numpy())

    # -- batches ----------------------------------------------------------------------------

    def batch(self, index: int, n: int, part: slice = slice(None), references: bool = False):
        """Batch ``index`` of ``n`` patches, or its ``part`` (a data-parallel rank's share).

        Only the patches of ``part`` are read. With ``references``, each patch has the
        ab of another crop of its image: the reference a guided generator learns to
        follow. A sampler made with ``views`` gives each patch's context view, as the
        engine makes them from a whole image
        (:func:`~napari_colorgan.engine.context.context_view`).
        """
        drawn = [self._patch(self._stream(index, j), references) for j in range(n)[part]]
        rgb = torch.stack([d["rgb"] for d in drawn])
        lab = rgb_to_lab(rgb)
        L, ab = lab[:, :1], lab[:, 1:]
        grays = [d["gray"] for d in drawn]
        if any(g is not None for g in grays):  # a real pair's input is its own gray
            cond = torch.stack([L[k] if g is None else g for k, g in enumerate(grays)])
        else:
            cond = L
        if self.augment == Augment() and self.reference is None:  # the clean gray
            inputs = cond
        else:
            inputs = torch.stack([
                self._augment(c, d, d["rgb"] if g is None else None)
                for c, d, g in zip(cond, drawn, grays)
            ])
        refs = None
        if references:
            refs = rgb_to_lab(torch.stack([d["reference"] for d in drawn]))[:, 1:]
        views = [d["view"] for d in drawn] if self.views else None
        return Batch(inputs, cond, L, ab, refs, views, [d["foreground"] for d in drawn])

    def _stream(self, index: int, j: int) -> torch.Generator:
        return torch.Generator().manual_seed(patch_seed(self.seed, index, j))

    def _patch(self, rng: torch.Generator, references: bool) -> dict:
        i = int(torch.multinomial(self.weights, 1, generator=rng))
        source, place = self.sources[i], self.placement(i)
        y, x = place.draw(rng)
        turn, flip = _orientation(rng)
        p = self.patch
        if isinstance(source, Pair):
            rgb = _orient(_chw(source.target.read(y, x, p, p)), turn, flip)
            gray = gray_to_lightness(_orient(_chw(source.input.read(y, x, p, p)), turn, flip))
        else:
            rgb, gray = _orient(_chw(source.read(y, x, p, p)), turn, flip), None
        out = {"index": i, "rgb": rgb, "gray": gray, "rng": rng, "foreground": place.fraction(y, x)}
        if references:
            target = source.target if isinstance(source, Pair) else source
            ry, rx = place.draw(rng)
            out["reference"] = _orient(_chw(target.read(ry, rx, p, p)), *_orientation(rng))
        if self.views:
            out["view"] = self._view(i, rng)
        return out

    def _view(self, index: int, rng: torch.Generator) -> torch.Tensor:
        """The context view (L, block means) of image ``index``: of all of it or, half of
        the time, of a random part of it (a quarter of each side or more, anywhere),
        flipped and turned at random. Any part of an image must give its code, so the
        code learns the image's kind, not where a patch lies in it."""
        L = self.lightness(index)
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
        """The next batch (see :meth:`batch`) as a tuple ``(L_input, L_true, ab_true)``.

        Each ``(batch // world, C, patch, patch)``: every process of a data-parallel
        run keeps its own ``rank``-th part of the same global batch. With
        ``references`` a next item holds the reference ab; a sampler made with
        ``views`` adds a last item, the list of context views.
        """
        part = slice(rank * batch // world, (rank + 1) * batch // world)
        b = self.batch(self.drawn, batch, part, references)
        self.drawn += 1
        out = (b.inputs, b.L, b.ab)
        if references:
            out += (b.references,)
        return out + ((b.views,) if self.views else ())

    def crops(self, n: int, index: int = 0) -> tuple[torch.Tensor, list[int]]:
        """``n`` random RGB crops ``(n, 3, patch, patch)`` of the targets and the image each
        came from (batch ``index``'s draws)."""
        drawn = [self._patch(self._stream(index, j), False) for j in range(n)]
        return torch.stack([d["rgb"] for d in drawn]), [d["index"] for d in drawn]

    def _augment(
        self, L: torch.Tensor, d: dict, rgb: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Input-only augmentations of one drawn patch's L ``(1, p, p)`` (``d``, of
        :meth:`_patch`), from its stream. A gray formation makes the patch's image view
        the same way: its context view then comes from that view (a whole-image code
        sees the gray's tone curve), and with a reference the patch is matched through
        that view's lookup."""
        a, rng, i = self.augment, d["rng"], d["index"]
        view = None
        if a.formations > 0 and rgb is not None:  # a real pair's gray is left as it is
            from ..grays import random_grays

            if self.reference is None and not self.views:
                L = random_grays(rgb[None], L[None], rng, 1 - a.formations)[0]
            else:  # the image's view made the same way
                L, view = random_grays(
                    rgb[None], L[None], rng, 1 - a.formations, self.formation_view(i)
                )
                L = L[0]
                if self.views:
                    d["view"] = block_view(view[0, 0])
        if self.reference is not None:
            view = self.formation_view(i)[1] if view is None else view
            xp, fp = (torch.from_numpy(t) for t in lookup(view.numpy(), self.reference))
            L = apply(L, xp, fp)
        x = L / 100
        if a.gamma != 1.0:
            g = torch.exp((torch.rand((), generator=rng) * 2 - 1) * np.log(a.gamma))
            x = x.clamp_min(0) ** g
        if a.blur > 0:
            x = _gaussian_blur(x[None], float(torch.rand((), generator=rng)) * a.blur)[0]
        if a.noise > 0:
            sigma = torch.rand((), generator=rng) * a.noise
            x = (x + sigma * torch.randn(x.shape, generator=rng)).clamp(0, 1)
        if a.bits:
            levels = 2.0 ** (6 + torch.rand((), generator=rng) * max(a.bits - 6, 0)) - 1
            x = torch.round(x * levels) / levels
        return x * 100


def _chw(region: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(region))
    return t.permute(2, 0, 1) if t.ndim == 3 else t[None]


def _orientation(rng: torch.Generator) -> tuple[int, bool]:
    """A random quarter turn and flip."""
    return int(torch.randint(4, (1,), generator=rng)), bool(torch.rand((), generator=rng) < 0.5)


def _orient(t: torch.Tensor, turn: int, flip: bool) -> torch.Tensor:
    t = torch.rot90(t, turn, dims=(1, 2))
    return t.flip(2) if flip else t


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
