"""Run a training recipe (a TOML config) end to end: train, evaluate held-out, save."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from .evaluate import evaluate_model, format_table
from .trainer import TrainConfig, Trainer, load_images, open_images


def run_recipe(
    config_path: str | Path,
    out: str | Path,
    *,
    progress: bool = True,
    restart: bool = False,
    l1_only: bool = False,
    **overrides,
) -> dict:
    """Train the model a config describes and write it, with held-out metrics, to ``out``.

    Data paths in the config are relative to the config file. The loss log, the
    checkpoint and sample grids go to ``logs/`` beside the config, named after
    ``out``; a run that was stopped continues from its checkpoint unless
    ``restart``. Held-out metrics, with the gray and mean-chroma baselines, are
    printed and stored in the weights' provenance.

    Parameters
    ----------
    l1_only : bool
        Train the regression baseline instead: no discriminator, no chroma or
        perceptual term, the same data, steps and seed. A recipe that fine-tunes a
        shipped model then starts from that model's own L1-only baseline.
    **overrides
        Settings that replace the config's, e.g. ``device="cuda"``.

    Returns
    -------
    dict
        The held-out results, as :func:`evaluate_model` gives them.
    """
    config_path, out = Path(config_path), Path(out)
    here = config_path.parent
    check_output(out)
    config = read_recipe(config_path, overrides)
    if config.base.endswith(".safetensors") and not Path(config.base).is_absolute():
        config.base = str(here / config.base)
    if l1_only:
        overrides = {"adv": 0.0, "fm": 0.0, "chroma": 0.0, "perceptual": "", **overrides}
        if config.base and "base" not in overrides:
            overrides["base"] = _regression_of(config.base)
    config = dataclasses.replace(config, **overrides)
    logs = here / "logs"
    logs.mkdir(exist_ok=True)
    log, checkpoint = logs / f"{out.stem}.csv", logs / f"{out.stem}.checkpoint.safetensors"
    trainer = Trainer(config, *open_images(config.data, here))
    if checkpoint.exists() and not restart:
        step = trainer.load_checkpoint(checkpoint)
        if trainer.rank == 0:
            print(f"resuming from {checkpoint} at step {step}")
            _truncate_log(log, step)
    elif trainer.rank == 0:
        checkpoint.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    trainer.fit(log, progress, checkpoint=checkpoint, sample_dir=logs / f"{out.stem}_samples")
    if trainer.rank:
        return {}
    heldout = heldout_images(config.heldout, here)
    trainer.G_ema.eval()
    results = evaluate_model(trainer.G_ema, heldout, mean_ab=trainer.mean_ab)
    print(format_table(results))
    provenance = {
        "recipe": config_path.name,
        "data": [_name(s) for s in config.data],
        "heldout_metrics": {k: v["model"] for k, v in results.items()},
        "heldout_baselines": {k: {m: v[m] for m in v if m != "model"} for k, v in results.items()},
    }
    trainer.save(out, provenance)
    checkpoint.unlink()
    print(f"wrote {out}")
    return results


def read_recipe(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    """Read, check and build a recipe's settings, before any data are opened.

    Raises
    ------
    RecipeError
        One line naming the file: a TOML syntax error, an unknown key, a value of
        the wrong type or out of range (with what is allowed), a data file or a
        ``skimage:`` image that does not exist (see :mod:`.validate`).
    FileNotFoundError
        When the recipe itself does not exist.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    from .validate import RecipeError, check_base, check_data_files, check_settings, field_names

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training recipe not found: {path}")
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"{path}: not valid TOML ({err})") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not a text file (TOML is UTF-8)") from None
    train = raw.pop("train", {})
    if not isinstance(train, dict):
        raise RecipeError(f"{path}: [train] must be a table of settings, got {train!r}")
    flat = {**train, **raw}
    known = field_names(TrainConfig)
    check_settings(flat, path, known)
    check_data_files(flat, path.parent, path)
    if overrides:
        check_settings(dict(overrides), f"{path} (overridden)", known)
    check_base({**flat, **(overrides or {})}.get("base"), path.parent, path)
    try:
        return TrainConfig(**flat)
    except (TypeError, ValueError) as err:  # a check of TrainConfig's own
        raise RecipeError(f"{path}: {err}") from None


def check_output(out: Path) -> None:
    """Refuse, before training, an output that cannot be written when training ends."""
    if out.suffix.lower() != ".safetensors":
        raise ValueError(f"the trained weights go to a .safetensors file, got {out}")
    if not out.parent.is_dir():
        raise FileNotFoundError(
            f"output folder does not exist: {out.parent} (create it before training)"
        )
    if out.is_dir():
        raise IsADirectoryError(f"the output {out} is a folder; name a .safetensors file")


def _regression_of(base: str) -> str:
    from ..models.registry import shipped_regression

    regression = shipped_regression(base)
    if regression is None:
        raise ValueError(
            f"{base!r} has no shipped L1-only baseline to start the regression run from; "
            "pass one as base"
        )
    return str(regression)


def _truncate_log(log: Path, step: int) -> None:
    """Drop the log rows written after the checkpoint a run resumes from."""
    if not log.exists():
        return
    with open(log, newline="") as f:
        rows = list(csv.reader(f))
    keep = rows[:1] + [r for r in rows[1:] if int(r[0]) <= step]
    with open(log, "w", newline="") as f:
        csv.writer(f).writerows(keep)


def heldout_images(specs: list[dict], here: Path) -> dict[str, np.ndarray]:
    """The held-out truths by name; a video's frames side by side, as one image."""
    return {_name(s): np.concatenate(load_images([s], here)[0], axis=1) for s in specs}


def _name(spec: dict) -> str:
    parts = [spec["source"]] + ([f"input={spec['input']}"] if "input" in spec else [])
    for key in ("rows", "cols", "frames"):
        if key in spec:
            parts.append(f"{key}={spec[key][0]:g}-{spec[key][1]:g}")
    for key in ("every", "weight"):
        if key in spec:
            parts.append(f"{key}={spec[key]:g}")
    return " ".join(parts)
