"""The exported graph: gray in [0, 1] to sRGB, with the Lab -> RGB step inside.

``GrayToRGB`` wraps a generator so that a consumer who knows nothing of CIELAB
gets what :func:`napari_colorgan.colorize` gives for ``normalize="none"``:

    gray (B, 1, Y, X) in [0, 1]  ->  L = sRGB lightness of (g, g, g), in [0, 100]
      -> pad bottom/right by edge replication to a multiple of the stride
      -> generator -> crop  -> ab (colorize mode): L and ab to sRGB, chroma reduced
                               in gamut, so L is kept  |  RGB (translate mode): clipped
      -> rgb (B, 3, Y, X) in [0, 1]

It has no data-dependent control flow, so tracing it (TorchScript) and the ONNX
exporter give a graph that works for any batch size, height and width. A matched
model's lookup is of a whole image, which a graph run block by block does not see:
its graph takes the gray matched already (:mod:`napari_colorgan.matching`), and its
description says so.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..color import gray_to_lightness, lab_to_rgb
from ..engine.context import block_view
from ..io.atomic import atomic_write

# ONNX opset: onnxruntime >= 1.14, OpenCV DNN and the Java/JS runtimes all run 17
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "gray", "rgb"
_GAMUT_STEPS, _GAMUT_TOL = 12, 1e-5  # as napari_colorgan.color.lab_to_rgb_in_gamut


class GrayToRGB(nn.Module):
    """A generator as one gray -> sRGB function, fit for TorchScript and ONNX.

    Parameters
    ----------
    generator : Generator
        A loaded model (``colorize`` or ``translate`` mode); it is not modified.
    """

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator
        self.stride = int(generator.stride)
        self.colorize = generator.mode == "colorize"
        self.context = bool(getattr(generator.arch, "context", 0))

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        """``(B, 1, Y, X)`` gray in [0, 1] to ``(B, 3, Y, X)`` sRGB in [0, 1]."""
        L = gray_to_lightness(gray)
        h, w = L.shape[-2], L.shape[-1]
        s = self.stride
        padded = F.pad(L, (0, (w + s - 1) // s * s - w, 0, (h + s - 1) // s * s - h), "replicate")
        codes = (None, self.generator.image_code(block_view(L))) if self.context else ()
        pred = self.generator(padded, *codes)[..., :h, :w]
        if not self.colorize:
            return pred.clamp(0, 1)
        return _in_gamut(L, pred)


def _in_gamut(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """:func:`~napari_colorgan.color.lab_to_rgb_in_gamut` without boolean indexing.

    Every pixel runs the same bisection of its chroma scale; a pixel whose full
    chroma fits keeps it, so the result is the library's, pixel for pixel. The
    maths runs channels-last: explicit permutes export cleanly to ONNX, where
    ``movedim`` to axis 1 writes a negative permutation that runtimes refuse.
    """
    L, ab = L.permute(0, 2, 3, 1), ab.permute(0, 2, 3, 1)

    def to_rgb(scale):
        return lab_to_rgb(torch.cat((L, ab * scale), -1), channel_axis=-1)

    def fits(rgb):
        return ((rgb >= -_GAMUT_TOL) & (rgb <= 1 + _GAMUT_TOL)).all(-1, keepdim=True)

    rgb = to_rgb(1.0)
    lo, hi = torch.zeros_like(L), torch.ones_like(L)
    for _ in range(_GAMUT_STEPS):
        mid = (lo + hi) / 2
        ok = fits(to_rgb(mid))
        lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
    return torch.where(fits(rgb), rgb, to_rgb(lo)).clamp(0, 1).permute(0, 3, 1, 2)


def example_input(model: GrayToRGB, size: int = 64) -> torch.Tensor:
    """A gray ramp to trace with; the graph has no branches, so its values shape nothing."""
    ramp = torch.linspace(0, 1, size * size).reshape(1, 1, size, size)
    return ramp.to(next(model.parameters()).device)


@contextmanager
def _quiet_tracing():
    """Silence what tracing this graph always reports: shape checks frozen into the
    trace (the padding makes them true for every size), constants, and deprecations
    of TorchScript, which the bioimage.io consumers still run."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding")
        yield


def write_onnx(model: GrayToRGB, path: str | os.PathLike) -> Path:
    """Export ``model`` to ONNX (opset :data:`OPSET`), batch, height and width dynamic.

    The TorchScript-based exporter is used: torch 2.13's dynamo exporter gives a
    graph as close to the library (both within 1e-6) but needs the ``onnxscript``
    package, which nothing else here uses.
    """
    axes = {0: "batch", 2: "y", 3: "x"}
    with atomic_write(path) as tmp, _quiet_tracing():
        torch.onnx.export(
            model,
            (example_input(model),),
            tmp,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
        )
    return Path(path)


def write_torchscript(model: GrayToRGB, path: str | os.PathLike) -> Path:
    """Trace ``model`` to a TorchScript file (any batch size, height and width)."""
    with atomic_write(path) as tmp, _quiet_tracing():
        torch.jit.trace(model, example_input(model), check_trace=False).save(str(tmp))
    return Path(path)
