"""Guidance drawn from the truth for training a guided generator: hints and codes."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..color import AB_SCALE
from ..guide import HINT_SIZE


def random_hints(ab: torch.Tensor, n: int, part: slice, rng: torch.Generator) -> torch.Tensor:
    """Hint maps sampled from the truth, as user-guided colourisation trains them.

    For a global batch of ``n`` (this process's ``part`` of it): a fifth get no
    hints, most get a log-uniform number (1 to 100) of 3 x 3 hints at random
    places, and some get dense blobs covering much of the patch (what propagating
    colour from the previous slice of a stack looks like).
    """
    _, _, h, w = ab.shape
    kind = torch.rand(n, generator=rng)[part]
    count = torch.pow(100.0, torch.rand(n, generator=rng))[part]
    points = torch.rand(n, 1, h, w, generator=rng)[part] < (count / (h * w))[:, None, None, None]
    blobs = torch.rand(n, 1, h // 16, w // 16, generator=rng)[part]
    cover = torch.rand(n, generator=rng)[part]
    blobs = (
        F.interpolate(blobs, size=(h, w), mode="bilinear") < 0.3 + 0.65 * cover[:, None, None, None]
    )
    mask = F.max_pool2d(points.float(), HINT_SIZE, 1, HINT_SIZE // 2)
    mask = torch.where((kind >= 0.85)[:, None, None, None], blobs.float(), mask)
    mask = mask * (kind >= 0.2)[:, None, None, None]
    return torch.cat([ab / AB_SCALE * mask, mask], 1)


def codes_from(ref_ab: torch.Tensor, n: int, part: slice, rng: torch.Generator) -> torch.Tensor:
    """Codes of reference crops for half the batch (flag 1), none for the other half."""
    flat = ref_ab.flatten(2) / AB_SCALE
    given = (torch.rand(n, generator=rng)[part] < 0.5).to(ref_ab)
    code = torch.cat([flat.mean(2), flat.std(2), torch.ones_like(given)[:, None]], 1)
    return code * given[:, None]
