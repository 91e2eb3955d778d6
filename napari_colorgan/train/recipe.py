"""Run a training recipe (a TOML config) end to end: train, evaluate held-out, save."""

from __future__ import annotations

import json
from pathlib import Path

from .evaluate import evaluate_model, format_table
from .trainer import TrainConfig, Trainer, load_images


def run_recipe(config_path: str | Path, out: str | Path, *, progress: bool = True) -> dict:
    """Train the model a config describes and write it, with held-out metrics, to ``out``.

    Data paths in the config are relative to the config file. Held-out metrics
    (and the gray baseline) are printed and stored in the weights' provenance; the
    loss log goes to ``logs/<out name>.csv`` beside the config.

    Returns
    -------
    dict
        The held-out results, as :func:`evaluate_model` gives them.
    """
    config_path, out = Path(config_path), Path(out)
    config = TrainConfig.from_toml(config_path)
    base = config_path.parent
    trainer = Trainer(config, load_images(config.data, base))
    log = base / "logs" / f"{out.stem}.csv"
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    trainer.fit(log_path=log, progress=progress)
    names = [_name(s) for s in config.heldout]
    heldout = dict(zip(names, load_images(config.heldout, base)))
    trainer.G_ema.eval()
    results = evaluate_model(trainer.G_ema, heldout)
    print(format_table(results))
    provenance = {
        "recipe": config_path.name,
        "data": [_name(s) for s in config.data],
        "heldout_metrics": {k: v["model"] for k, v in results.items()},
        "heldout_gray_baseline": {k: v["gray"] for k, v in results.items()},
    }
    trainer.save(out, provenance)
    print(f"wrote {out}")
    print(json.dumps(provenance["heldout_metrics"], indent=1))
    return results


def _name(spec: dict) -> str:
    parts = [spec["source"]]
    for key in ("rows", "cols"):
        if key in spec:
            parts.append(f"{key}={spec[key][0]:g}-{spec[key][1]:g}")
    return " ".join(parts)
