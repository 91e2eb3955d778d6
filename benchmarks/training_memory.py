"""Peak memory and step rate of fine-tuning by image size, and the shipped recipes' speed.

    python benchmarks/training_memory.py [--sizes 512 8192 20480] [--steps 12]
                                         [--old /tmp/ncg_old] [--recipes histology general]

Two tables:
  1. ``colorgan finetune --base histology --images slide.tif`` on pyramidal BigTIFF
     slides (scikit-image's IHC top half tiled to SIZE x SIZE, 256 px tiles, reduced
     levels as SubIFDs down to 512 px or so, written tile by tile): the peak RSS of the
     command (``wait4``'s ``ru_maxrss``) and its wall time; then the same fine-tune
     (``finetune_trainer`` and ``iter_fit``, what the command runs) timed step by step:
     its set-up (opening or loading the slide, the model) and steps/s (median and
     best step).
  2. Each shipped recipe's data as its run opens them: sampler batches/s (batch and
     patch of the recipe) and training steps/s (GAN phase, the recipe's threads),
     the best of rounds after one untimed step (the least disturbed on a shared machine).
With ``--old TREE`` (a copy of an earlier commit, e.g. ``git archive d7df17c~1 | tar -x
-C /tmp/ncg_old``) every row is also run by that code (its in-memory sampler), in the
same session; slides too large for it (``--old-max``) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_slide(path: Path, size: int, tile: int = 256) -> Path:
    """A ``size``-pixel square pyramidal BigTIFF of the IHC top half, tile by tile."""
    import skimage.data
    import tifffile

    if path.exists():
        return path
    top = skimage.data.immunohistochemistry()[:256]
    levels = 1
    while size >> levels >= 512:
        levels += 1

    def tiles(level: int):
        pattern = top[:: 1 << level, :: 1 << level]
        side = size >> level
        for y in range(0, side, tile):
            for x in range(0, side, tile):
                rows = np.arange(y, min(y + tile, side)) % pattern.shape[0]
                cols = np.arange(x, min(x + tile, side)) % pattern.shape[1]
                block = np.zeros((tile, tile, 3), np.uint8)
                block[: len(rows), : len(cols)] = pattern[np.ix_(rows, cols)]
                yield block

    tmp = path.with_suffix(".part.tif")
    with tifffile.TiffWriter(tmp, bigtiff=True) as tif:
        options = {"tile": (tile, tile), "photometric": "rgb", "dtype": np.uint8}
        tif.write(tiles(0), shape=(size, size, 3), subifds=levels - 1, **options)
        for level in range(1, levels):
            side = size >> level
            tif.write(tiles(level), shape=(side, side, 3), subfiletype=1, **options)
    tmp.rename(path)
    return path


def run(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of a command."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{text[-2000:]}")
    return wall, usage.ru_maxrss / 1024, text


def environment(tree: Path | None, threads: int) -> tuple[Path, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if tree is None:
        return ROOT, env
    return tree, {**env, "PYTHONPATH": str(tree)}


STEPS_CHILD = """
import statistics, sys, time
from napari_colorgan.train.transfer import finetune_trainer
start = time.perf_counter()
trainer, _ = finetune_trainer("histology", [sys.argv[1]], int(sys.argv[2]), device="cpu")
opened, times, last = time.perf_counter() - start, [], time.perf_counter()
for _ in trainer.iter_fit():
    times.append(time.perf_counter() - last)
    last = time.perf_counter()
print(opened, 1 / statistics.median(times[2:]), 1 / min(times[2:]))
"""


def finetune_row(slide: Path, steps: int, tree, threads, workdir: Path) -> dict:
    """Peak RSS of ``colorgan finetune``; steps/s, the median step of the same fine-tune
    timed step by step in another process (the first two steps left out)."""
    cwd, env = environment(tree, threads)
    out = workdir / "tuned.safetensors"
    cmd = [sys.executable, "-m", "napari_colorgan.cli", "finetune", "--base", "histology"]
    cmd += ["--images", str(slide), "--out", str(out), "--steps", str(steps), "--device", "cpu"]
    wall, peak, _ = run(cmd, cwd, env)
    _, _, text = run([sys.executable, "-c", STEPS_CHILD, str(slide), str(steps)], cwd, env)
    opened, rate, best = (float(v) for v in text.split()[-3:])
    return {"peak_mb": peak, "wall": wall, "open_s": opened, "steps_per_s": rate, "best": best}


CHILD = """
import dataclasses, json, statistics, sys, time
from pathlib import Path
import napari_colorgan
from napari_colorgan.train import trainer as t
recipe, rounds = Path(sys.argv[1]), int(sys.argv[2])
config = t.TrainConfig.from_toml(recipe)
config = dataclasses.replace(config, warmup=0, steps=10**9, sample_every=0)
opener = getattr(t, "open_images", t.load_images)
start = time.perf_counter()
images, weights = opener(config.data, recipe.parent)
trainer = t.Trainer(config, images, weights)
opened = time.perf_counter() - start
sampler = trainer.sampler
draw = (lambda i: sampler.batch(i, config.batch)) if hasattr(sampler, "batch") else (
    lambda i: sampler.sample(config.batch))
draw(0)
times = []
for i in range(rounds * 10):
    s = time.perf_counter(); draw(i + 1); times.append(time.perf_counter() - s)
trainer.train_step()
steps = []
for _ in range(rounds):
    s = time.perf_counter(); trainer.train_step(); steps.append(time.perf_counter() - s)
print(json.dumps({"module": napari_colorgan.__file__, "open_s": opened,
    "batches_per_s": 1 / min(times), "steps_per_s": 1 / min(steps)}))
"""


def recipe_row(recipe: Path, tree, rounds: int) -> dict:
    cwd, env = environment(tree, 1)
    _, peak, text = run([sys.executable, "-c", CHILD, str(recipe), str(rounds)], cwd, env)
    row = json.loads(text.strip().splitlines()[-1])
    expected = str((tree or ROOT).resolve())
    if not row["module"].startswith(expected):
        raise RuntimeError(f"ran {row['module']}, not the code in {expected}")
    return {**row, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[512, 8192, 20480])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--old", type=Path, help="a tree of earlier code to compare against")
    parser.add_argument("--old-max", type=int, default=8192, help="largest slide for --old")
    parser.add_argument("--recipes", nargs="*", default=["histology", "general", "astronomy"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ncg_slides")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    trees = {"this": None, **({"old": args.old.resolve()} if args.old else {})}
    print(f"colorgan finetune --base histology --steps {args.steps}, "
          f"OMP_NUM_THREADS={args.threads}")
    print("| slide | pixels MB | code | peak RSS MB | wall s | set-up s | steps/s | best |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        slide = write_slide(args.workdir / f"ihc_{size}.tif", size)
        for name, tree in trees.items():
            if name == "old" and size > args.old_max:
                print(f"| {size}² | {3 * size * size / 1e6:.0f} | {name} | (not run) | | | | |")
                continue
            r = finetune_row(slide, args.steps, tree, args.threads, args.workdir)
            print(f"| {size}² | {3 * size * size / 1e6:.0f} | {name} | {r['peak_mb']:.0f} | "
                  f"{r['wall']:.0f} | {r['open_s']:.1f} | {r['steps_per_s']:.2f} | "
                  f"{r['best']:.2f} |", flush=True)
    if not args.recipes:
        return
    print(f"\nshipped recipes, 1 thread, best of {args.rounds} steps, {10 * args.rounds} batches")
    print("| recipe | code | open s | sampler batches/s | train steps/s | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|")
    for recipe in args.recipes:
        path = ROOT / "training" / f"{recipe}.toml"
        for name, tree in trees.items():
            r = recipe_row(path, tree, args.rounds)
            print(f"| {recipe} | {name} | {r['open_s']:.1f} | {r['batches_per_s']:.1f} | "
                  f"{r['steps_per_s']:.2f} | {r['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
