"""Colour guidance for a guided generator: hint maps, reference codes, sampled codes.

A guided generator reads, besides L, three hint maps (a and b / AB_SCALE and a mask
of where a hint is) and a code of five numbers: a reference's mean a and b, their
spreads (all / AB_SCALE), and 1 when a reference is given. Hints are local inputs like
L, so tiling stays exact; the code is the same for every tile.
"""

from __future__ import annotations

import numpy as np
import torch

from .color import AB_SCALE, rgb_to_lab
from .io.scaling import to_unit_float

HINT_SIZE = 3  # a hint colours a 3 x 3 square, as the training hints do


def reference_code(rgb) -> np.ndarray:
    """The colour code of a reference image: mean and spread of its a, b, and 1.

    Parameters
    ----------
    rgb : array-like, shape (..., Y, X, 3)
        Colour reference, float in [0, 1] or integer.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim < 3 or rgb.shape[-1] not in (3, 4):
        raise ValueError(
            f"a reference must be a colour (..., Y, X, 3) image, got shape {rgb.shape}"
        )
    lab = rgb_to_lab(torch.from_numpy(to_unit_float(rgb[..., :3])), channel_axis=-1)
    ab = lab[..., 1:].reshape(-1, 2).double() / AB_SCALE
    return np.array([*ab.mean(0).tolist(), *ab.std(0).tolist(), 1.0], dtype=np.float32)


SIGNATURE_QUANTILES = (5, 25, 50, 75, 95)
"""Percentiles of a context view's lightness and edge strength that make a signature."""


def lightness_signature(view) -> np.ndarray:
    """The signature a palette prior conditions on: what a view's lightness is, and how
    it changes from pixel to pixel (quantiles of L and of its gradient's magnitude, / 100).

    Parameters
    ----------
    view : array-like, shape (h, w)
        L in [0, 100], as :func:`~napari_colorgan.engine.context.context_view` gives it.
    """
    view = np.asarray(view, dtype=np.float64)
    edges = np.hypot(*np.gradient(view)) if min(view.shape) > 1 else np.zeros(1)
    quantiles = [np.percentile(values, SIGNATURE_QUANTILES) for values in (view, edges)]
    return (np.concatenate(quantiles) / 100).astype(np.float32)


def sample_codes(prior: dict, k: int, seed: int = 0, signature=None) -> np.ndarray:
    """``k`` colour codes drawn from a model's prior of reference codes.

    Sampling the code and then colourising given it is ancestral sampling of
    p(code | image) p(colour | L, code): each draw is a plausible global palette, and
    the model places it on the image's structures. Given the image's
    :func:`lightness_signature`, and a prior that keeps its training crops (``codes``
    and the signatures of the images they came from, ``views``), the draw is from a
    kernel estimate of p(code | signature): crops of training images whose lightness
    resembles this one's; Gaussian kernels of Silverman's bandwidth (times the
    codes' covariance in code space). Otherwise, and for
    priors saved before crops were kept, from one Gaussian over all training crops.
    """
    rng = np.random.default_rng(seed)
    if signature is None or "views" not in prior:
        draws = rng.multivariate_normal(prior["mean"], prior["cov"], size=k)
    else:
        codes, views = np.asarray(prior["codes"]), np.asarray(prior["views"])
        n, dim = views.shape
        spread = views.std(0) + 1e-6
        d2 = (((views - np.asarray(signature)) / spread) ** 2).sum(1)
        h = (4 / ((dim + 2) * n)) ** (1 / (dim + 4))
        w = np.exp(-(d2 - d2.min()) / (2 * h**2))
        w /= w.sum()
        kernel = np.asarray(prior["cov"]) * h**2
        draws = codes[rng.choice(n, size=k, p=w)]
        draws = draws + rng.multivariate_normal(np.zeros(codes.shape[1]), kernel, size=k)
    draws[:, 2:] = np.abs(draws[:, 2:])  # spreads are positive
    return np.concatenate([draws, np.ones((k, 1))], 1).astype(np.float32)


def hint_maps(shape: tuple[int, ...], hints) -> np.ndarray:
    """Hint maps ``(..., Y, X, 3)`` (a / AB_SCALE, b / AB_SCALE, mask) from a user's hints.

    Parameters
    ----------
    shape : tuple of int
        The gray image's shape ``(..., Y, X)``.
    hints : list of ((coords), (r, g, b)) or (rgb image, mask)
        Points with leading coordinates first and RGB in [0, 1]; each colours a
        3 x 3 square. Or a colour image of the image's shape plus ``(..., 3)``
        with a boolean mask of the pixels that are hints.
    """
    maps = np.zeros((*shape, 3), dtype=np.float32)
    if isinstance(hints, tuple) and len(hints) == 2 and np.ndim(hints[1]) == len(shape):
        rgb, mask = np.asarray(hints[0]), np.asarray(hints[1], dtype=bool)
        if rgb.shape != (*shape, 3) or mask.shape != tuple(shape):
            raise ValueError(
                f"hint image and mask must have shapes {(*shape, 3)} and {tuple(shape)}, "
                f"got {rgb.shape} and {mask.shape}"
            )
        maps[mask, :2] = _ab(rgb[mask])
        maps[mask, 2] = 1
        return maps
    r = HINT_SIZE // 2
    for item in hints:
        try:
            coords, colour = item
            coords = tuple(int(round(c)) for c in coords)
            colour = np.asarray(colour, dtype=np.float32).reshape(3)
        except (TypeError, ValueError):
            raise ValueError(f"a hint is ((coords...), (r, g, b)), got {item!r}") from None
        if len(coords) != len(shape) or not all(0 <= c < n for c, n in zip(coords, shape)):
            raise ValueError(f"hint at {coords} is outside the image of shape {tuple(shape)}")
        if colour.min() < 0 or colour.max() > 1:
            raise ValueError(f"hint colours are RGB in [0, 1], got {tuple(colour)}")
        y, x = coords[-2:]
        window = (*coords[:-2], slice(max(y - r, 0), y + r + 1), slice(max(x - r, 0), x + r + 1))
        maps[window] = [*_ab(colour[None])[0], 1.0]
    return maps


def _ab(rgb: np.ndarray) -> np.ndarray:
    lab = rgb_to_lab(torch.from_numpy(np.asarray(rgb, dtype=np.float32)), channel_axis=-1)
    return (lab[..., 1:] / AB_SCALE).numpy()


def chroma_uncertainty(samples: np.ndarray) -> np.ndarray:
    """Per-pixel spread of chroma over colourings stacked on the first axis.

    Parameters
    ----------
    samples : ndarray, shape (k, ..., Y, X, 3)
        sRGB colourings, as ``colorize(..., samples=k)`` returns them.

    Returns
    -------
    ndarray, shape (..., Y, X)
        ``sqrt(var(a) + var(b))`` over the samples, in CIELAB units.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim < 4 or samples.shape[0] < 2 or samples.shape[-1] != 3:
        raise ValueError(f"expected (k >= 2, ..., Y, X, 3) colourings, got shape {samples.shape}")
    ab = rgb_to_lab(torch.from_numpy(samples), channel_axis=-1)[..., 1:]
    return ab.var(0, unbiased=False).sum(-1).sqrt().numpy()
