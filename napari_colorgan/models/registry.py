"""Weights on disk: safetensors files whose metadata carries the model config as JSON.

Shipped models live in ``napari_colorgan/weights/<name>.safetensors``; a user's
model loads from its path in exactly the same way. Nothing is ever unpickled:
a file that is not a safetensors file written by this package is refused.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.atomic import atomic_write

if TYPE_CHECKING:  # torch is imported only when a model is loaded
    import torch

    from .contract import ColorModel
    from .discriminator import PatchDiscriminator
    from .generator import Generator, GeneratorConfig

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
FORMAT = "napari-colorgan/1"
_GEN_PREFIX, _DISC_PREFIX = "generator.", "discriminator."


class WeightsError(ValueError):
    """A weights file that cannot be used: missing, corrupt, foreign or mismatched."""


def list_models() -> list[str]:
    """Names of the shipped models, for ``load_model`` and the plugin's menu."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def shipped_regression(name: str | os.PathLike) -> Path | None:
    """The L1-only U-Net trained with a shipped model's budget, kept as its baseline."""
    path = WEIGHTS_DIR / "baselines" / f"{os.fspath(name)}_l1.safetensors"
    return path if os.fspath(name) in list_models() and path.is_file() else None


def resolve(name_or_path: str | os.PathLike) -> Path:
    """Path of a shipped model name, or of a user's ``.safetensors`` file."""
    text = os.fspath(name_or_path)
    if text in list_models():
        return WEIGHTS_DIR / f"{text}.safetensors"
    path = Path(text).expanduser()
    if path.suffix == "" and not path.exists():
        raise WeightsError(
            f"unknown model {text!r}: use one of {list_models()} or a path to a .safetensors file"
        )
    if path.is_dir():
        raise WeightsError(f"{path} is a folder, not a .safetensors weights file")
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    return path


def save_weights(
    path: str | os.PathLike,
    generator: Generator,
    *,
    discriminator: PatchDiscriminator | None = None,
    provenance: dict | None = None,
) -> Path:
    """Write a generator (and optionally its discriminator) atomically to ``path``.

    Parameters
    ----------
    path : path-like
        Destination ``.safetensors`` file; written to a temporary file and renamed.
    generator : Generator
        The weights to ship (for a GAN, the EMA generator).
    discriminator : PatchDiscriminator, optional
        Kept for later fine-tuning.
    provenance : dict, optional
        Training data, steps, seed, metrics: stored as JSON in the metadata.
    """
    from safetensors.torch import save_file

    tensors = {_GEN_PREFIX + k: v for k, v in generator.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "generator": json.dumps(generator.arch.to_dict()),
        "provenance": json.dumps(provenance or {}),
    }
    if discriminator is not None:
        tensors.update({_DISC_PREFIX + k: v for k, v in discriminator.state_dict().items()})
        metadata["discriminator"] = json.dumps(discriminator.config.to_dict())
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    path = Path(path)
    with atomic_write(path) as tmp:  # it also undoes safetensors' owner-only mode
        save_file(tensors, tmp, metadata=metadata)
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The parsed metadata of a weights file: ``generator``, ``provenance``... as dicts.

    Raises
    ------
    WeightsError
        If the file is not a safetensors file written by napari-colorgan.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    _refuse_foreign_container(path)
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"{path} is not a valid safetensors file ({err})") from None
    if meta.get("format") != FORMAT or "generator" not in meta:
        raise WeightsError(
            f"{path} is a safetensors file but not a napari-colorgan model "
            f"(metadata 'format' is {meta.get('format')!r}, expected {FORMAT!r})"
        )
    try:
        parsed = {k: (v if k == "format" else json.loads(v)) for k, v in meta.items()}
    except json.JSONDecodeError as err:
        raise WeightsError(f"{path} has corrupt metadata: {err}") from None
    for key in ("generator", "discriminator", "provenance"):
        if key in parsed and not isinstance(parsed[key], dict):
            raise WeightsError(f"{path} has corrupt metadata: {key} is not a JSON object")
    return parsed


def _refuse_foreign_container(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(9)
    if head[8:9] == b"{":  # a safetensors header (its length may start with any byte)
        return
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise WeightsError(
            f"{path} is a pickle/zip checkpoint (e.g. torch.save); napari-colorgan never "
            "unpickles files. Convert it to safetensors with napari_colorgan.models.save_weights"
        )


def _load_state(module: torch.nn.Module, tensors: dict, prefix: str, path: Path) -> None:
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise WeightsError(f"{path}: weights do not match their config ({first})") from None


# sane bounds for an architecture read from a file, checked before anything is built
_MAX_LEVELS, _MAX_WIDTH, _MAX_BLOCKS = 8, 4096, 64
_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
_MAX_CONTEXT = 256
_PROBE_LIMIT = 1e4  # |output| a probe may reach: chroma / RGB are of order 1 to 100


def _generator_config(meta: dict, path: Path) -> GeneratorConfig:
    """The generator config of a file's metadata, refused when out of sane bounds."""
    from .generator import GeneratorConfig

    arch = meta["generator"]
    if not isinstance(arch, dict) or not isinstance(arch.get("widths"), list):
        raise WeightsError(f"{path} has an invalid generator config: no list of widths")
    unknown = sorted(set(arch) - set(GeneratorConfig.keys()))
    if unknown:
        raise WeightsError(
            f"{path} has an invalid generator config: unknown key {unknown[0]!r} (the keys "
            f"are {', '.join(GeneratorConfig.keys())})"
        )
    context = arch.get("context", 0)
    if not _is_int(context) or not 0 <= context <= _MAX_CONTEXT:
        raise WeightsError(
            f"{path} has an invalid generator config: context must be an integer in "
            f"0..{_MAX_CONTEXT}, got {context!r}"
        )
    widths, blocks = arch["widths"], arch.get("blocks", 1)
    if not 2 <= len(widths) <= _MAX_LEVELS or not all(
        _is_int(w) and 1 <= w <= _MAX_WIDTH for w in widths
    ):
        raise WeightsError(
            f"{path} has an invalid generator config: widths must be 2 to {_MAX_LEVELS} "
            f"integers in 1..{_MAX_WIDTH}, got {str(widths)[:80]}"
        )
    if not _is_int(blocks) or not 0 <= blocks <= _MAX_BLOCKS:
        raise WeightsError(
            f"{path} has an invalid generator config: blocks must be an integer in "
            f"0..{_MAX_BLOCKS}, got {blocks!r}"
        )
    for flag in ("attention", "guided", "matched", "linear_cameras"):
        if not isinstance(arch.get(flag, False), bool):
            raise WeightsError(
                f"{path} has an invalid generator config: {flag} must be true or false, "
                f"got {arch[flag]!r}"
            )
    try:
        return GeneratorConfig.from_dict(arch)
    except (TypeError, ValueError) as err:
        raise WeightsError(f"{path} has an invalid generator config: {err}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _header(path: Path, prefix: str) -> dict[str, tuple[list[int], str]]:
    """Shape and dtype of every tensor under ``prefix``, read from the header alone."""
    import json
    import struct

    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))  # read_metadata has opened it already
    return {
        k[len(prefix) :]: (v["shape"], v["dtype"])
        for k, v in header.items()
        if k.startswith(prefix) and isinstance(v, dict)
    }


def _check_shapes(module_type: type, config: object, path: Path, prefix: str) -> None:
    """Compare the tensors a config needs with the header's, building nothing real.

    The module is built on PyTorch's ``meta`` device: shapes without memory.
    """
    import torch

    with torch.device("meta"):
        expected = {k: list(v.shape) for k, v in module_type(config).state_dict().items()}
    stored = _header(path, prefix)
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise WeightsError(
            f"{path}: weights do not match their config ({what}; "
            f"{len(missing)} missing, {len(extra)} unexpected)"
        )
    for name, shape in expected.items():
        stored_shape, dtype = stored[name]
        if stored_shape != shape:
            raise WeightsError(
                f"{path}: weights do not match their config ({name} is {stored_shape}, "
                f"the config needs {shape})"
            )
        if dtype not in _FLOAT_DTYPES:
            raise WeightsError(f"{path}: tensor {name} is {dtype}, not floating point")


def _load_tensors(path: Path) -> dict:
    """All tensors of a checked file; non-finite values are refused."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"{path} is truncated or corrupt ({err})") from None
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise WeightsError(f"{path}: tensor {name} has {bad} NaN or infinite value(s)")
    return tensors


def load_generator(path: str | os.PathLike) -> tuple[Generator, dict]:
    """Build the generator described by a weights file and load its weights (on CPU).

    The config is checked against sane bounds and against the tensor shapes in the
    file's header before any module is built, and the weights must be finite.
    """
    from .generator import Generator

    path = resolve(path)
    meta = read_metadata(path)
    config = _generator_config(meta, path)
    _check_shapes(Generator, config, path, _GEN_PREFIX)
    tensors = _load_tensors(path)
    generator = Generator(config)
    _load_state(generator, tensors, _GEN_PREFIX, path)
    if config.matched:
        _check_reference(generator.reference, path)
    _probe(generator, path)
    return generator, meta


def _check_reference(reference, path: Path) -> None:
    """A matched model's reference must be lightness quantiles: non-decreasing, in [0, 100]."""
    if not (bool((reference.diff() >= 0).all()) and 0 <= reference.min() <= reference.max() <= 100):
        raise WeightsError(
            f"{path}: its reference lightness is not increasing quantiles in [0, 100] "
            "(a damaged or hand-edited file); retrain or re-create it"
        )


def _probe(generator: Generator, path: Path) -> None:
    """Refuse weights whose forward pass explodes on a small, ordinary input.

    Finite weights can still be absurd (scaled by 1e30, say): one forward pass over
    a 4-stride square of a lightness ramp, in float32, must stay finite and within
    :data:`_PROBE_LIMIT`. It costs a few milliseconds.
    """
    import torch

    side = 4 * generator.stride
    ramp = torch.linspace(0, 100, side * side).reshape(1, 1, side, side)
    channels = 1 + (generator.HINT_CHANNELS if generator.arch.guided else 0)  # L (and hints)
    probe = torch.zeros(1, channels, side, side)
    probe[:, :1] = ramp
    was_training = generator.training
    generator.eval()
    try:
        with torch.inference_mode():
            out = generator(probe)
    finally:
        generator.train(was_training)
    peak = float(out.abs().max()) if bool(torch.isfinite(out).all()) else float("inf")
    if not peak <= _PROBE_LIMIT:
        what = "NaN or infinite values" if peak == float("inf") else f"values up to {peak:.3g}"
        raise WeightsError(
            f"{path}: its generator gives {what} on an ordinary input (weights out of "
            "range: scaled or damaged); retrain or re-export them"
        )


def load_discriminator(path: str | os.PathLike) -> PatchDiscriminator | None:
    """The discriminator stored beside a generator, or None when there is none."""
    from dataclasses import fields

    from .discriminator import DiscriminatorConfig, PatchDiscriminator

    path = resolve(path)
    meta = read_metadata(path)
    if "discriminator" not in meta:
        return None
    arch = meta["discriminator"]
    known = {f.name for f in fields(DiscriminatorConfig)}
    if (
        not isinstance(arch, dict)
        or set(arch) - known
        or not all(
            _is_int(v) and 1 <= v <= (_MAX_LEVELS if k == "depth" else _MAX_WIDTH)
            for k, v in arch.items()
        )
    ):
        raise WeightsError(f"{path} has an invalid discriminator config: {str(arch)[:80]}")
    config = DiscriminatorConfig(**arch)
    _check_shapes(PatchDiscriminator, config, path, _DISC_PREFIX)
    disc = PatchDiscriminator(config)
    _load_state(disc, _load_tensors(path), _DISC_PREFIX, path)
    return disc


def weights_digest(path: str | os.PathLike) -> str:
    """A weights file's identity by content: its BLAKE2b digest (not its path or date).

    An output records it, so that a resumed run must use the same weights.
    """
    path = Path(path)
    stat = path.stat()
    return _digest_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _digest_file(path: str, _mtime: int, _size: int) -> str:
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return f"weights blake2b:{digest.hexdigest()}"


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; anything else is checked to exist."""
    import torch

    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} requested but MPS is not available")
    return dev


def load_model(name_or_path: str | os.PathLike, device: str = "auto") -> Generator:
    """Load a shipped model by name or a user's model by path, ready for inference.

    Parameters
    ----------
    name_or_path : str or path-like
        A name from :func:`list_models` or a ``.safetensors`` file.
    device : str, optional
        ``"auto"`` (cuda, then mps, then cpu), ``"cpu"``, ``"cuda:N"`` or ``"mps"``.

    Returns
    -------
    Generator
        In eval mode, on ``device``, with ``.config`` (dict incl. provenance),
        ``.mode`` and ``.source`` (the path it was loaded from). Cached per
        (file, device): do not modify the returned model in place.

    Raises
    ------
    WeightsError
        Unknown name, missing, corrupt, truncated, pickled or foreign file.
    """
    path = resolve(name_or_path)
    stat = path.stat()
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size, str(pick_device(device)))


def as_model(model: str | os.PathLike | ColorModel, device: str = "auto") -> ColorModel:
    """The one entry from what a user passes to a runnable model.

    Parameters
    ----------
    model : str, path or ColorModel
        A shipped model's name, a ``.safetensors`` path (loaded and cached by
        :func:`load_model`), or a model already loaded, used as it is.
    device : str
        Where a loaded model goes: ``"auto"``, ``"cpu"``, ``"cuda:N"`` or ``"mps"``.

    Raises
    ------
    TypeError
        For an object that is neither a name, a path nor a model.
    """
    if isinstance(model, (str, os.PathLike)):
        return load_model(model, device)
    missing = [name for name in ("arch", "mode", "stride", "halo") if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"model must be a name, a weights path or a generator; a {type(model).__name__} "
            f"has no {', '.join(missing)}"
        )
    return model


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: int, _size: int, device: str) -> Generator:
    import torch

    generator, meta = load_generator(path)
    # channels_last: about 1.7x faster convolutions on CPU (docs/benchmarks.md)
    generator.requires_grad_(False).eval().to(device, memory_format=torch.channels_last)
    generator.provenance = meta.get("provenance", {})
    generator.source = path
    return generator
