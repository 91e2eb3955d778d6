"""Held-out evaluation of a model beside the baselines a sceptical reviewer asks for."""

from __future__ import annotations

import numpy as np

from ..engine.pipeline import colorize, to_gray
from ..grays import make_gray
from ..metrics import evaluate

# the columns of format_table, in order, where every row has them
_TABLE_KEYS = (
    "delta_e2000",
    "delta_e2000_chroma",
    "psnr",
    "ssim",
    "colorfulness_ratio",
    "ab_hist_distance",
    "two_sample_accuracy",
    "two_sample_accuracy_sd",
)


def gray_baseline(rgb: np.ndarray) -> np.ndarray:
    """The image left gray (ab = 0) at its true lightness."""
    return np.repeat(to_gray(rgb)[..., None], 3, axis=-1)


def mean_chroma_baseline(rgb: np.ndarray, mean_ab) -> np.ndarray:
    """The true lightness with one chroma everywhere: the training domain's mean (a, b)."""
    import torch

    from ..color import lab_to_rgb_in_gamut, rgb_to_lab

    L = rgb_to_lab(torch.from_numpy(np.asarray(rgb, np.float32)), channel_axis=-1)[..., :1]
    ab = torch.tensor(mean_ab, dtype=torch.float32).expand(*L.shape[:-1], 2)
    return lab_to_rgb_in_gamut(L, ab, channel_axis=-1).numpy()


def evaluate_model(
    model,
    images: dict[str, np.ndarray],
    *,
    mean_ab=None,
    regression=None,
    two_sample=False,
    gray: str = "lstar",
    normalize: str | tuple[float, float] = "auto",
) -> dict:
    """Metrics of ``model`` and of the baselines on each named colour image.

    Parameters
    ----------
    model : Generator, str or path-like
    images : dict of str to ndarray
        Colour ground truth, RGB in [0, 1].
    mean_ab : (float, float), optional
        Chroma of the ``mean-chroma`` baseline; by default the one recorded in
        the model's provenance (its training data's mean), if any.
    regression : Generator, str or path-like, optional
        The same-size L1-only U-Net trained with the same budget (``l1-unet`` row).
    two_sample : bool, default False
        Also run the classifier two-sample test on every row (a few seconds per
        row; see :func:`metrics.two_sample_accuracy`).
    gray : str, default "lstar"
        How the gray input is made from the truth (:func:`~napari_colorgan.grays.make_gray`:
        ``"luma"``, ``"linear16"``, ``"camera12"``, ``"gamma0.7"``...), normalised as
        ``normalize`` says. Under any but ``"lstar"`` the input's lightness
        differs from the truth's: compare models by ``delta_e2000_chroma``.
    normalize : optional
        How ``colorize`` maps the gray to [0, 1] (``"linear"`` for a camera gray
        declared linear).

    Returns
    -------
    dict
        ``{image: {"model": metrics, "gray": metrics, ...}}`` (see :func:`metrics.evaluate`).
    """
    from ..models.registry import as_model

    model = as_model(model)
    if mean_ab is None:
        mean_ab = model.provenance.get("mean_ab")
    if regression is not None:
        regression = as_model(regression)
    results = {}
    for name, rgb in images.items():
        raw = make_gray(rgb, gray)
        rows = {"model": colorize(raw, model, normalize=normalize), "gray": gray_baseline(rgb)}
        if mean_ab is not None:
            rows["mean-chroma"] = mean_chroma_baseline(rgb, mean_ab)
        if regression is not None:
            rows["l1-unet"] = colorize(raw, regression, normalize=normalize)
        results[name] = {
            method: evaluate(pred, rgb, two_sample=two_sample) for method, pred in rows.items()
        }
    return results


def format_table(results: dict) -> str:
    """A plain-text table: one row per image and method, a column per metric present."""
    rows = [m for methods in results.values() for m in methods.values()]
    keys = [k for k in _TABLE_KEYS if all(k in m for m in rows)]
    lines = [f"{'image':<34} {'method':<11} " + " ".join(f"{k:>19}" for k in keys)]
    for name, methods in results.items():
        for method, m in methods.items():
            lines.append(f"{name:<34} {method:<11} " + " ".join(f"{m[k]:>19.3f}" for k in keys))
    return "\n".join(lines)
