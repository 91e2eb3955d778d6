"""GAN, reconstruction and feature-matching losses."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..color import AB_SCALE

GANS = ("hinge", "lsgan", "wgan-gp")


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "hinge"):
    """Discriminator loss. ``kind``: ``"hinge"``, ``"lsgan"`` or ``"wgan-gp"``.

    For ``"wgan-gp"`` this is the critic's Wasserstein loss; add
    :func:`gradient_penalty` to it.
    """
    if kind == "wgan-gp":
        return fake_logits.mean() - real_logits.mean()
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind == "lsgan":
        return ((real_logits - 1) ** 2).mean() + (fake_logits**2).mean()
    raise ValueError(f"gan loss must be one of {GANS}, got {kind!r}")


def g_adv_loss(fake_logits: torch.Tensor, kind: str = "hinge") -> torch.Tensor:
    """Generator's adversarial loss for the same ``kind`` as :func:`d_loss`."""
    if kind in ("hinge", "wgan-gp"):
        return -fake_logits.mean()
    if kind == "lsgan":
        return ((fake_logits - 1) ** 2).mean()
    raise ValueError(f"gan loss must be one of {GANS}, got {kind!r}")


def feature_matching(real_feats, fake_feats) -> torch.Tensor:
    """L1 between the discriminator's features of real and generated pairs.

    A perceptual loss that needs no downloaded network (Wang et al., pix2pixHD).
    """
    return sum(F.l1_loss(f, r.detach()) for r, f in zip(real_feats[:-1], fake_feats[:-1]))


def r1_penalty(real_logits: torch.Tensor, real_input: torch.Tensor) -> torch.Tensor:
    """R1 gradient penalty: squared gradient norm of D on real samples (Mescheder et al.)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_input, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(discriminator, L, real, fake, eps) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al.): (|grad D| - 1)^2 between real and fake.

    ``eps`` holds one mixing weight per sample, shape ``(batch, 1, 1, 1)``.
    """
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(L, mixed)[-1].sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def chroma_deficit(fake_ab: torch.Tensor, true_ab: torch.Tensor) -> torch.Tensor:
    """How much less chroma a colourisation has than the truth, per image, in units of AB_SCALE.

    Zero when the prediction is at least as colourful: it pushes against the
    washed-out average that reconstruction losses favour, not towards any hue.
    """

    def chroma(ab):
        return (ab.pow(2).sum(1) + 1e-6).sqrt().flatten(1).mean(1)

    return F.relu(chroma(true_ab) - chroma(fake_ab)).mean() / AB_SCALE


def hint_fidelity(fake_ab: torch.Tensor, true_ab: torch.Tensor, mask: torch.Tensor):
    """L1 of ab / AB_SCALE where hints were given: a guided generator must honour them.

    Sparse hints cover about 1 % of a patch, too little of the plain L1 loss for a
    network to learn to use them in a short training.
    """
    err = (fake_ab - true_ab).abs().sum(1, keepdim=True) * mask
    return err.sum() / mask.sum().clamp_min(1) / AB_SCALE


class VGGFeatures(torch.nn.Module):
    """VGG-16's convolutions up to relu3_3, for an optional perceptual loss.

    Nothing is downloaded: the weights come from a safetensors file the user
    passes, with torchvision's key names (``features.0.weight`` ...); later layers
    and the classifier in that file are ignored.
    """

    WIDTHS = (64, 64, "pool", 128, 128, "pool", 256, 256, 256)
    TAPS = (3, 8, 15)  # relu1_2, relu2_2, relu3_3
    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self):
        super().__init__()
        layers, c = [], 3
        for w in self.WIDTHS:
            if w == "pool":
                layers.append(torch.nn.MaxPool2d(2))
            else:
                layers += [torch.nn.Conv2d(c, w, 3, padding=1), torch.nn.ReLU()]
                c = w
        self.features = torch.nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1))
        self.requires_grad_(False)

    @classmethod
    def from_file(cls, path) -> VGGFeatures:
        """Load the weights; a file that is not safetensors or lacks a layer is refused."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from ..models.registry import WeightsError

        try:
            tensors = load_file(path)
        except (SafetensorError, OSError, ValueError) as err:
            raise WeightsError(f"{path}: not a readable safetensors file ({err})") from None
        vgg = cls()
        wanted = {f"features.{k}" for k in vgg.features.state_dict()}
        missing = sorted(wanted - set(tensors))
        if missing:
            raise WeightsError(f"{path} is not a VGG-16 state dict: missing {missing[:3]}")
        try:
            vgg.features.load_state_dict({k[len("features.") :]: tensors[k] for k in wanted})
        except RuntimeError as err:
            raise WeightsError(f"{path} is not a VGG-16 state dict: {err}") from None
        return vgg.eval()

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x, out = (rgb - self.mean) / self.std, []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.TAPS:
                out.append(x)
        return out


def perceptual(vgg: VGGFeatures, fake_rgb: torch.Tensor, true_rgb: torch.Tensor) -> torch.Tensor:
    """L1 between VGG-16 features of the colourisation and of the truth."""
    with torch.no_grad():
        true_feats = vgg(true_rgb)
    return sum(F.l1_loss(f, t) for f, t in zip(vgg(fake_rgb), true_feats))
