"""Which generator size learns most in the same wall time on this machine?

Each arm trains one size (``lite``, ``medium``, ``standard``; see
:data:`napari_colorgan.models.generator.SIZES`) from scratch on the histology recipe's
data with the L1 loss alone (what capacity buys, without the GAN's noise), at one
learning rate, for the same number of seconds, in the precision ``auto`` picks, and is
scored on the recipe's held-out halves (H&E slide, IHC). Two learning rates per size;
the residual branches start scaled down (the generator's own initialisation), so the
deeper nets start near identity too.

Run (after ``bash training/fetch_data.sh``; six arms of ``--seconds`` each on one
core, an hour at 600):

    python training/size_evidence.py --seconds 600
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from napari_colorgan.models.generator import count_parameters
from napari_colorgan.train.evaluate import evaluate_model
from napari_colorgan.train.recipe import heldout_images
from napari_colorgan.train.trainer import TrainConfig, Trainer, load_images

HERE = Path(__file__).resolve().parent
RECIPE = HERE / "histology.toml"
SIZE_NAMES = ("lite", "medium", "standard")
RATES = (1e-3, 3e-4)


def train_for(size: str, lr: float, seconds: float, data) -> tuple[Trainer, int]:
    """Train one arm until ``seconds`` have passed; return it and its steps."""
    config = TrainConfig(
        size=size,
        steps=10**9,
        warmup=10**9,
        batch=8,
        patch=128,
        lr_g=lr,
        adv=0.0,
        fm=0.0,
        threads=1,
    )
    trainer = Trainer(config, *data)
    start = time.perf_counter()
    for _ in trainer.iter_fit():
        if time.perf_counter() - start > seconds:
            break
    return trainer, trainer.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--out", type=Path, default=HERE / "logs" / "size_evidence.json")
    args = parser.parse_args()
    recipe = TrainConfig.from_toml(RECIPE)
    data = load_images(recipe.data, HERE)
    heldout = heldout_images(recipe.heldout, HERE)
    rows = []
    for size in SIZE_NAMES:
        for lr in RATES:
            trainer, steps = train_for(size, lr, args.seconds, data)
            trainer.G_ema.eval()
            scores = evaluate_model(trainer.G_ema, heldout)
            rows.append(
                {
                    "size": size,
                    "parameters": count_parameters(trainer.G),
                    "lr": lr,
                    "steps": steps,
                    **{k: v["model"]["delta_e2000"] for k, v in scores.items()},
                    "gray": {k: v["gray"]["delta_e2000"] for k, v in scores.items()},
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps({"seconds": args.seconds, "rows": rows}, indent=1))
    names = list(heldout)
    print(f"\n{args.seconds:g} s per arm, L1 only, ΔE2000 on the held-out parts\n")
    print("| size | parameters | lr | steps | " + " | ".join(names) + " |")
    print("| --- | ---: | ---: | ---: |" + " ---: |" * len(names))
    for r in rows:
        head = f"| {r['size']} | {r['parameters'] / 1e6:.2f} M | {r['lr']:g} | {r['steps']} | "
        print(head + " | ".join(f"{r[n]:.2f}" for n in names) + " |")
    print("| gray | | | | " + " | ".join(f"{rows[0]['gray'][n]:.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
