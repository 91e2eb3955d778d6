"""Training checkpoints: everything needed to continue a run exactly, in one safetensors file.

Model and optimiser states, the random streams, the step and the settings are
stored together; a checkpoint from a run with other settings is refused by name.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any

import torch

from ..io.atomic import atomic_write

CHECKPOINT_FORMAT = "napari-colorgan-checkpoint/1"
ENDS = (
    "steps",
    "device",
    "threads",
    "workers",
    "log_every",
    "checkpoint_every",
    "sample_every",
    "tensorboard",
)
"""Settings a run may change when it continues: where it ends and where and how it
reports or runs, not the way there (the patches drawn are the same for any number
of workers; precision, which changes the numbers, is checked on its own)."""


def save_checkpoint(
    path: str | Path,
    step: int,
    config: Any,
    parts: dict[str, Any],
    streams: dict[str, torch.Tensor],
    precision: str = "float32",
) -> Path:
    """Write ``parts`` (modules and optimisers by name) and ``streams`` atomically.

    Parameters
    ----------
    path : path-like
        The ``.safetensors`` file, replaced only when complete.
    step : int
        Steps done.
    config : dataclass
        The run's settings; a later run must have the same to continue.
    parts : dict of str to Module or Optimizer
        What has a ``state_dict``.
    streams : dict of str to Tensor
        Random generator states, stored as they are.
    precision : str
        The number format the run computes in (``"float32"``, ``"bfloat16"``): a
        run continues bit for bit only at the same one.
    """
    from safetensors.torch import save_file

    tensors = dict(streams)
    groups = {}
    for name, obj in parts.items():
        state = obj.state_dict()
        if isinstance(obj, torch.optim.Optimizer):
            groups[name] = state["param_groups"]
            state = {f"{i}.{k}": v for i, s in state["state"].items() for k, v in s.items()}
        tensors.update(
            {f"{name}.{k}": v.detach().cpu().contiguous().clone() for k, v in state.items()}
        )
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "step": str(step),
        "precision": precision,
        "config": json.dumps(asdict(config)),
        "param_groups": json.dumps(groups),
    }
    path = Path(path)
    with atomic_write(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)
    return path


def load_checkpoint(
    path: str | Path, config: Any, parts: dict[str, Any], precision: str = "float32"
) -> tuple[int, dict[str, torch.Tensor]]:
    """Load a checkpoint into ``parts``; return its step and all its tensors.

    Raises
    ------
    ValueError
        For an unreadable file, another format, a run with other settings (naming
        the settings that differ; those in :data:`ENDS` may) or at another
        ``precision`` (a checkpoint without one was written in float32).
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path}: not a readable checkpoint ({err})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a napari-colorgan training checkpoint")
    saved = json.loads(meta["config"])
    current = json.loads(json.dumps(asdict(config)))
    # a setting added since the checkpoint was written had its default then
    defaults = {f.name: f.default for f in fields(config) if f.default is not MISSING}
    changed = sorted(
        k for k, v in current.items() if saved.get(k, defaults.get(k)) != v and k not in ENDS
    )
    if changed:
        raise ValueError(
            f"{path} was written by a run with other settings ({', '.join(changed)}); "
            "delete it to start afresh"
        )
    saved_precision = meta.get("precision", "float32")
    if saved_precision != precision:
        raise ValueError(
            f"{path} was written by a run in {saved_precision}, this one computes in "
            f"{precision}; set precision = {saved_precision!r} to continue it"
        )
    groups = json.loads(meta["param_groups"])
    for name, obj in parts.items():
        prefix = name + "."
        own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        if isinstance(obj, torch.optim.Optimizer):
            state: dict = {}
            for key, v in own.items():
                i, _, k = key.partition(".")
                state.setdefault(int(i), {})[k] = v
            obj.load_state_dict({"state": state, "param_groups": groups[name]})
        else:
            obj.load_state_dict(own)
    return int(meta["step"]), tensors
