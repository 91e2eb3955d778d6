"""Guided colourisation: hints, a reference palette, sampled palettes, temporal follow."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from ..color import AB_SCALE, gray_to_lightness, rgb_to_lab
from ..guide import hint_maps, lightness_signature, reference_code, sample_codes
from ..io.scaling import Intensity
from ..models.contract import ColorModel, is_guided
from .context import context_view
from .planes import run_planes
from .settings import Guidance, TileSettings

FOLLOW_TOLERANCE = 5.0  # L* units: a pixel this close to the previous plane keeps its colour


def run_guided(
    image: np.ndarray,
    net: ColorModel,
    intensity: Intensity,
    tiles: TileSettings,
    guidance: Guidance,
    context: np.ndarray | None = None,
) -> Generator[tuple[int, int], None, np.ndarray]:
    """:func:`run_planes` with guidance (and a context code); a generator of progress
    returning the colour."""
    if not is_guided(net):
        raise ValueError(
            "hints, reference, samples and temporal need a guided model, e.g. model='guided'"
        )
    maps = None if guidance.hints is None else hint_maps(image.shape, guidance.hints)
    if guidance.temporal and image.ndim < 3:
        raise ValueError(f"temporal needs a stack (T or Z, Y, X), got shape {image.shape}")
    options = {
        "hints": maps,
        "follow": _follow_previous if guidance.temporal else None,
        "hint_reach": guidance.hint_reach,
        "context": context,
    }
    if guidance.samples is None:
        code = palette_code(net, guidance.reference)
        return (yield from run_planes(image, net, intensity, tiles, code=code, **options))
    prior = net.provenance.get("code_prior")
    if prior is None:
        raise ValueError("this model has no palette prior to sample from")
    results = []
    signature = lightness_signature(context_view(image, intensity))
    for code in sample_codes(prior, guidance.samples, guidance.seed, signature):
        results.append((yield from run_planes(image, net, intensity, tiles, code=code, **options)))
    return np.stack(results)


def palette_code(net: ColorModel, reference: Any) -> np.ndarray | None:
    """A reference's colour code for a guided model; None without a reference."""
    if reference is None:
        return None
    if not is_guided(net):
        raise ValueError("a reference needs a guided model, e.g. model='guided'")
    return reference_code(reference)


def _follow_previous(
    gray: np.ndarray, index: tuple[int, ...], out: np.ndarray, hints: np.ndarray | None
) -> np.ndarray | None:
    """Hint maps that carry the previous plane's chroma where L has not changed."""
    if index[0] == 0:
        return hints
    previous = (index[0] - 1, *index[1:])
    with torch.inference_mode():
        lab = rgb_to_lab(torch.from_numpy(out[previous]), channel_axis=-1)
        L = gray_to_lightness(torch.from_numpy(np.ascontiguousarray(gray, np.float32)))
    still = ((L - lab[..., 0]).abs() < FOLLOW_TOLERANCE).numpy()
    maps = np.zeros((*gray.shape, 3), np.float32)
    maps[still, :2] = (lab[..., 1:] / AB_SCALE).numpy()[still]
    maps[still, 2] = 1
    if hints is not None:  # the user's hints win
        given = hints[..., 2] > 0
        maps[given] = hints[given]
    return maps
