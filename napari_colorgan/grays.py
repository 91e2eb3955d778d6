"""Gray formations: the ways instruments and tools make a gray image from colour.

A user's gray is rarely our CIELAB L*: a monochrome camera is linear in light, 12 to
16 bit, with a dark offset, shot and read noise and vignetting; most tools take luma
of the gamma-encoded RGB; displays and scanners use other tone curves. Models are
trained under a random draw of these (:func:`random_grays`) and judged under each
(:func:`make_gray`), so that their colour does not hang on one intensity curve.

Formations, by name (:func:`make_gray`):

- ``"lstar"``: the sRGB gray of the same CIELAB L*, float32 (:func:`~napari_colorgan.to_gray`).
- ``"luma"``: ITU-R BT.709 luma of the gamma-encoded RGB, uint8
  (``skimage.color.rgb2gray`` and most image tools).
- ``"linearB"`` (e.g. ``"linear12"``, ``"linear16"``): relative luminance of the
  linear RGB, as a B-bit camera records it: a dark offset, the signal filling most
  of the range, no noise.
- ``"gammaG"`` (e.g. ``"gamma0.7"``): the ``"lstar"`` gray to the power G, float32.
- ``"cameraB"`` (``"camera"`` = ``"camera12"``): a B-bit linear camera with shot noise
  (a full well of 4000 electrons), read noise, a dark offset and vignetting.
"""

from __future__ import annotations

import re

import numpy as np

#: The formations every shipped model is judged under (docs/evaluation.md).
FORMATIONS = (
    "lstar",
    "luma",
    "linear12",
    "linear16",
    "gamma0.6",
    "gamma0.8",
    "gamma1.25",
    "gamma1.6",
    "camera12",
)

_LUMA = np.array([0.2125, 0.7154, 0.0721])  # BT.709, as skimage.color.rgb2gray
_LUMINANCE = (0.2126729, 0.7151522, 0.0721750)  # relative luminance Y of linear sRGB


def _linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] to linear light."""
    import torch

    from .color import _srgb_to_linear

    return _srgb_to_linear(torch.from_numpy(np.clip(rgb, 0, 1))).numpy()


def _lstar(rgb: np.ndarray) -> np.ndarray:
    """The sRGB gray of the same CIELAB L*: :func:`~napari_colorgan.to_gray`."""
    from .engine.pipeline import to_gray

    return to_gray(rgb.astype(np.float32)).astype(np.float64)


def _vignette(shape: tuple[int, ...], strength: float) -> np.ndarray:
    """A radial falloff, 1 at the centre and ``1 - strength`` in the corners."""
    ys, xs = (np.linspace(-1, 1, n) for n in shape[-2:])
    r2 = (ys[:, None] ** 2 + xs[None, :] ** 2) / 2
    return 1 - strength * r2


def make_gray(rgb: np.ndarray, formation: str = "lstar", *, seed: int = 0) -> np.ndarray:
    """The gray image that ``formation`` makes of a colour image.

    Parameters
    ----------
    rgb : numpy.ndarray
        sRGB ``(..., Y, X, 3)``, float in [0, 1].
    formation : str, optional
        One of the formations of this module (see its docstring), e.g. ``"luma"``,
        ``"linear16"``, ``"gamma0.7"``, ``"camera12"``.
    seed : int, optional
        Seed of the noise of a ``"camera"`` formation.

    Returns
    -------
    numpy.ndarray
        ``(..., Y, X)``: float32 in [0, 1] (``lstar``, ``gamma``), uint8 (``luma``) or
        uint16 counts (``linear``, ``camera``), as the instrument or tool would write it.

    Raises
    ------
    ValueError
        For an unknown formation, naming the known ones.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected RGB (..., 3), got shape {rgb.shape}")
    kind, value = _parse(formation)
    if kind == "lstar":
        return _lstar(rgb).astype(np.float32)
    if kind == "luma":
        return np.rint(np.clip(rgb @ _LUMA, 0, 1) * 255).astype(np.uint8)
    if kind == "gamma":
        return (_lstar(rgb) ** value).astype(np.float32)
    bits = int(value)
    top = 2.0**bits - 1
    signal = _linear(rgb) @ np.array(_LUMINANCE)
    offset, gain = 0.03 * top, 0.9 * top  # dark level; a bright field fills 93 %
    if kind == "linear":
        counts = offset + gain * signal
    else:
        rng = np.random.default_rng(seed)
        electrons = 4000.0 * signal * _vignette(signal.shape, 0.35)
        electrons = rng.poisson(electrons) + rng.normal(0, 6.0, signal.shape)
        counts = offset + gain * electrons / 4000.0
    return np.clip(np.rint(counts), 0, min(top, 65535)).astype(np.uint16)


def _parse(formation: str) -> tuple[str, float]:
    match = re.fullmatch(r"(lstar|luma|linear|gamma|camera)([0-9.]*)", str(formation))
    if match is None:
        raise ValueError(
            f"unknown gray formation {formation!r}; known: lstar, luma, linearB "
            "(B bits, e.g. linear12), gammaG (e.g. gamma0.7), cameraB (e.g. camera12)"
        )
    kind, number = match.groups()
    if kind in ("lstar", "luma"):
        if number:
            raise ValueError(f"gray formation {formation!r} takes no number; use {kind!r}")
        return kind, 0.0
    try:
        value = float(number) if number else 12.0 if kind == "camera" else float("nan")
    except ValueError:
        value = float("nan")
    if kind == "gamma" and not 0.1 <= value <= 10:
        raise ValueError(f"gray formation {formation!r}: gamma must be in [0.1, 10], e.g. gamma0.7")
    if kind in ("linear", "camera") and value not in (8, 10, 12, 14, 16):
        raise ValueError(
            f"gray formation {formation!r}: bits must be 8, 10, 12, 14 or 16, e.g. {kind}12"
        )
    return kind, value


def random_grays(rgb, lightness, rng, lstar_share: float = 0.35, reference=None):
    """Training inputs: each patch's gray drawn from the family of formations.

    Parameters
    ----------
    rgb : torch.Tensor
        ``(N, 3, H, W)`` sRGB patches in [0, 1].
    lightness : torch.Tensor
        ``(N, 1, H, W)`` their CIELAB L* in [0, 100].
    rng : torch.Generator
        The sampler's random stream (so that a resumed run draws the same grays).
    lstar_share : float, optional
        Fraction of patches left at exact L*.
    reference : (torch.Tensor, torch.Tensor), optional
        ``(N, 3, h, w)`` sRGB and ``(N, 1, h, w)`` L* of a view of each patch's whole
        image, formed the same way as its patch (same draw, noise of its own): what a
        whole-image statistic of that gray sees.

    Returns
    -------
    torch.Tensor or (torch.Tensor, torch.Tensor)
        ``(N, 1, H, W)`` L in [0, 100] that the engine would make of the gray (read
        as sRGB, :func:`~napari_colorgan.color.gray_to_lightness`), and that of the
        views when ``reference`` is given. A patch is L*, luma with camera-like
        channel weights, or linear light, each under a random tone curve, then
        optionally vignetted, noisy (shot and read noise), quantised and stretched as
        a global 0.1/99.9 % normalisation would stretch it.
    """
    import torch

    from .color import _srgb_to_linear, gray_to_lightness, lightness_to_gray

    n = rgb.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, *shape, generator=rng)

    weights = torch.tensor(_LUMINANCE, dtype=torch.float64)
    # camera channel sensitivities: BT.709 weights jittered, renormalised
    jitter = torch.exp(uniform(-0.5, 0.5, 3)) * weights
    jitter = jitter / jitter.sum(1, keepdim=True)
    kind = torch.rand(n, generator=rng)
    gamma = torch.exp(uniform(np.log(0.5), np.log(2.0), 1, 1, 1))
    # vignetting: a radial falloff centred anywhere near the patch
    cy, cx, s = uniform(-2, 2, 1, 1), uniform(-2, 2, 1, 1), uniform(0, 0.12, 1, 1)
    # shot noise from a full well of 500 to 20000 electrons, and read noise
    well = torch.exp(uniform(np.log(500), np.log(20000), 1, 1, 1))
    read = uniform(0, 0.01, 1, 1, 1)
    noisy = _per(torch.rand(n, generator=rng) < 0.5)
    # the stretch of a global percentile normalisation: the patch's range is part of
    # the image's, offset and scaled
    low, high = uniform(-0.08, 0.05, 1, 1, 1), uniform(0.85, 1.15, 1, 1, 1)
    levels = 2.0 ** torch.randint(8, 17, (n, 1, 1, 1), generator=rng).double() - 1
    keep = _per(torch.rand(n, generator=rng) < lstar_share)

    def form(rgb, lightness):
        rgb = rgb.double().clamp(0, 1)
        lstar = lightness_to_gray(lightness.double())  # the sRGB gray of the same L*
        luma = torch.einsum("nchw,nc->nhw", rgb, jitter)[:, None]
        lin = torch.einsum("nchw,nc->nhw", _srgb_to_linear(rgb), jitter)[:, None]
        base = torch.where(_per(kind < 0.4), lin, torch.where(_per(kind < 0.75), luma, lstar))
        x = base.clamp_min(0) ** gamma
        h, w = x.shape[-2:]
        yy = torch.linspace(-1, 1, h, dtype=torch.float64)[:, None]
        xx = torch.linspace(-1, 1, w, dtype=torch.float64)[None, :]
        x = x * (1 - s[:, None] * ((yy - cy[:, None]) ** 2 + (xx - cx[:, None]) ** 2) / 4)
        shot = torch.randn(x.shape, generator=rng, dtype=torch.float64)
        x_noisy = x + shot * (x.clamp_min(0) / well).sqrt()
        x_noisy = x_noisy + torch.randn(x.shape, generator=rng, dtype=torch.float64) * read
        x = torch.where(noisy, x_noisy, x)
        x = ((x - low) / (high - low)).clamp(0, 1)
        x = torch.round(x * levels) / levels
        return torch.where(keep, lightness.float(), gray_to_lightness(x).float())

    if reference is None:
        return form(rgb, lightness)
    return form(rgb, lightness), form(*reference)


def _per(flags):
    """Per-patch flags ``(N,)`` broadcast over ``(N, 1, H, W)``."""
    return flags[:, None, None, None]
