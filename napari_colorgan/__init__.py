"""napari-colorgan: seam-free tiled GAN colourisation of scientific grayscale images.

The public API is loaded lazily, so ``import napari_colorgan`` (and napari's
plugin discovery) does not import torch.
"""

from importlib import import_module

__version__ = "0.1.0"
__all__ = [
    "chroma_uncertainty",
    "colorize",
    "colorize_batch",
    "colorize_to_file",
    "export_model",
    "finetune",
    "list_models",
    "load_model",
    "metrics",
    "to_gray",
    "WeightsError",
]

_LAZY = {
    "colorize": "napari_colorgan.engine.pipeline",
    "colorize_to_file": "napari_colorgan.engine.pipeline",
    "colorize_batch": "napari_colorgan.batch",
    "to_gray": "napari_colorgan.engine.pipeline",
    "list_models": "napari_colorgan.models.registry",
    "load_model": "napari_colorgan.models.registry",
    "WeightsError": "napari_colorgan.models.registry",
    "chroma_uncertainty": "napari_colorgan.guide",
    "finetune": "napari_colorgan.train.transfer",
    "export_model": "napari_colorgan.export",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name == "metrics":
        return import_module("napari_colorgan.metrics")
    raise AttributeError(f"module 'napari_colorgan' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY, "metrics"])
