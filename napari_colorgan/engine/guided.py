"""Guided colourisation: hints, a reference palette, sampled palettes, temporal follow."""

from __future__ import annotations

import numpy as np
import torch

from ..color import gray_to_lightness, rgb_to_lab
from ..guide import hint_maps, reference_code, sample_codes
from ..models.generator import AB_SCALE
from .planes import run_planes

FOLLOW_TOLERANCE = 5.0  # L* units: a pixel this close to the previous plane keeps its colour


def run_guided(image, net, low, high, settings, guidance, seed, hint_reach):
    """:func:`run_planes` with guidance; a generator of progress returning the colour.

    ``guidance`` holds :func:`~napari_colorgan.colorize`'s hints, reference, samples
    and temporal.
    """
    hints, reference = guidance["hints"], guidance["reference"]
    samples, temporal = guidance["samples"], guidance["temporal"]
    if not getattr(net.arch, "guided", False):
        raise ValueError(
            "hints, reference, samples and temporal need a guided model, e.g. model='guided'"
        )
    maps = None if hints is None else hint_maps(image.shape, hints)
    follow = _follow_previous if temporal else None
    if temporal and image.ndim < 3:
        raise ValueError(f"temporal needs a stack (T or Z, Y, X), got shape {image.shape}")
    if samples is None:
        code = palette_code(net, reference)
        return (
            yield from run_planes(image, net, low, high, settings, maps, code, follow, hint_reach)
        )
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    prior = net.provenance.get("code_prior")
    if prior is None:
        raise ValueError("this model has no palette prior to sample from")
    results = []
    for code in sample_codes(prior, samples, seed):
        steps = run_planes(image, net, low, high, settings, maps, code, follow, hint_reach)
        results.append((yield from steps))
    return np.stack(results)


def palette_code(net, reference) -> np.ndarray | None:
    """A reference's colour code for a guided model; None without a reference."""
    if reference is None:
        return None
    if not getattr(net.arch, "guided", False):
        raise ValueError("a reference needs a guided model, e.g. model='guided'")
    return reference_code(reference)


def _follow_previous(gray, index, out, hints):
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
