"""Export a model for other tools: a bioimage.io package or a standalone ONNX file.

Both hold one graph (:class:`~napari_colorgan.export.graph.GrayToRGB`): gray in
[0, 1], axes (batch, channel=1, y, x), to sRGB in [0, 1], axes (batch, 3, y, x),
with the Lab -> RGB step inside, so a consumer gets colour without knowing CIELAB.
"""

from __future__ import annotations

import os
from pathlib import Path

FORMATS = ("bioimageio", "onnx")
_SUFFIX = {"bioimageio": ".zip", "onnx": ".onnx"}


def export_model(
    model="general", out="model.zip", format: str = "bioimageio", *, sample=None
) -> Path:
    """Write a model as a bioimage.io package or an ONNX file.

    Parameters
    ----------
    model : str, path or Generator, optional
        A name from :func:`~napari_colorgan.list_models`, a ``.safetensors`` path,
        or a loaded model on the CPU (``colorize`` or ``translate`` mode; a guided
        model is exported without guidance: its unhinted colours).
    out : path-like, optional
        Destination: a ``.zip`` for ``"bioimageio"``, a ``.onnx`` for ``"onnx"``.
        Written to a temporary file and renamed, so it is complete or absent.
    format : {"bioimageio", "onnx"}, optional
        - ``"bioimageio"``: a bioimage.io model package (spec 0.5) with TorchScript
          and ONNX weights, test tensors, a cover, a README and the training
          provenance, for bioimageio.core, deepImageJ, ilastik and QuPath.
        - ``"onnx"``: the graph alone (opset 17; batch, height and width dynamic),
          for onnxruntime or any ONNX runtime.
    sample : path or ndarray, optional
        A 2-D gray image (uint8, or float in [0, 1]) whose centre becomes the
        package's test input and cover; default: the shipped sample image of the
        model's domain. Ignored for ``"onnx"``.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ValueError
        For an unknown format, a suffix that does not fit it, or a model not on the CPU.
    WeightsError
        For an unknown model or an unusable weights file.

    Notes
    -----
    The graph computes what ``colorize(gray, model, normalize="none",
    precision="float32")`` does: L is the sRGB lightness of ``(g, g, g)``, the
    plane is padded by edge replication to a multiple of the model's stride (8
    for the shipped models) and cropped back, and in ``colorize`` mode the chroma
    of out-of-gamut pixels is reduced so that L is kept. A context model's code is
    computed in the graph from each input image, as ``colorize`` does. Scale the
    input to [0, 1] first (uint8: divide by 255).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    out = Path(out)
    if out.suffix.lower() != _SUFFIX[format]:
        raise ValueError(f"a {format} export is written to a {_SUFFIX[format]} file, got {out}")
    generator, name = _load(model)
    if format == "onnx":
        from .graph import GrayToRGB, write_onnx

        return write_onnx(GrayToRGB(generator).eval(), out)
    from .bioimageio import build_package

    return build_package(generator, out, name=name, sample=sample)


def _load(model):
    """The generator on the CPU and a name for its documentation."""
    from ..models.contract import model_device
    from ..models.registry import as_model, list_models

    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        name = text if text in list_models() else Path(text).stem
        return as_model(model, "cpu"), name
    model = as_model(model)
    device = model_device(model)
    if device.type != "cpu":
        raise ValueError(
            f"export runs on the CPU, but the model is on {device}: pass its name or path"
        )
    return model, Path(model.source).stem if model.source else "model"
