"""Image-quality metrics for colourisation against a colour ground truth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# a*b* histogram: bins of 1 CIELAB unit; the sliced distance uses this many directions
_AB_BIN = 1.0
_DIRECTIONS = 64


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness of sRGB in [0, 1], on the 0..255 scale."""
    rgb = np.asarray(rgb, dtype=np.float64) * 255
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _check_pair(pred: np.ndarray, true: np.ndarray) -> None:
    if pred.shape != true.shape or pred.shape[-1] != 3:
        raise ValueError(
            f"expected two (..., 3) RGB arrays of one shape, got {pred.shape}, {true.shape}"
        )


def _ab_histogram(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres and weights of the occupied 1-unit bins of the a*b* histogram."""
    bins = np.floor(lab[..., 1:].reshape(-1, 2) / _AB_BIN).astype(np.int64) + 1024
    keys, counts = np.unique(bins[:, 0] * 2048 + bins[:, 1], return_counts=True)
    occupied = np.stack([keys // 2048, keys % 2048], axis=1) - 1024
    return (occupied + 0.5) * _AB_BIN, counts / counts.sum()


def _sliced_wasserstein(lab_pred: np.ndarray, lab_true: np.ndarray) -> float:
    from scipy.stats import wasserstein_distance

    (p, p_w), (t, t_w) = _ab_histogram(lab_pred), _ab_histogram(lab_true)
    angles = np.pi * np.arange(_DIRECTIONS) / _DIRECTIONS
    directions = np.stack([np.cos(angles), np.sin(angles)])
    p_proj, t_proj = p @ directions, t @ directions
    mean = np.mean(
        [wasserstein_distance(p_proj[:, k], t_proj[:, k], p_w, t_w) for k in range(_DIRECTIONS)]
    )
    # the mean |cos| over directions is 2/pi: rescaled, a uniform shift by d scores d
    return float(mean * np.pi / 2)


def ab_histogram_distance(pred_rgb: np.ndarray, true_rgb: np.ndarray) -> float:
    """Sliced Wasserstein distance between the a*b* histograms of two images.

    Parameters
    ----------
    pred_rgb, true_rgb : ndarray
        ``(..., Y, X, 3)`` sRGB in [0, 1] of equal shape.

    Returns
    -------
    float
        In CIELAB a*b* units (those of chroma and of ΔE76), ``>= 0``; 0 when the
        two images have the same colour distribution, whatever the pixels' places.

    Notes
    -----
    Each image's pixels go into a 2-D histogram over (a*, b*) with bins of one
    CIELAB unit. The distance is the 1-D earth mover's (Wasserstein-1) distance
    between the histograms projected on 64 evenly spaced directions, averaged and
    multiplied by pi/2, so that shifting every pixel's chroma by a vector of
    length d scores d. It is a metric on colour distributions, continuous in
    chroma shifts (a histogram bin distance such as Jensen-Shannon saturates once
    two histograms stop overlapping), and cheap: no transport problem is solved in
    2-D. A gray image against a truth of mean chroma C scores about C.

    References
    ----------
    .. [1] Rabin, Peyré, Delon and Bernot, "Wasserstein barycenter and its
       application to texture mixing", SSVM 2011.
    """
    from skimage.color import rgb2lab

    pred = np.asarray(pred_rgb, dtype=np.float64)
    true = np.asarray(true_rgb, dtype=np.float64)
    _check_pair(pred, true)
    return _sliced_wasserstein(rgb2lab(pred), rgb2lab(true))


def _patches(lab, ys, xs, patch: int):
    """``(n, 3, patch, patch)`` crops of a ``(3, Y, X)`` tensor at corners ``ys, xs``."""
    import torch

    offsets = torch.arange(patch)
    rows = (ys[:, None] + offsets)[:, :, None]
    cols = (xs[:, None] + offsets)[:, None, :]
    return lab[:, rows, cols].movedim(0, 1)


def _classifier():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 1),
    )


def _lab_planes(rgb: np.ndarray):
    """sRGB quantised to 8 bits, as CIELAB ``(3, Y, X)`` scaled to about [-1, 1]."""
    import torch
    from skimage.color import rgb2lab

    quantised = np.round(np.clip(rgb, 0, 1) * 255) / 255
    lab = rgb2lab(quantised).astype(np.float32) / 100
    lab[..., 0] -= 0.5
    return torch.from_numpy(lab).permute(2, 0, 1)


def _one_seed(real, fake, split: int, seed: int, patch: int, steps: int, batch: int) -> float:
    """Train on the first ``split`` rows, return the accuracy on the rows below."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = _classifier()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    labels = torch.cat([torch.ones(batch), torch.zeros(batch)])
    width = real.shape[2]
    for _ in range(steps):
        ys = torch.randint(0, split - patch + 1, (batch,), generator=gen)
        xs = torch.randint(0, width - patch + 1, (batch,), generator=gen)
        x = torch.cat([_patches(real, ys, xs, patch), _patches(fake, ys, xs, patch)])
        flips = [d for d, f in zip((2, 3), torch.rand(2, generator=gen) < 0.5) if f]
        x = x.flip(flips) if flips else x
        opt.zero_grad()
        loss_fn(net(x).squeeze(1), labels).backward()
        opt.step()
    ys, xs = torch.meshgrid(
        torch.arange(split, real.shape[1] - patch + 1, patch),
        torch.arange(0, width - patch + 1, patch),
        indexing="ij",
    )
    ys, xs = ys.flatten(), xs.flatten()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(ys), 256):
            y, x = ys[i : i + 256], xs[i : i + 256]
            correct += int((net(_patches(real, y, x, patch)) > 0).sum())
            correct += int((net(_patches(fake, y, x, patch)) <= 0).sum())
    return correct / (2 * len(ys))


def _halves(pred_rgb: np.ndarray, true_rgb: np.ndarray, patch: int) -> tuple:
    """The truth's and the result's Lab planes, rows along the longer axis, and its middle."""
    pred = np.asarray(pred_rgb, dtype=np.float64)
    true = np.asarray(true_rgb, dtype=np.float64)
    _check_pair(pred, true)
    if pred.ndim != 3:
        raise ValueError(f"expected one (Y, X, 3) image, got shape {pred.shape}")
    if pred.shape[1] > pred.shape[0]:  # split the longer axis: rows of the transposed image
        pred, true = pred.transpose(1, 0, 2), true.transpose(1, 0, 2)
    split = pred.shape[0] // 2
    if pred.shape[0] - split < patch or pred.shape[1] < patch:
        raise ValueError(
            f"each half of a {pred_rgb.shape[:2]} image must hold a {patch}x{patch} patch"
        )
    return _lab_planes(true), _lab_planes(pred), split


def two_sample_accuracy(
    pred_rgb: np.ndarray,
    true_rgb: np.ndarray,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    patch: int = 32,
    steps: int = 300,
    batch: int = 32,
) -> dict[str, float | list[float]]:
    """Classifier two-sample test: can a small fresh CNN tell the truth from the result?

    For each seed a new convolutional network (three 3x3 stride-2 layers, about
    14 k parameters) learns to tell ``patch`` x ``patch`` crops of ``true_rgb``
    (label 1) from crops of ``pred_rgb`` at the same places (label 0) on the first
    half of the image, and is scored on every non-overlapping crop pair of the
    other half, which it never saw.

    Parameters
    ----------
    pred_rgb, true_rgb : ndarray
        ``(Y, X, 3)`` sRGB in [0, 1] of equal shape; each half (split across the
        longer axis: top and bottom, or left and right) must hold a patch.
    seeds : sequence of int, default (0, 1, 2)
        One fresh network, patch draw and initialisation per seed.
    patch : int, default 32
        Crop side in pixels: the context the network judges colour in.
    steps : int, default 300
        Adam steps (learning rate 2e-3), each on ``batch`` crop pairs.
    batch : int, default 32
        Crop pairs per step.

    Returns
    -------
    dict
        ``accuracy`` (the mean over seeds, in [0, 1]), ``accuracy_sd`` (their
        standard deviation) and ``accuracies`` (one per seed). 0.5 means the
        network cannot tell the result from the truth; 1 means it always can.

    Notes
    -----
    Both images are quantised to 8-bit sRGB in the same way and converted to
    CIELAB before the network sees them, so it cannot tell them apart by their
    number format. Lightness is (up to out-of-gamut clipping) the same in both,
    so what it learns is whether the colour fits the structure. The truth's own
    defects (JPEG chroma blocks, sensor noise) are part of the truth: a result
    without them is distinguishable. Identical images score exactly 0.5. Runs
    on one CPU thread (about 3 s per seed; torch's thread count is set to 1
    while it runs, then restored), so a seed gives the same accuracy whatever
    that setting was.
    """
    import torch

    real, fake, split = _halves(pred_rgb, true_rgb, patch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a net this small runs fastest, and the same everywhere, on one
    try:
        with torch.enable_grad():
            accuracies = [_one_seed(real, fake, split, s, patch, steps, batch) for s in seeds]
    finally:
        torch.set_num_threads(threads)
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_sd": float(np.std(accuracies)),
        "accuracies": accuracies,
    }


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


def chroma_delta_e2000(pred_rgb: np.ndarray, true_rgb: np.ndarray) -> float:
    """Mean CIEDE2000 of the predicted chroma alone: the prediction's a*b* at the truth's L*.

    A colourisation's lightness comes from its gray input, and a gray made another
    way than CIELAB L* (luma, a linear camera) differs from the truth's lightness
    though its colours may be right; this score counts only the colour.

    Parameters
    ----------
    pred_rgb, true_rgb : ndarray
        ``(..., Y, X, 3)`` sRGB in [0, 1] of equal shape.

    Returns
    -------
    float
        Lower is better; 0 when the predicted a*b* equal the truth's.
    """
    from skimage.color import rgb2lab

    pred, true = _unit_rgb(pred_rgb, "pred_rgb"), _unit_rgb(true_rgb, "true_rgb")
    _check_pair(pred, true)
    return _chroma_delta_e(rgb2lab(pred), rgb2lab(true))


def _chroma_delta_e(lab_pred: np.ndarray, lab_true: np.ndarray) -> float:
    from skimage.color import deltaE_ciede2000

    at_true_l = np.concatenate([lab_true[..., :1], lab_pred[..., 1:]], axis=-1)
    return float(deltaE_ciede2000(lab_true, at_true_l).mean())


def evaluate(
    pred_rgb: np.ndarray, true_rgb: np.ndarray, *, two_sample: bool = False
) -> dict[str, float]:
    """Compare a colourisation with the ground truth.

    Parameters
    ----------
    pred_rgb, true_rgb : ndarray
        ``(..., Y, X, 3)`` sRGB in [0, 1] of equal shape.
    two_sample : bool, default False
        Also run :func:`two_sample_accuracy` (a few seconds per image; needs one
        ``(Y, X, 3)`` image).

    Returns
    -------
    dict
        ``psnr`` (dB, RGB), ``ssim`` (RGB, mean over channels), ``delta_e2000``
        (mean CIEDE2000), ``delta_e2000_chroma`` (:func:`chroma_delta_e2000`),
        ``colorfulness`` and ``colorfulness_true`` (Hasler-Suesstrunk), their ratio
        ``colorfulness_ratio``, and ``ab_hist_distance`` (:func:`ab_histogram_distance`,
        CIELAB units). With ``two_sample``, ``two_sample_accuracy`` and ``two_sample_accuracy_sd``
        (mean and spread over three seeds; 0.5 is indistinguishable).
    """
    from skimage.color import deltaE_ciede2000, rgb2lab
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    pred, true = _unit_rgb(pred_rgb, "pred_rgb"), _unit_rgb(true_rgb, "true_rgb")
    _check_pair(pred, true)
    lab_pred, lab_true = rgb2lab(pred), rgb2lab(true)
    c_pred, c_true = colorfulness(pred), colorfulness(true)
    result = {
        "psnr": float(peak_signal_noise_ratio(true, pred, data_range=1.0)),
        "ssim": float(structural_similarity(true, pred, data_range=1.0, channel_axis=-1)),
        "delta_e2000": float(deltaE_ciede2000(lab_true, lab_pred).mean()),
        "delta_e2000_chroma": _chroma_delta_e(lab_pred, lab_true),
        "colorfulness": c_pred,
        "colorfulness_true": c_true,
        "colorfulness_ratio": c_pred / c_true if c_true else float("nan"),
        "ab_hist_distance": _sliced_wasserstein(lab_pred, lab_true),
    }
    if two_sample:
        test = two_sample_accuracy(pred, true)
        result["two_sample_accuracy"] = test["accuracy"]
        result["two_sample_accuracy_sd"] = test["accuracy_sd"]
    return result
