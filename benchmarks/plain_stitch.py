"""The reference every engine speed is divided by: a plain crop-and-stitch in PyTorch.

What a user would write in twenty lines: the model in channels_last, each tile of
``tile`` output pixels run as one window with the model's halo on every side (clipped
at the image's edge, as the whole-image forward sees it), the centres stitched, then
Lab -> sRGB with the input's L. Sequential, one window per forward, no thread pool;
``dtype="bfloat16"`` wraps the forward in plain ``torch.autocast``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from napari_colorgan.color import gray_to_lightness, lab_to_rgb_in_gamut


def plain_stitch(model, gray: np.ndarray, tile: int = 512, dtype: str = "float32") -> np.ndarray:
    """sRGB ``(Y, X, 3)`` float32 of a ``(Y, X)`` gray plane in [0, 1], tile by tile."""
    device = next(model.parameters()).device
    reduced, bf16 = dtype != "float32", torch.bfloat16
    halo, s = model.halo(), model.stride
    h, w = gray.shape
    L = gray_to_lightness(torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32)))
    H, W = -(-h // s) * s, -(-w // s) * s
    L = F.pad(L[None, None], (0, W - w, 0, H - h), mode="replicate").to(device)
    ab = torch.empty((1, 2, H, W), device=device)
    for y in range(0, H, tile):
        for x in range(0, W, tile):
            y0, x0 = max(0, y - halo), max(0, x - halo)
            window = L[..., y0 : min(H, y + tile + halo), x0 : min(W, x + tile + halo)]
            window = window.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast(device.type, bf16, enabled=reduced):
                pred = model(window).float()
            ab[..., y : y + tile, x : x + tile] = pred[
                ..., y - y0 : y - y0 + tile, x - x0 : x - x0 + tile
            ]
    with torch.inference_mode():
        rgb = lab_to_rgb_in_gamut(L[0, :, :h, :w], ab[0, :, :h, :w])
    return rgb.permute(1, 2, 0).float().cpu().numpy()
