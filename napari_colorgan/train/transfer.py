"""Transfer learning: adapt a trained generator to a new imaging domain from a few images."""

from __future__ import annotations

import os
from pathlib import Path

from .sources import open_entry
from .trainer import TrainConfig, Trainer


def finetune_trainer(
    base: str | os.PathLike,
    images,
    steps: int = 300,
    *,
    inputs=None,
    frozen_fraction: float = 0.3,
    lr: float = 4e-4,
    unfrozen_lr_scale: float = 0.5,
    batch: int = 8,
    patch: int = 128,
    seed: int = 0,
    device: str = "auto",
    min_foreground: float = 0.0,
    workers: int = 0,
) -> tuple[Trainer, list[str]]:
    """Set up fine-tuning of ``base``; returns the trainer and the images' names.

    See :func:`finetune` for the parameters. Nothing is read whole: images are
    opened here and read by regions as patches are drawn. Step through it with
    :meth:`Trainer.iter_fit` to show progress or stop early, then :meth:`Trainer.save`.
    """
    if not images:
        raise ValueError("finetune needs at least one colour image")
    if not 0 <= frozen_fraction <= 1:
        raise ValueError(f"frozen_fraction must be in [0, 1], got {frozen_fraction}")
    if inputs is not None and len(inputs) != len(images):
        raise ValueError(
            f"got {len(inputs)} gray input(s) for {len(images)} colour image(s): give one "
            "input per image, in the same order (None for an image without one)"
        )
    sources, weights, names = [], [], []
    for k, image in enumerate(images):
        spec = {"source": image}
        if inputs is not None and inputs[k] is not None:
            spec["input"] = inputs[k]
        found, w = open_entry(spec)
        sources += found
        weights += w
        names += [s.name for s in found]
    config = TrainConfig(
        base=os.fspath(base),
        steps=steps,
        # a base without a discriminator gets a fresh one: let the generator adapt first
        warmup=0 if _has_discriminator(base) else steps // 4,
        batch=batch,
        patch=min(patch, *(min(s.shape) // 8 * 8 for s in sources)),
        lr_g=lr,
        lr_d=2 * lr,
        freeze_encoder=round(frozen_fraction * steps),
        unfrozen_lr_scale=unfrozen_lr_scale,
        seed=seed,
        device=device,
        log_every=max(1, steps // 50),
        min_foreground=min_foreground,
        workers=workers,
    )
    return Trainer(config, sources, weights), names


def _has_discriminator(base) -> bool:
    from ..models.registry import read_metadata, resolve

    return "discriminator" in read_metadata(resolve(base))


def finetune(
    base: str | os.PathLike,
    images,
    steps: int = 300,
    *,
    inputs=None,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    **kwargs,
) -> Trainer:
    """Fine-tune a generator (and its discriminator, when stored) on colour images or pairs.

    The first ``frozen_fraction`` of the steps trains the decoder only, with the
    encoder frozen, so that a handful of images cannot wreck the features learnt on
    the base data; then everything trains, at ``unfrozen_lr_scale`` times the rate.

    Parameters
    ----------
    base : str or path-like
        A shipped model name or a ``.safetensors`` file.
    images : list
        Colour images of the new domain, each a file (TIFF, BigTIFF, OME-TIFF, SVS,
        zarr/OME-Zarr, PNG, JPEG, FITS), a folder or glob of such files, ``"video:PATH"``,
        an array (numpy, dask, zarr; ``(Y, X, 3)``, float in [0, 1] or integer) or a
        multiscale list of arrays (a napari multiscale layer's ``data``, finest first).
        Read by regions as patches are drawn, never whole.
    steps : int, optional
        Optimisation steps in all.
    inputs : list, optional
        Real gray inputs, one per image in the same order (None where an image has
        none): a file or a folder/glob matching the image's files one by one, or a
        ``(Y, X)`` array, on the image's pixel grid. Its intensity is normalised by one
        global range, as ``colorize`` normalises it; the model learns the image's a*b*
        (``colorize`` mode) or its RGB (``translate`` mode) from it.
    out : path-like, optional
        Where to write the new model; its provenance names the base and the images.
    progress : bool, optional
        Show a tqdm progress bar.
    **kwargs
        ``frozen_fraction`` (0.3), ``lr`` (4e-4), ``unfrozen_lr_scale`` (0.5),
        ``batch`` (8), ``patch`` (128), ``seed`` (0), ``device`` ("auto"),
        ``min_foreground`` (0: the least share of foreground, e.g. tissue, of a
        patch, from a mask of each image's low-resolution view) and ``workers`` (0:
        processes reading patches ahead).

    Returns
    -------
    Trainer
        With the fine-tuned EMA generator as ``trainer.G_ema``.
    """
    if out is not None:  # before training, not after it
        from .recipe import check_output

        check_output(Path(out))
    trainer, names = finetune_trainer(base, images, steps, inputs=inputs, **kwargs)
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
