"""U-Net generator: residual blocks, attention gates on the skips, no spatial statistics.

Every layer is a convolution, a pointwise nonlinearity, a stride-2 downsampling
or a nearest-neighbour upsampling: the network is a *local* operator. A crop
with a halo of :meth:`Generator.halo` pixels, starting on a multiple of
:attr:`Generator.stride`, gives the same pixels as the whole image. This is
what makes tiled inference exact rather than blended.

Tensor ranges: the input is L / 50 - 1 (L in [0, 100]); in ``colorize`` mode the
output is ab in (-110, 110); in ``translate`` mode it is sRGB in (0, 1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from ..color import AB_SCALE, fit_chroma
from ..matching import QUANTILES, apply
from .contract import ColorModel

MODES = ("colorize", "translate")


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of a :class:`Generator`.

    Parameters
    ----------
    widths : tuple of int
        Channels at each resolution level, finest first; ``len(widths) - 1`` downsamplings.
    blocks : int
        Residual blocks per level on each side of the U.
    mode : {"colorize", "translate"}
        ``colorize`` predicts ab and keeps the input's L; ``translate`` predicts RGB.
    attention : bool
        Gate each skip connection with an additive attention gate (Oktay et al., 2018).
    guided : bool
        Take colour guidance besides L: sparse hint maps (a, b, mask) and a global
        colour code (a reference's mean and spread of a and b, and a flag), see
        :mod:`napari_colorgan.guide`. Still a local operator: tiling stays exact.
    context : int
        Size of an image-level code (0: none) that a small encoder computes once per
        image from a low-resolution view of all of it
        (:mod:`napari_colorgan.engine.context`) and that
        scales and shifts the coarse decoder features (FiLM); every tile gets the
        same code, so tiling stays exact.
    matched : bool
        Read lightness matched onto the training data's (:mod:`napari_colorgan.matching`):
        the weights hold the reference quantiles, and the engine gives every tile the
        lookup of its whole image in place of a context code (so ``context`` must be 0).
    linear_cameras : bool
        How ``normalize="auto"`` reads a gray it has to stretch (integers wider than 8
        bits, floats outside [0, 1]): as linear in light, as ``normalize="linear"``
        reads it, rather than as an encoded gray. For a domain whose wide-integer grays
        are monochrome cameras imaging a white background (brightfield), not for one
        where the brightest pixel is not white. It changes the reading, not the network.
    """

    widths: tuple[int, ...] = (16, 32, 64, 96)
    blocks: int = 1
    mode: str = "colorize"
    attention: bool = True
    guided: bool = False
    context: int = 0
    matched: bool = False
    linear_cameras: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if len(self.widths) < 2 or min(self.widths) < 1:
            raise ValueError(f"widths needs at least two positive levels, got {self.widths}")
        if self.context < 0:
            raise ValueError(f"context must be >= 0, got {self.context}")
        if self.matched and self.context:
            raise ValueError("a matched model takes its image's lookup in place of a context code")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The names a config's dict (its weights file's ``generator`` metadata) may hold."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, d: dict) -> GeneratorConfig:
        known = {k: d[k] for k in cls.keys() if k in d}
        known["widths"] = tuple(known.get("widths", cls.widths))
        return cls(**known)


SIZES = {
    "lite": GeneratorConfig(widths=(16, 32, 64, 96), blocks=1),
    "medium": GeneratorConfig(widths=(24, 48, 96, 144), blocks=1),
    "standard": GeneratorConfig(widths=(32, 64, 128, 192), blocks=2),
}


def _act() -> nn.Module:
    return nn.LeakyReLU(0.1, inplace=True)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection, scaled at init for stability."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.bias)
        self.conv2.weight.data.mul_(0.1)

    def forward(self, x):
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.1, inplace=True))


class AttentionGate(nn.Module):
    """Additive attention gate: weighs skip features by what the decoder asks for."""

    def __init__(self, skip: int, gate: int):
        super().__init__()
        inner = max(skip // 2, 4)
        self.theta = nn.Conv2d(skip, inner, 1, bias=False)
        self.phi = nn.Conv2d(gate, inner, 1)
        self.psi = nn.Conv2d(inner, 1, 1)

    def forward(self, skip, gate):
        weight = torch.sigmoid(self.psi(F.relu(self.theta(skip) + self.phi(gate))))
        return skip * weight


class Generator(nn.Module, ColorModel):
    """U-Net generator mapping L to ab (``colorize``) or to RGB (``translate``).

    It implements :class:`~.contract.ColorModel`, what the tiled engine runs.

    Parameters
    ----------
    config : GeneratorConfig
        Architecture; see :class:`GeneratorConfig` and :data:`SIZES`.
    """

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.arch = config
        self.provenance: dict = {}
        self.source: str | None = None  # set by load_model to the weights file
        w, b = config.widths, config.blocks
        self.stem = nn.Sequential(nn.Conv2d(self.in_channels, w[0], 3, padding=1), _act())
        self.encoders = nn.ModuleList(
            nn.Sequential(*(ResBlock(c) for _ in range(b))) for c in w[:-1]
        )
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, n, 2, stride=2), _act()) for c, n in zip(w, w[1:])
        )
        self.bottleneck = nn.Sequential(*(ResBlock(w[-1]) for _ in range(b)))
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(n, c, 3, padding=1), _act())
            for c, n in zip(w, w[1:])
        )
        self.gates = nn.ModuleList(
            AttentionGate(c, c) if config.attention else nn.Identity() for c in w[:-1]
        )
        self.fuse = nn.ModuleList(nn.Conv2d(2 * c, c, 1) for c in w[:-1])
        self.decoders = nn.ModuleList(
            nn.Sequential(*(ResBlock(c) for _ in range(b))) for c in w[:-1]
        )
        self.head = nn.Conv2d(w[0], 2 if config.mode == "colorize" else 3, 3, padding=1)
        nn.init.zeros_(self.head.bias)
        self.head.weight.data.mul_(0.1)
        if config.context:
            self.context_encoder = ContextEncoder(config.context)
            # per coarse level (1 .. n-1), a scale and shift from the code; zero: no effect
            self.film = nn.ModuleList(nn.Linear(config.context, 2 * c) for c in w[1:])
            for layer in self.film:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        if config.matched:  # the training lightness quantiles, filled by the trainer
            self.register_buffer("reference", torch.zeros(QUANTILES))

    HINT_CHANNELS, CODE_SIZE = 3, 5

    @property
    def in_channels(self) -> int:
        """Input channels of the stem: L, then hint a, b, mask and the code's maps."""
        return 1 + (self.HINT_CHANNELS + self.CODE_SIZE if self.arch.guided else 0)

    @property
    def mode(self) -> str:
        """``"colorize"`` (L -> ab, L kept) or ``"translate"`` (gray -> RGB)."""
        return self.arch.mode

    @property
    def config(self) -> dict:
        """Architecture and provenance (data, steps, seed, metrics) as one dict."""
        return {**self.arch.to_dict(), "provenance": self.provenance}

    @property
    def stride(self) -> int:
        """Total downsampling factor; inputs are padded and tiles aligned to it."""
        return 2 ** (len(self.arch.widths) - 1)

    def receptive_field(self) -> int:
        """Upper bound of the receptive field, in input pixels, along one axis."""
        rf, jump = 3, 1  # stem
        res = 4 * self.arch.blocks  # two 3x3 convs per block: +2 jumps each side
        for _ in self.arch.widths[:-1]:
            rf += res * jump + jump  # residual blocks, then the 2x2 stride-2 conv
            jump *= 2
        rf += res * jump  # bottleneck
        for _ in self.arch.widths[:-1]:
            rf += jump  # nearest upsampling may shift by one coarse pixel
            jump //= 2
            rf += 2 * jump + res * jump  # conv after upsampling, residual blocks
        return rf + 2  # head

    def halo(self) -> int:
        """Context needed on each side of a tile, rounded up to the stride."""
        half = (self.receptive_field() + 1) // 2
        return math.ceil(half / self.stride) * self.stride

    def forward(
        self, L: torch.Tensor, code: torch.Tensor | None = None, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict chroma or colour from lightness (and, when guided, hints and a code).

        Parameters
        ----------
        L : torch.Tensor
            ``(N, 1, H, W)`` lightness in [0, 100]; H and W multiples of :attr:`stride`.
            A guided model also takes ``(N, 4, H, W)``: L, then hint a / AB_SCALE,
            b / AB_SCALE and the hint mask.
        code : torch.Tensor, optional
            A guided model's ``(N, 5)`` or ``(5,)`` colour code (default: none).
        context : torch.Tensor, optional
            A context model's ``(N, K)`` or ``(K,)`` image code from
            :meth:`image_code` (default: zeros, the model without context); a
            matched model's ``(2, Q)`` lookup of the whole image
            (:func:`~napari_colorgan.engine.context.image_code`; default: L is read as
            matched already, as in training).

        Returns
        -------
        torch.Tensor
            ``(N, 2, H, W)`` ab, or ``(N, 3, H, W)`` sRGB in ``translate`` mode. A
            matched model's ab, given a lookup, fit the sRGB gamut at the matched
            lightness (:func:`~napari_colorgan.color.fit_chroma`): the engine renders
            them at the input's own lightness.
        """
        L, context, matched = self.match(L, context)
        x = self.stem(self.inputs(L, code))
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            x = enc(x)
            skips.append(x)
            x = down(x)
        films = self.films(context, x.shape[0])
        x = self.bottleneck(x)
        for i in reversed(range(len(skips))):
            x = films[i](x)
            x = self.ups[i](x)
            skip = self.gates[i](skips[i], x) if self.arch.attention else skips[i]
            # the 1x1 fusion of cat(x, skip), as two convolutions: no concatenated copy
            w, c = self.fuse[i].weight, x.shape[1]
            fused = F.conv2d(x, w[:, :c]) + F.conv2d(skip, w[:, c:], self.fuse[i].bias)
            x = self.decoders[i](fused)
        return self.outputs(self.head(F.leaky_relu(x, 0.1, inplace=True)), matched)

    def encode(self, L: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """The bottleneck features of L: the encoder half of :meth:`forward`, no decoder.

        Parameters
        ----------
        L : torch.Tensor
            As for :meth:`forward`: ``(N, 1, H, W)`` lightness in [0, 100] (a guided
            model reads missing hint maps and code as none).
        code : torch.Tensor, optional
            A guided model's colour code (default: none).

        Returns
        -------
        torch.Tensor
            ``(N, widths[-1], H / stride, W / stride)``. A pure function of its
            inputs: threads sharing one model may call it at once.
        """
        x = self.stem(self.inputs(L, code))
        for enc, down in zip(self.encoders, self.downs):
            x = down(enc(x))
        return self.bottleneck(x)

    def image_code(self, view: torch.Tensor) -> torch.Tensor:
        """The ``(N, K)`` context codes of images from their low-resolution views.

        ``view`` is one ``(h, w)`` or ``(N, 1, h, w)`` lightness in [0, 100], as
        :func:`~napari_colorgan.engine.context.context_view` makes it.
        """
        if not self.arch.context:
            raise ValueError("this model takes no image context (its config has context = 0)")
        view = view.reshape(-1, 1, *view.shape[-2:]).to(self.head.weight)
        return self.context_encoder(view / 50 - 1)

    def films(self, context: torch.Tensor | None, n: int) -> list:
        """What each coarse level's features (bottleneck, decoders 1 .. n-2) go through
        before upsampling: identity, or the context code's FiLM."""
        levels = len(self.arch.widths) - 1
        if not self.arch.context or context is None:
            return [_identity] * levels
        context = context.to(self.head.weight).reshape(-1, self.arch.context).expand(n, -1)
        return [_Film(layer(context)) for layer in self.film]

    def inputs(self, L: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """The stem's input: L scaled to [-1, 1], then (guided) the hints and code maps."""
        h, w = L.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(
                f"input height and width must be multiples of {self.stride}, got {h}x{w}"
            )
        x = L[:, :1] / 50 - 1
        if self.arch.guided:
            x = torch.cat([x, *self._guidance(L, code)], 1)
        return x

    def match(self, L: torch.Tensor, context: torch.Tensor | None):
        """A matched model's input through its image's lookup (the ``context`` of
        :meth:`forward`): ``(L, context, matched L)``; other models' as they are, and None."""
        if not self.arch.matched or context is None:
            return L, context, None
        matched = apply(L[:, :1], *context.to(L).reshape(2, -1))
        return torch.cat([matched, L[:, 1:]], 1), None, matched

    def outputs(self, head: torch.Tensor, matched: torch.Tensor | None = None) -> torch.Tensor:
        """ab in (-AB_SCALE, AB_SCALE) or sRGB in (0, 1) from the head's raw output; ab
        that fit the gamut at the ``matched`` lightness, when given."""
        if self.mode != "colorize":
            return torch.sigmoid(head)
        ab = AB_SCALE * torch.tanh(head / 2)
        if matched is None:
            return ab
        # chroma that the lightness it read can hold, whatever lightness it is shown at
        with torch.autocast(head.device.type, enabled=False):
            return fit_chroma(matched.float(), ab.float())

    def _guidance(self, x: torch.Tensor, code: torch.Tensor | None):
        n, _, h, w = x.shape
        hints = x[:, 1:] if x.shape[1] > 1 else x.new_zeros(n, self.HINT_CHANNELS, h, w)
        if code is None:
            code = x.new_zeros(n, self.CODE_SIZE)
        code = code.to(x).reshape(-1, self.CODE_SIZE).expand(n, -1)
        return hints, code[:, :, None, None].expand(-1, -1, h, w)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class _Film:
    """``x * (1 + scale) + shift``, per sample and channel, from a FiLM layer's output."""

    def __init__(self, params: torch.Tensor):
        scale, shift = params[:, :, None, None].chunk(2, dim=1)
        self.scale, self.shift = 1 + scale, shift

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift.to(x.dtype), x, self.scale.to(x.dtype))


class ContextEncoder(nn.Module):
    """A view of a whole image to a code: the soft histogram of its lightness, then a
    linear map. What one part of an image shares with the rest of it (its stain, its
    background), not where things lie: a convolutional encoder trained on the few
    allowed images learned to tell the top of a slide from its bottom instead."""

    BINS = 16

    def __init__(self, size: int):
        super().__init__()
        self.project = nn.Linear(self.BINS, size)

    def forward(self, view: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` codes of ``(N, 1, h, w)`` views of L / 50 - 1."""
        width = 2 / (self.BINS - 1)
        centres = torch.arange(self.BINS, device=view.device, dtype=view.dtype) * width - 1
        distance = (view.flatten(1)[..., None] - centres) / width
        histogram = torch.exp(-0.5 * distance * distance).mean(1)
        return self.project(histogram / histogram.sum(1, keepdim=True))


def with_context(generator: Generator, size: int = 16) -> Generator:
    """A copy of a trained generator with an image-level context code of ``size``.

    The FiLM layers start at zero, so the copy predicts exactly what ``generator``
    does until it is trained.
    """
    config = GeneratorConfig.from_dict({**generator.arch.to_dict(), "context": size})
    model = Generator(config)
    model.load_state_dict(generator.state_dict(), strict=False)  # all but the new layers
    model.provenance = dict(generator.provenance)
    return model


def with_matching(generator: Generator, reference) -> Generator:
    """A matched copy of a trained generator, reading lightness matched onto ``reference``.

    ``reference`` holds the :data:`~napari_colorgan.matching.QUANTILES` training
    lightness quantiles (:func:`~napari_colorgan.matching.pooled_quantiles`); the
    copy must be trained on matched inputs before it is of use.
    """
    config = GeneratorConfig.from_dict({**generator.arch.to_dict(), "matched": True})
    model = Generator(config)
    model.load_state_dict(generator.state_dict(), strict=False)  # all but the reference
    model.reference.copy_(torch.as_tensor(reference, dtype=torch.float32))
    model.provenance = dict(generator.provenance)
    return model


def with_guidance(generator: Generator) -> Generator:
    """A guided copy of a trained generator that, without guidance, predicts the same.

    The stem's weights for the new inputs start at zero, so transfer learning from
    ``generator`` begins exactly where it stands.
    """
    config = GeneratorConfig.from_dict({**generator.arch.to_dict(), "guided": True})
    guided = Generator(config)
    state = generator.state_dict()
    stem = state["stem.0.weight"]
    extra = stem.new_zeros(stem.shape[0], guided.in_channels - stem.shape[1], *stem.shape[2:])
    state["stem.0.weight"] = torch.cat([stem, extra], 1)
    guided.load_state_dict(state)
    guided.provenance = dict(generator.provenance)
    return guided


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
