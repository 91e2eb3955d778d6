"""Steps per second of a shipped training recipe, float32 against bf16, in one run.

    python benchmarks/train_recipe.py [--recipe training/general.toml] [--steps 4]
                                      [--rounds 2] [--threads RECIPE]

The recipe's own data, model, batch, patch and threads; only ``precision`` differs
(``float32``: NCHW, no autocast; ``bfloat16``: autocast and channels_last, the
trainer's ``"auto"`` on a CPU with native bf16). Both phases of a run are timed:
the L1 warm-up (generator only) and the GAN steps (discriminator, R1 every
``r1_every`` steps, feature matching); each cell is the median over rounds of
``--steps`` steps after one untimed step, rows interleaved round by round. The
last row weighs the two phases as the recipe does (``warmup`` of ``steps``).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch

from napari_colorgan.train.trainer import TrainConfig, Trainer, load_images

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("float32", "bfloat16")


def seconds_per_step(config: TrainConfig, images, weights, gan: bool, steps: int) -> float:
    """Median seconds of ``steps`` training steps in the L1 (``gan=False``) or GAN phase."""
    config = dataclasses.replace(config, warmup=0 if gan else 10**9, steps=10**9)
    trainer = Trainer(config, images, weights)
    trainer.train_step()  # first-call costs (allocations, oneDNN primitives) untimed
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "training" / "general.toml")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="0: the recipe's own")
    args = parser.parse_args()
    recipe = TrainConfig.from_toml(args.recipe)
    if args.threads:
        recipe = dataclasses.replace(recipe, threads=args.threads)
    images, weights = load_images(recipe.data, args.recipe.parent)
    cells: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for phase in ("L1 warm-up", "GAN"):
            for precision in PRECISIONS:
                config = dataclasses.replace(recipe, precision=precision)
                sec = seconds_per_step(config, images, weights, phase == "GAN", args.steps)
                cells.setdefault((phase, precision), []).append(sec)
    med = {k: statistics.median(v) for k, v in cells.items()}
    share = recipe.warmup / recipe.steps
    for precision in PRECISIONS:
        l1, gan = med[("L1 warm-up", precision)], med[("GAN", precision)]
        med[("whole recipe", precision)] = share * l1 + (1 - share) * gan
    print(
        f"{args.recipe.name}: {recipe.size}, batch {recipe.batch} x {recipe.patch}², "
        f"{recipe.threads or torch.get_num_threads()} thread(s), median of {args.rounds} "
        f"rounds x {args.steps} steps\n"
    )
    print("| phase | fp32 s/step | bf16 s/step | fp32 steps/s | bf16 steps/s | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for phase in ("L1 warm-up", "GAN", "whole recipe"):
        f32, b16 = med[(phase, "float32")], med[(phase, "bfloat16")]
        print(
            f"| {phase} | {f32:.2f} | {b16:.2f} | {1 / f32:.3f} | {1 / b16:.3f} | {f32 / b16:.2f} |"
        )


if __name__ == "__main__":
    main()
