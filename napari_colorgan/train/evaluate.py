"""Held-out evaluation of a model beside the trivial gray baseline."""

from __future__ import annotations

import numpy as np

from ..engine.pipeline import colorize, to_gray
from ..metrics import evaluate


def gray_baseline(rgb: np.ndarray) -> np.ndarray:
    """The image left gray (ab = 0) at its true lightness."""
    return np.repeat(to_gray(rgb)[..., None], 3, axis=-1)


def evaluate_model(model, images: dict[str, np.ndarray]) -> dict[str, dict[str, dict]]:
    """Metrics of ``model`` and of the gray baseline on each named colour image.

    Returns ``{image_name: {"model": metrics, "gray": metrics}}`` (see :func:`metrics.evaluate`).
    """
    results = {}
    for name, rgb in images.items():
        pred = colorize(to_gray(rgb), model, normalize="none")
        results[name] = {"model": evaluate(pred, rgb), "gray": evaluate(gray_baseline(rgb), rgb)}
    return results


def format_table(results: dict[str, dict[str, dict]]) -> str:
    """A plain-text table: one row per image and method."""
    keys = ("delta_e2000", "psnr", "ssim", "colorfulness_ratio")
    lines = [f"{'image':<34} {'method':<7} " + " ".join(f"{k:>18}" for k in keys)]
    for name, methods in results.items():
        for method, m in methods.items():
            lines.append(f"{name:<34} {method:<7} " + " ".join(f"{m[k]:>18.3f}" for k in keys))
    return "\n".join(lines)
