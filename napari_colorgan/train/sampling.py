"""Where training patches are drawn: anywhere in an image, or where there is something to learn.

A foreground mask comes from a source's low-resolution view (Otsu thresholds on
lightness and on saturation: glass is bright and gray, tissue darker or coloured);
a :class:`Placement` then draws only patches whose share of foreground reaches a
minimum, in constant time per patch, from a table of the allowed positions.
"""

from __future__ import annotations

import numpy as np
import torch


def foreground_mask(rgb: np.ndarray) -> np.ndarray:
    """Foreground of a float RGB view ``(h, w, 3)`` in [0, 1]: darker or more saturated
    than Otsu's threshold of each.

    Returns
    -------
    ndarray of bool, ``(h, w)``
        All True for a view without contrast (one tone throughout).
    """
    from skimage.filters import threshold_otsu

    from ..color import rgb_to_lab

    lab = rgb_to_lab(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None])
    lightness = lab[0, 0].numpy()
    top, bottom = rgb.max(-1), rgb.min(-1)
    saturation = (top - bottom) / np.maximum(top, 1e-6)
    mask = np.zeros(lightness.shape, bool)
    for values, dark in ((lightness, True), (saturation, False)):
        if np.ptp(values) > 1e-3:
            t = threshold_otsu(values)
            mask |= values < t if dark else values > t
    return mask if mask.any() else np.ones(lightness.shape, bool)


class Placement:
    """Top-left corners of ``patch``-pixel patches in an image of ``shape``.

    Parameters
    ----------
    shape : (int, int)
        The image's (window's) rows and columns.
    patch : int
        The patch side, in pixels.
    mask : ndarray of bool, optional
        A foreground mask of a low-resolution view, one cell per ``stride`` pixels;
        None draws uniformly from every position (and the fraction is not known).
    stride : int
        Full-resolution pixels per mask cell.
    minimum : float
        The least share of foreground a drawn patch has (on the mask's grid).
    name : str
        The image's name, for errors.

    Raises
    ------
    ValueError
        When no patch reaches ``minimum``, naming the image and the best share.
    """

    def __init__(
        self, shape, patch: int, mask=None, stride: int = 1, minimum: float = 0.0, name: str = ""
    ):
        self.shape, self.patch, self.stride = tuple(shape), patch, stride
        self.share = None
        if mask is None:
            return
        k = max(1, round(patch / stride))  # mask cells a patch covers along a side
        rows = max(1, (shape[0] - patch) // stride + 1)
        cols = max(1, (shape[1] - patch) // stride + 1)
        total = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1))
        total[1:, 1:] = mask.cumsum(0).cumsum(1)
        i, j = np.arange(rows)[:, None], np.arange(cols)[None, :]
        i1, j1 = np.minimum(i + k, mask.shape[0]), np.minimum(j + k, mask.shape[1])
        i, j = np.minimum(i, i1 - 1), np.minimum(j, j1 - 1)
        area = (i1 - i) * (j1 - j)
        self.share = (total[i1, j1] - total[i, j1] - total[i1, j] + total[i, j]) / area
        allowed = np.flatnonzero(self.share >= minimum - 1e-9)
        if allowed.size == 0:
            raise ValueError(
                f"{name}: no {patch}-pixel patch has {minimum:.0%} foreground (the most has "
                f"{self.share.max():.0%}); lower min_foreground"
            )
        self.allowed = torch.from_numpy(allowed)

    def draw(self, rng: torch.Generator) -> tuple[int, int]:
        """A random top-left corner ``(y, x)``."""
        h, w = self.shape
        p = self.patch
        if self.share is None:
            y = int(torch.randint(h - p + 1, (1,), generator=rng))
            x = int(torch.randint(w - p + 1, (1,), generator=rng))
            return y, x
        cell = int(self.allowed[int(torch.randint(len(self.allowed), (1,), generator=rng))])
        i, j = divmod(cell, self.share.shape[1])
        jitter = torch.randint(self.stride, (2,), generator=rng).tolist()
        return min(i * self.stride + jitter[0], h - p), min(j * self.stride + jitter[1], w - p)

    def fraction(self, y: int, x: int) -> float:
        """The share of foreground of the patch at ``(y, x)`` (NaN without a mask)."""
        if self.share is None:
            return float("nan")
        i = min(y // self.stride, self.share.shape[0] - 1)
        j = min(x // self.stride, self.share.shape[1] - 1)
        return float(self.share[i, j])
