"""Image-quality metrics for colourisation against a colour ground truth."""

from __future__ import annotations

import numpy as np


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness of sRGB in [0, 1], on the 0..255 scale."""
    rgb = np.asarray(rgb, dtype=np.float64) * 255
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _unit_rgb(rgb: np.ndarray, name: str) -> np.ndarray:
    """float64 sRGB in [0, 1]: integers scaled by their type's maximum, floats checked."""
    rgb = np.asarray(rgb)
    if rgb.dtype.kind in "ui":
        return rgb.astype(np.float64) / np.iinfo(rgb.dtype).max
    if rgb.dtype.kind != "f":
        raise ValueError(f"{name} must be sRGB as floats in [0, 1] or integers, got {rgb.dtype}")
    rgb = rgb.astype(np.float64)
    if rgb.size and not (-0.01 <= np.nanmin(rgb) and np.nanmax(rgb) <= 1.01):
        raise ValueError(
            f"{name} must be sRGB in [0, 1], got values in [{np.nanmin(rgb):g}, "
            f"{np.nanmax(rgb):g}]; pass integers as they are, they are scaled"
        )
    return rgb


def evaluate(pred_rgb: np.ndarray, true_rgb: np.ndarray) -> dict[str, float]:
    """Compare a colourisation with the ground truth.

    Parameters
    ----------
    pred_rgb, true_rgb : ndarray
        ``(..., Y, X, 3)`` sRGB in [0, 1] of equal shape.

    Returns
    -------
    dict
        ``psnr`` (dB, RGB), ``ssim`` (RGB, mean over channels), ``delta_e2000``
        (mean CIEDE2000), ``colorfulness`` and ``colorfulness_true``
        (Hasler-Suesstrunk), and their ratio ``colorfulness_ratio``.
    """
    from skimage.color import deltaE_ciede2000, rgb2lab
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    pred, true = _unit_rgb(pred_rgb, "pred_rgb"), _unit_rgb(true_rgb, "true_rgb")
    if pred.shape != true.shape or pred.shape[-1] != 3:
        raise ValueError(
            f"expected two (..., 3) RGB arrays of one shape, got {pred.shape}, {true.shape}"
        )
    c_pred, c_true = colorfulness(pred), colorfulness(true)
    return {
        "psnr": float(peak_signal_noise_ratio(true, pred, data_range=1.0)),
        "ssim": float(structural_similarity(true, pred, data_range=1.0, channel_axis=-1)),
        "delta_e2000": float(deltaE_ciede2000(rgb2lab(true), rgb2lab(pred)).mean()),
        "colorfulness": c_pred,
        "colorfulness_true": c_true,
        "colorfulness_ratio": c_pred / c_true if c_true else float("nan"),
    }
