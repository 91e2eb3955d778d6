"""Precision of a generator's forward pass: full, or reduced where the device runs it natively.

``"auto"`` picks bf16 autocast on CPUs whose instruction set computes bf16
(AVX512-BF16 or AMX; never where bf16 would be emulated, which is slower than
fp32), AMP on CUDA (bf16 where the GPU has it, else fp16) and fp32 elsewhere
(MPS is not measured yet). Colour conversion stays in float32: only the network
runs in reduced precision, so L is kept exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .fused import fused_forward

PRECISIONS = ("auto", "float32", "bfloat16")

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """A resolved precision for one device type.

    Parameters
    ----------
    dtype : {"float32", "bfloat16", "float16"}
        Compute dtype of the network's matrix products and convolutions.
    device_type : {"cpu", "cuda", "mps"}
        The device type the autocast region runs on.
    """

    dtype: str
    device_type: str

    @property
    def reduced(self) -> bool:
        """True when the network runs under autocast in bf16 or fp16."""
        return self.dtype != "float32"

    def autocast(self) -> contextlib.AbstractContextManager:
        """A context in which the network runs at this precision (a no-op for float32)."""
        if not self.reduced:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=_DTYPES[self.dtype])

    def forward(
        self, model: Callable[..., torch.Tensor], x: torch.Tensor, *args: torch.Tensor | None
    ) -> torch.Tensor:
        """``model(x, *args)`` at this precision, in inference mode, as float32.

        ``x`` is made channels_last (a copy only if it is not already), the layout
        in which oneDNN and cuDNN run these convolutions fastest. A generator in bf16
        on the CPU runs as fused convolutions (:mod:`~napari_colorgan.engine.fused`).
        """
        x = x.contiguous(memory_format=torch.channels_last)
        fused = self.dtype == "bfloat16" and self.device_type == "cpu" and fused_forward(model)
        with torch.inference_mode():
            if fused:
                return fused(x, *args)
            with self.autocast():
                return model(x, *args).float()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX tiles), x86 only.

    Elsewhere (AVX2, plain AVX-512, ARM) PyTorch emulates bf16 and it runs slower
    than float32.
    """
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def choose_precision(
    precision: str, device_type: str, *, native_bf16: bool, cuda_bf16: bool = False
) -> Precision:
    """The precision for a device type with the given capabilities (no detection).

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16"}
        What was asked for.
    device_type : str
        ``"cpu"``, ``"cuda"``, ``"mps"`` or another torch device type.
    native_bf16 : bool
        For ``"cpu"``: the CPU computes bf16 natively (:func:`cpu_has_native_bf16`).
    cuda_bf16 : bool, optional
        For ``"cuda"``: the GPU supports bf16 (``torch.cuda.is_bf16_supported()``).

    Raises
    ------
    ValueError
        For an unknown ``precision``, or ``"bfloat16"`` on a device without it.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "float32":
        return Precision("float32", device_type)
    bf16 = (device_type == "cpu" and native_bf16) or (device_type == "cuda" and cuda_bf16)
    if precision == "bfloat16":
        if not bf16:
            raise ValueError(
                f"precision 'bfloat16' is not supported natively on this {device_type} device; "
                "use 'auto' or 'float32'"
            )
        return Precision("bfloat16", device_type)
    if device_type == "cuda":
        return Precision("bfloat16" if cuda_bf16 else "float16", "cuda")
    return Precision("bfloat16" if bf16 else "float32", device_type)


def resolve_precision(precision: str, device: torch.device | str) -> Precision:
    """The precision to run a generator at on ``device``, detecting what it supports.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16"}
        - ``"auto"``: bf16 autocast on CPUs with native bf16, AMP on CUDA (bf16 or
          fp16), float32 elsewhere.
        - ``"float32"``: full precision everywhere.
        - ``"bfloat16"``: bf16 autocast; an error where the device lacks it.
    device : torch.device or str
        The device the model is on.

    Returns
    -------
    Precision
    """
    device = torch.device(device)
    return choose_precision(
        precision,
        device.type,
        native_bf16=device.type == "cpu" and cpu_has_native_bf16(),
        cuda_bf16=device.type == "cuda" and torch.cuda.is_bf16_supported(),
    )


# Measured with benchmarks/windows.py (docs/benchmarks.md): on a 2-core AVX512-BF16 CPU
# the useful-pixel rate peaks at 512 px tiles (640 px windows with the lite halo of 64)
# in fp32 and in bf16; 384 and 768 are within the noise, 128 and 256 pay for their halo,
# 1024 for activations that leave the cache. Batching windows never helped on the CPU.
CPU_TILE = 512
CUDA_TILE = 512  # not measured on a GPU yet (benchmarks/gpu_check.py): the engine's default


def default_tile_size(precision: Precision) -> int:
    """Output pixels per tile side when the caller gives none, for this precision and device.

    512 on the CPU at every precision (the measured peak); on CUDA the same until a
    GPU run measures it.
    """
    return CUDA_TILE if precision.device_type == "cuda" else CPU_TILE


def default_batch_size(
    precision: Precision, window: tuple[int, int], device: torch.device | str = "cuda"
) -> int:
    """Windows per forward when the caller gives none.

    One on the CPU, where one forward per core in flight beats batching (measured); on
    CUDA as many as fit in half the free memory at about 1 kB of activations per window
    pixel in float32, half that under AMP, at most 64.
    """
    if precision.device_type != "cuda":
        return 1
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    per_pixel = 512 if precision.reduced else 1024
    return max(1, min(64, int(free * 0.5) // (window[0] * window[1] * per_pixel)))
