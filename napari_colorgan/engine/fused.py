"""A generator's bf16 forward on the CPU as fused oneDNN convolutions.

Under plain autocast half of a bf16 forward is memory-bound elementwise work
between the convolutions: LeakyReLU, residual adds, the attention gates' adds,
and a cast of every weight on every call. Here each convolution carries its
activation or its residual add as a oneDNN post-op (the kernels torch.compile's
CPU backend emits), on weights cast to bf16 once. Same weights, same function,
closer to float32 than autocast is, about 1.3x faster per window on an
AVX512-BF16 CPU (docs/benchmarks.md). A fused form is checked against the module
when it is built; where the kernels are missing or disagree, the module runs.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..models.generator import Generator

_LEAKY = ("leaky_relu", [0.1])
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Conv:
    """One convolution's weights in bf16 channels_last, run with a fused post-op."""

    def __init__(self, conv: nn.Conv2d, weight: torch.Tensor | None = None, bias: bool = True):
        weight = (conv.weight if weight is None else weight).detach().to(torch.bfloat16)
        self.weight = weight.contiguous(memory_format=torch.channels_last)
        keep = bias and conv.bias is not None
        self.bias = conv.bias.detach().to(torch.bfloat16) if keep else None
        self.args = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)

    def __call__(self, x: torch.Tensor, unary: str = "none", scalars: Sequence = ()):
        """``unary(conv(x))``."""
        op = torch.ops.mkldnn._convolution_pointwise
        return op(x, self.weight, self.bias, *self.args, unary, list(scalars), "")

    def add(self, x: torch.Tensor, other: torch.Tensor, unary: str | None = None) -> torch.Tensor:
        """``conv(x) + other``, then ``unary`` (``"relu"`` or none)."""
        op = torch.ops.mkldnn._convolution_pointwise.binary
        return op(x, other, self.weight, self.bias, *self.args, "add", None, unary, [], "")


class FusedGenerator:
    """:class:`~napari_colorgan.models.generator.Generator`'s forward in bf16, fused.

    Parameters
    ----------
    model : Generator
        The module whose weights are copied (in bf16) and whose function is kept.
    """

    def __init__(self, model: Generator):
        self.model = model
        self.stem = _Conv(model.stem[0])
        self.encoders = [_blocks(e) for e in model.encoders]
        self.downs = [_Conv(d[0]) for d in model.downs]
        self.bottleneck = _blocks(model.bottleneck)
        self.ups = [_Conv(u[1]) for u in model.ups]
        self.gates = [
            (_Conv(g.theta), _Conv(g.phi), _Conv(g.psi)) if model.arch.attention else None
            for g in model.gates
        ]
        self.fuse = [  # the 1x1 fusion of cat(x, skip) as two convolutions, bias once
            (_Conv(f, f.weight[:, :c], bias=False), _Conv(f, f.weight[:, c:]))
            for f, c in zip(model.fuse, model.arch.widths[:-1])
        ]
        self.decoders = [_blocks(d) for d in model.decoders]
        self.head = _Conv(model.head)

    def __call__(
        self, L: torch.Tensor, code: torch.Tensor | None = None, context: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The model's output as float32; the arguments of ``Generator.forward``."""
        L, context, matched = self.model.match(L, context)
        x = self.model.inputs(L, code).to(torch.bfloat16)
        x = self.stem(x.contiguous(memory_format=torch.channels_last), *_LEAKY)
        skips = []
        for blocks, down in zip(self.encoders, self.downs):
            x = _residual(x, blocks)
            skips.append(x)
            x = down(x, *_LEAKY)
        films = self.model.films(context, x.shape[0])
        x = _residual(x, self.bottleneck)
        for i in reversed(range(len(skips))):
            x = self.ups[i](F.interpolate(films[i](x), scale_factor=2), *_LEAKY)
            skip = skips[i]
            if self.gates[i] is not None:
                theta, phi, psi = self.gates[i]
                skip = skip * psi(theta.add(skip, phi(x), "relu"), "sigmoid")
            x_part, skip_part = self.fuse[i]
            x = _residual(skip_part.add(skip, x_part(x)), self.decoders[i])
        out = self.head(F.leaky_relu(x, 0.1, inplace=True))
        return self.model.outputs(out.float(), matched)


def _blocks(blocks: nn.Sequential) -> list[tuple[_Conv, _Conv]]:
    return [(_Conv(b.conv1), _Conv(b.conv2)) for b in blocks]


def _residual(x: torch.Tensor, blocks: list[tuple[_Conv, _Conv]]) -> torch.Tensor:
    for conv1, conv2 in blocks:
        x = conv2.add(conv1(x, *_LEAKY), x)
    return x


def fused_forward(model: Callable) -> Callable | None:
    """The fused bf16 CPU forward of ``model``, or None where it does not apply.

    It applies to a :class:`Generator` on the CPU when PyTorch has the oneDNN kernels
    and the fused form agrees with the module on a test window. Built once per model
    and rebuilt when its weights change (a training step, ``load_state_dict``).
    """
    if not isinstance(model, Generator) or not torch.backends.mkldnn.is_available():
        return None
    if next(model.parameters()).device.type != "cpu":
        return None
    version = tuple(p._version for p in model.parameters())
    cached = _CACHE.get(model)
    if cached is not None and cached[0] == version:
        return cached[1]
    fused = _build_checked(model)
    _CACHE[model] = (version, fused)
    return fused


def _build_checked(model: Generator) -> FusedGenerator | None:
    """A fused form that matches ``model`` in float32 on a seeded window, or None."""
    generator = torch.Generator().manual_seed(0)
    side = 4 * model.stride
    L = torch.rand((1, 1, side, side), generator=generator) * 100  # no hints, no code
    try:
        with torch.no_grad():
            fused = FusedGenerator(model)
            with torch.inference_mode():
                codes = (None, model.image_code(L)) if model.arch.context else ()
                got, want = fused(L, *codes), model(L, *codes).float()
    except (RuntimeError, AttributeError) as error:  # kernels missing in this build
        message = f"fused bf16 convolutions unavailable ({error}); using autocast"
        warnings.warn(message, stacklevel=3)
        return None
    span = float(want.abs().max()) + 1e-6
    if not torch.isfinite(got).all() or float((got - want).abs().max()) > 0.05 * span:
        warnings.warn("fused bf16 forward disagrees with the model; using autocast", stacklevel=3)
        return None
    return fused
