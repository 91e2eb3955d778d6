"""Transfer learning: adapt a trained generator to a new imaging domain from a few images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .trainer import TrainConfig, Trainer


def finetune_trainer(
    base: str | os.PathLike,
    images,
    steps: int = 300,
    *,
    frozen_fraction: float = 0.3,
    lr: float = 4e-4,
    unfrozen_lr_scale: float = 0.5,
    batch: int = 8,
    patch: int = 128,
    seed: int = 0,
    device: str = "auto",
) -> tuple[Trainer, list[str]]:
    """Set up fine-tuning of ``base`` on colour images; returns the trainer and image names.

    See :func:`finetune` for the parameters. Step through it with
    :meth:`Trainer.iter_fit` to show progress or stop early, then :meth:`Trainer.save`.
    """
    from ..io.readers import read_rgb
    from ..io.scaling import to_unit_float

    if not images:
        raise ValueError("finetune needs at least one colour image")
    if not 0 <= frozen_fraction <= 1:
        raise ValueError(f"frozen_fraction must be in [0, 1], got {frozen_fraction}")
    pixels, names = [], []
    for image in images:
        if isinstance(image, (str, os.PathLike)):
            names.append(Path(image).name)
            pixels.append(read_rgb(image))
        else:
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[-1] not in (3, 4):
                raise ValueError(f"expected a (Y, X, 3) colour image, got shape {image.shape}")
            names.append(f"array{image.shape[:2]}")
            pixels.append(to_unit_float(image[..., :3]))
    config = TrainConfig(
        base=os.fspath(base),
        steps=steps,
        # a base without a discriminator gets a fresh one: let the generator adapt first
        warmup=0 if _has_discriminator(base) else steps // 4,
        batch=batch,
        patch=min(patch, *(min(p.shape[:2]) // 8 * 8 for p in pixels)),
        lr_g=lr,
        lr_d=2 * lr,
        freeze_encoder=round(frozen_fraction * steps),
        unfrozen_lr_scale=unfrozen_lr_scale,
        seed=seed,
        device=device,
        log_every=max(1, steps // 50),
    )
    return Trainer(config, pixels), names


def _has_discriminator(base) -> bool:
    from ..models.registry import read_metadata, resolve

    return "discriminator" in read_metadata(resolve(base))


def finetune(
    base: str | os.PathLike,
    images,
    steps: int = 300,
    *,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    **kwargs,
) -> Trainer:
    """Fine-tune a generator (and its discriminator, when stored) on a few colour images.

    The first ``frozen_fraction`` of the steps trains the decoder only, with the
    encoder frozen, so that a handful of images cannot wreck the features learnt on
    the base data; then everything trains, at ``unfrozen_lr_scale`` times the rate.

    Parameters
    ----------
    base : str or path-like
        A shipped model name or a ``.safetensors`` file.
    images : list of path-like or ndarray
        1 to 10 colour images of the new domain (RGB; float in [0, 1] or integer).
    steps : int, optional
        Optimisation steps in all.
    out : path-like, optional
        Where to write the new model; its provenance names the base and the images.
    progress : bool, optional
        Show a tqdm progress bar.
    **kwargs
        ``frozen_fraction`` (0.3), ``lr`` (4e-4), ``unfrozen_lr_scale`` (0.5),
        ``batch`` (8), ``patch`` (128), ``seed`` (0), ``device`` ("auto").

    Returns
    -------
    Trainer
        With the fine-tuned EMA generator as ``trainer.G_ema``.
    """
    trainer, names = finetune_trainer(base, images, steps, **kwargs)
    trainer.fit(progress=progress)
    if out is not None:
        save_finetuned(trainer, out, names)
    return trainer


def save_finetuned(trainer: Trainer, out: str | os.PathLike, names: list[str]) -> Path:
    """Write a fine-tuned model with its base's provenance and the images' names."""
    from ..models.registry import read_metadata, resolve

    base = trainer.config.base
    return trainer.save(
        out,
        {
            "base": base,
            "base_provenance": read_metadata(resolve(base)).get("provenance", {}),
            "data": names,
        },
    )
