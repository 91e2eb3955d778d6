"""GAN, reconstruction and feature-matching losses."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "hinge"):
    """Discriminator loss. ``kind``: ``"hinge"`` or ``"lsgan"``."""
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind == "lsgan":
        return ((real_logits - 1) ** 2).mean() + (fake_logits**2).mean()
    raise ValueError(f"gan loss must be 'hinge' or 'lsgan', got {kind!r}")


def g_adv_loss(fake_logits: torch.Tensor, kind: str = "hinge") -> torch.Tensor:
    """Generator's adversarial loss for the same ``kind`` as :func:`d_loss`."""
    if kind == "hinge":
        return -fake_logits.mean()
    if kind == "lsgan":
        return ((fake_logits - 1) ** 2).mean()
    raise ValueError(f"gan loss must be 'hinge' or 'lsgan', got {kind!r}")


def feature_matching(real_feats, fake_feats) -> torch.Tensor:
    """L1 between the discriminator's features of real and generated pairs.

    A perceptual loss that needs no downloaded network (Wang et al., pix2pixHD).
    """
    return sum(F.l1_loss(f, r.detach()) for r, f in zip(real_feats[:-1], fake_feats[:-1]))


def r1_penalty(real_logits: torch.Tensor, real_input: torch.Tensor) -> torch.Tensor:
    """R1 gradient penalty: squared gradient norm of D on real samples (Mescheder et al.)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_input, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
