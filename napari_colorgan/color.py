"""Colour conversions in torch.

CIELAB uses the D65 illuminant and the 2-degree observer, as ``skimage.color``.
Ranges: L in [0, 100]; a and b roughly in [-AB_SCALE, AB_SCALE] = [-110, 110].
sRGB is float in [0, 1].
All conversions are differentiable and work on any batch shape, with the
channel axis chosen by the keyword-only ``channel_axis`` (default ``-3``,
i.e. ``(..., 3, Y, X)`` tensors as the networks use them).
"""

from __future__ import annotations

import torch

# sRGB primaries to CIE XYZ, and the D65 reference white (skimage's values).
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_EPSILON = 0.008856  # (6/29)**3, where the cube root gives way to a line
_KAPPA = 7.787
# a and b are divided by this wherever a network reads or writes chroma
AB_SCALE = 110.0
_RGB_FROM_XYZ = torch.linalg.inv(torch.tensor(_XYZ_FROM_RGB, dtype=torch.float64))


def _channels_last(x: torch.Tensor, channel_axis: int) -> torch.Tensor:
    if x.shape[channel_axis] != 3:
        raise ValueError(f"expected 3 channels on axis {channel_axis}, got shape {tuple(x.shape)}")
    return x.movedim(channel_axis, -1)


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c > 0.04045, ((c.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4, c / 12.92)


def _linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    return torch.where(
        c > 0.0031308, 1.055 * c.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, 12.92 * c
    )


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _EPSILON, t.clamp_min(_EPSILON) ** (1 / 3), _KAPPA * t + 16 / 116)


def _f_inv(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > 0.2068966, t**3, (t - 16 / 116) / _KAPPA)


def rgb_to_lab(rgb: torch.Tensor, *, channel_axis: int = -3) -> torch.Tensor:
    """Convert sRGB in [0, 1] to CIELAB (D65, 2 degree observer).

    Parameters
    ----------
    rgb : torch.Tensor
        Floating point sRGB values, 3 channels on ``channel_axis``.
    channel_axis : int, optional
        Axis of the colour channels.

    Returns
    -------
    torch.Tensor
        L in [0, 100], a and b, same shape and dtype as ``rgb``.
    """
    x = _channels_last(rgb, channel_axis)
    m = torch.tensor(_XYZ_FROM_RGB, dtype=x.dtype, device=x.device)
    white = torch.tensor(_WHITE_D65, dtype=x.dtype, device=x.device)
    xyz = _srgb_to_linear(x) @ m.T / white
    fx, fy, fz = _f(xyz).unbind(-1)
    lab = torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=-1)
    return lab.movedim(-1, channel_axis)


def lab_to_rgb(lab: torch.Tensor, *, channel_axis: int = -3) -> torch.Tensor:
    """Convert CIELAB to sRGB, without clipping.

    Out-of-gamut colours give values outside [0, 1]; use :func:`lab_to_rgb_in_gamut`
    to bring them inside while keeping L.

    Parameters
    ----------
    lab : torch.Tensor
        L in [0, 100], a, b; 3 channels on ``channel_axis``.
    channel_axis : int, optional
        Axis of the colour channels.

    Returns
    -------
    torch.Tensor
        sRGB, same shape and dtype as ``lab``.
    """
    x = _channels_last(lab, channel_axis)
    L, a, b = x.unbind(-1)
    fy = (L + 16) / 116
    f = torch.stack((fy + a / 500, fy, (fy - b / 200).clamp_min(16 / 116 - 1e-6)), dim=-1)
    white = torch.tensor(_WHITE_D65, dtype=x.dtype, device=x.device)
    linear = (_f_inv(f) * white) @ _RGB_FROM_XYZ.T.to(dtype=x.dtype, device=x.device)
    return _linear_to_srgb(linear).movedim(-1, channel_axis)


def lab_to_rgb_in_gamut(
    L: torch.Tensor, ab: torch.Tensor, *, steps: int = 12, channel_axis: int = -3
) -> torch.Tensor:
    """Convert L and ab to sRGB in [0, 1], reducing chroma where out of gamut.

    Each out-of-gamut pixel keeps its lightness and hue; its chroma is scaled
    down (:func:`fit_chroma`) until the colour fits in sRGB. The gray axis always
    fits, so L is kept exactly, unlike clipping RGB, which changes lightness.

    Parameters
    ----------
    L : torch.Tensor
        Lightness in [0, 100], one channel on ``channel_axis``.
    ab : torch.Tensor
        Chroma, two channels on ``channel_axis``.
    steps : int, optional
        Bisection steps; 12 gives the scale to 1/4096.
    channel_axis : int, optional
        Axis of the channels.

    Returns
    -------
    torch.Tensor
        sRGB in [0, 1], 3 channels on ``channel_axis``.
    """
    ab = fit_chroma(L, ab, steps=steps, channel_axis=channel_axis)
    rgb = lab_to_rgb(torch.cat((L, ab), dim=channel_axis), channel_axis=channel_axis)
    return rgb.clamp(0, 1)


def fit_chroma(
    L: torch.Tensor, ab: torch.Tensor, *, steps: int = 12, channel_axis: int = -3
) -> torch.Tensor:
    """ab with each out-of-gamut pixel's chroma scaled down until (L, ab) fits in sRGB.

    Hue and lightness are kept; the scale is found by bisection (``steps`` halvings)
    for the pixels outside alone. Arguments as for :func:`lab_to_rgb_in_gamut`.
    """
    tol = 1e-5
    L, ab = L.movedim(channel_axis, -1), ab.movedim(channel_axis, -1)

    def fits(scale):
        rgb = lab_to_rgb(torch.cat((L_out, ab_out * scale), dim=-1), channel_axis=-1)
        return ((rgb >= -tol) & (rgb <= 1 + tol)).all(dim=-1, keepdim=True)

    L_out, ab_out = L, ab
    outside = ~fits(1.0)[..., 0]
    if not bool(outside.any()):
        return ab.movedim(-1, channel_axis)
    L_out, ab_out = L.expand_as(ab[..., :1])[outside], ab[outside]
    lo, hi = torch.zeros_like(L_out), torch.ones_like(L_out)
    for _ in range(steps):
        mid = (lo + hi) / 2
        ok = fits(mid)
        lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
    ab = ab.clone()
    ab[outside] = ab_out * lo
    return ab.movedim(-1, channel_axis)


def gray_to_lightness(gray: torch.Tensor) -> torch.Tensor:
    """Lightness L in [0, 100] of the sRGB gray ``(g, g, g)`` for ``g`` in [0, 1]."""
    y = _srgb_to_linear(gray.clamp(0, 1))
    return 116 * _f(y) - 16


def lightness_to_gray(L: torch.Tensor) -> torch.Tensor:
    """The sRGB gray ``g`` in [0, 1] whose lightness is ``L``.

    The inverse of :func:`gray_to_lightness`.
    """
    return _linear_to_srgb(_f_inv((L + 16) / 116).clamp(0, 1))
