"""Is an input far from a model's training data? The model's own bottleneck features.

A low-resolution view of the input (its middle plane, at most 256 pixels a side)
goes through the generator; the per-channel mean and standard deviation of the
bottleneck activations form a feature vector. ``weights/domain_stats.json``
holds, per shipped model, the mean and spread of that vector over crops of the
model's training images (made by ``training/domain_stats.py``). The distance is
the root-mean-square z-score against them; above :data:`DOMAIN_LIMIT` the model
warns once per process, with fine-tuning as the remedy.

Measured (``python training/domain_stats.py --probe``, docs/benchmarks.md): the
matched astronomy model, whose features are of the matched view and so of texture
alone, puts its held-out field at 2.5 and other domains at 3.4 (cell) to 9.6 (camera),
IHC at 3.9 to 4.6 under the gray formations; the stage-2 histology and general models,
trained under varied grays, score every real image probed at most 2.4 and do not warn
on other domains; general warns on pixel noise (uniform noise 64 to 256 px a side, seen
at full resolution: 5.2 to 6.0; tests/test_readme.py measures it).
"""

from __future__ import annotations

import json
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..io.scaling import Intensity

DOMAIN_LIMIT = 4.0  # RMS z-score; in training units, "four spreads away on average"
VIEW = 256
_warned: set[str] = set()
_measured: dict[tuple[str, str], float | None] = {}
_lock = threading.Lock()  # threads share the model and warn once between them


class DomainWarning(UserWarning):
    """The input looks unlike anything the model was trained on."""


@lru_cache(maxsize=1)
def domain_stats() -> dict[str, dict[str, list[float]]]:
    """``{model name: {"mean": [...], "std": [...]}}`` of the shipped models."""
    path = Path(__file__).resolve().parent.parent / "weights" / "domain_stats.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def model_key(net: Any) -> str | None:
    """The shipped model a loaded model came from (its weights file's stem), or None."""
    return Path(net.source).stem if getattr(net, "source", None) else None


def features(net: Any, gray: np.ndarray, lookup: np.ndarray | None = None) -> np.ndarray:
    """Bottleneck mean and std per channel for a 2-D gray view in [0, 1].

    A matched model's view is matched through ``lookup``, its whole image's
    (:func:`~napari_colorgan.matching.image_lookup`), as its tiles are.
    """
    import torch
    from skimage.transform import resize

    from ..color import gray_to_lightness

    h, w = gray.shape
    f = min(1.0, VIEW / max(h, w))
    size = tuple(max(net.stride, round(n * f / net.stride) * net.stride) for n in (h, w))
    view = resize(gray, size, anti_aliasing=f < 1, preserve_range=True).astype(np.float32)
    device = next(net.parameters()).device
    L = gray_to_lightness(torch.from_numpy(view))[None, None].to(device)
    if lookup is not None:
        L = net.match(L, torch.from_numpy(lookup))[0]
    with torch.inference_mode():
        bottleneck = net.encode(L)  # a pure method: no hook on a model threads share
    b = bottleneck[0].float().flatten(1)
    return torch.cat([b.mean(1), b.std(1)]).cpu().numpy()


def domain_distance(net: Any, gray: np.ndarray, lookup: np.ndarray | None = None) -> float | None:
    """RMS z-score of a 2-D gray view (matched through ``lookup``, see :func:`features`)
    against the model's training crops; None if unknown."""
    stats = domain_stats().get(model_key(net) or "")
    if stats is None:
        return None
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    return float(np.sqrt(np.mean(((features(net, gray, lookup) - mean) / std) ** 2)))


def middle_view(image: Any, intensity: Intensity) -> np.ndarray:
    """The middle plane (a central crop of at most 1024 pixels a side) in [0, 1].

    Bounded reading: a lazy mosaic gives only the chunks under the crop.
    """
    from ..io.scaling import to_unit_range

    index = tuple(n // 2 for n in image.shape[:-2])
    h, w = image.shape[-2:]
    y0, x0 = max(0, h // 2 - 512), max(0, w // 2 - 512)
    plane = image[(*index, slice(y0, y0 + 1024), slice(x0, x0 + 1024))]
    return to_unit_range(np.asarray(plane), *intensity)


def check_domain(
    net: Any, image: Any, intensity: Intensity, lookup: np.ndarray | None = None
) -> float | None:
    """Warn once per model (one :class:`DomainWarning`, no log line) when ``image`` is far off.

    ``lookup`` is a matched model's for the whole image (see :func:`features`; made
    here when not given). napari shows the warning as a notification, the command
    line as one line, and a batch names the file. Returns the distance (None when the
    model has no recorded statistics).
    """
    import hashlib

    key = model_key(net)
    if key is None or key in _warned or key not in domain_stats():
        return None
    if lookup is None and getattr(net.arch, "matched", False):
        from ..matching import image_lookup

        lookup = image_lookup(image, intensity, net.reference.cpu().numpy())
    view = middle_view(image, intensity)
    digest = hashlib.blake2b(view.tobytes(), digest_size=16)
    if lookup is not None:
        digest.update(np.ascontiguousarray(lookup).tobytes())
    seen = (key, digest.hexdigest())
    if seen not in _measured:  # a view already judged (a re-run, a hint edit) costs nothing
        _measured[seen] = domain_distance(net, view, lookup)
    distance = _measured[seen]
    if distance is None or distance <= DOMAIN_LIMIT:
        return distance
    with _lock:
        first = key not in _warned
        _warned.add(key)
    if first:
        message = (
            f"this image is far from what the {key!r} model was trained on (distance "
            f"{distance:.1f} > {DOMAIN_LIMIT:g}); its colours are a guess: fine-tune it on a "
            "few colour images of your kind (in napari Plugins > ColorGAN > Fine-tune; "
            "colorgan finetune; napari_colorgan.finetune)"
        )
        warnings.warn(message, DomainWarning, stacklevel=3)
    return distance
