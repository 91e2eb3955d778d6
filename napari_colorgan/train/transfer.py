"""Transfer learning: adapt a trained generator to a new imaging domain from a few images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..models.registry import load_discriminator, load_generator, resolve
from .trainer import TrainConfig, Trainer

ENCODER = ("stem", "encoders", "downs", "bottleneck")


def _set_encoder_trainable(generator, trainable: bool) -> None:
    for name in ENCODER:
        getattr(generator, name).requires_grad_(trainable)


def finetune(
    base: str | os.PathLike,
    images,
    steps: int = 300,
    *,
    out: str | os.PathLike | None = None,
    frozen_fraction: float = 0.5,
    lr: float = 1e-4,
    unfrozen_lr_scale: float = 0.3,
    batch: int = 8,
    patch: int = 128,
    seed: int = 0,
    progress: bool = True,
):
    """Fine-tune a generator (and its discriminator, when stored) on a few colour images.

    The first ``frozen_fraction`` of the steps trains the decoder only, with the
    encoder frozen, so that a handful of images cannot wreck the features learnt on
    the base data; then everything trains, at ``unfrozen_lr_scale`` times the rate.

    Parameters
    ----------
    base : str or path-like
        A shipped model name or a ``.safetensors`` file.
    images : list of path-like or ndarray
        1 to a few colour images of the new domain (RGB; float in [0, 1] or integer).
    steps : int, optional
        Optimisation steps in all.
    out : path-like, optional
        Where to write the new model; its provenance names the base and the images.

    Returns
    -------
    Trainer
        With the fine-tuned EMA generator as ``trainer.G_ema``.
    """
    from ..engine.io import read_rgb, to_unit_float

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
            names.append("array")
            pixels.append(to_unit_float(np.asarray(image)[..., :3]))
    path = resolve(base)
    generator, meta = load_generator(path)
    discriminator = load_discriminator(path)
    config = TrainConfig(
        mode=generator.mode,
        steps=steps,
        warmup=0 if discriminator is not None else steps // 4,
        batch=batch,
        patch=min(patch, *(min(p.shape[:2]) for p in pixels)),
        lr_g=lr,
        lr_d=2 * lr,
        seed=seed,
        log_every=max(1, steps // 20),
    )
    trainer = Trainer(config, pixels, generator=generator, discriminator=discriminator)
    frozen_steps = round(frozen_fraction * steps)
    _set_encoder_trainable(trainer.G, False)
    config.steps = frozen_steps
    trainer.fit(progress=progress)
    _set_encoder_trainable(trainer.G, True)
    for group in trainer.opt_g.param_groups:
        group["lr"] = lr * unfrozen_lr_scale
    config.steps = steps
    trainer.fit(progress=progress)
    if out is not None:
        trainer.save(
            out,
            {
                "base": str(base),
                "base_provenance": meta.get("provenance", {}),
                "data": names,
                "finetune": {"frozen_steps": frozen_steps, "lr": lr},
            },
        )
    return trainer
