"""Real pairs against colour alone: fine-tuning on a camera's gray, and virtual staining.

    python benchmarks/pair_evidence.py [--seeds 0] [--steps 150] [--translate-steps 400]

1. ``histology`` fine-tuned on the IHC top half (scikit-image's immunohistochemistry)
   for ``--steps`` steps, from colour alone (grays made as L*, the trainer's default)
   and from the (colour, camera gray) pair, the gray a noisy linear 12-bit monochrome
   camera gives of it (:func:`napari_colorgan.grays.make_gray` ``"camera12"``: shot and
   read noise, dark offset, vignetting); scored on the camera gray of the bottom half,
   each gray normalised by ``colorize``'s default (global 0.1/99.9 percentiles), beside
   the base model. Columns: CIEDE2000 of the result and of its chroma alone (its a*b* at
   the truth's L*: the camera's gray is not the truth's lightness).
2. Virtual staining in ``translate`` mode: a lite generator trained from scratch
   (L1 only, ``--translate-steps``) to give the RGB of the top half from its
   hematoxylin channel (``skimage.color.rgb2hed``), an input that is no lightness;
   scored on the bottom half's channel against ``histology`` reading that channel as a
   gray and against a flat image of the top half's mean colour.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import skimage.color
import skimage.data

import napari_colorgan as ncg
from napari_colorgan.grays import make_gray
from napari_colorgan.metrics import evaluate
from napari_colorgan.train.sources import open_entry
from napari_colorgan.train.trainer import TrainConfig, Trainer
from napari_colorgan.train.transfer import finetune_trainer


def score(model, gray: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    rgb = ncg.colorize(gray, model, device="cpu")
    m = evaluate(rgb, truth)
    return m["delta_e2000"], m["delta_e2000_chroma"]


def camera_rows(top, bottom, seeds, steps) -> dict[str, list[tuple[float, float]]]:
    top_gray = make_gray(top, "camera12", seed=1)
    bottom_gray = make_gray(bottom, "camera12", seed=2)
    rows = {"histology (base)": [score("histology", bottom_gray, bottom)]}
    for seed in seeds:
        for name, inputs in (("colour alone", None), ("pair (colour, camera gray)", [top_gray])):
            start = time.perf_counter()
            trainer, _ = finetune_trainer(
                "histology", [top], steps, inputs=inputs, seed=seed, device="cpu"
            )
            trainer.fit(progress=False)
            rows.setdefault(f"fine-tuned, {name}", []).append(
                score(trainer.G_ema.eval(), bottom_gray, bottom)
            )
            print(f"  {name}, seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    return rows


def stain(rgb: np.ndarray) -> np.ndarray:
    """The hematoxylin channel of rgb2hed as a 16-bit image, as a stain scanner would save it."""
    h = skimage.color.rgb2hed(rgb)[..., 0]
    low, high = 0.0, 0.11  # covers the channel of the whole IHC image
    return np.round(np.clip((h - low) / (high - low), 0, 1) * 65535).astype(np.uint16)


def translate_rows(top, bottom, seed, steps) -> dict[str, list[tuple[float, float]]]:
    stain_top, stain_bottom = stain(top), stain(bottom)
    sources, _ = open_entry({"source": top, "input": stain_top})
    config = TrainConfig(
        mode="translate", steps=steps, adv=0.0, fm=0.0, batch=8, patch=96, lr_g=1e-3,
        warmup=0, seed=seed, device="cpu",
    )
    trainer = Trainer(config, sources)
    trainer.fit(progress=False)
    flat = np.broadcast_to(top.reshape(-1, 3).mean(0), bottom.shape).astype(np.float32)
    m = evaluate(flat, bottom)
    model = trainer.G_ema.eval()
    return {
        "translate, lite from scratch on the pair": [score(model, stain_bottom, bottom)],
        "histology reading the channel as gray": [score("histology", stain_bottom, bottom)],
        "the top half's mean colour, flat": [(m["delta_e2000"], m["delta_e2000_chroma"])],
    }


def table(rows: dict[str, list[tuple[float, float]]]) -> None:
    print("| model | ΔE2000 | ΔE2000 of the chroma | runs |")
    print("|---|---:|---:|---:|")
    for name, values in rows.items():
        de, chroma = (statistics.mean(v[k] for v in values) for k in (0, 1))
        spread = ""
        if len(values) > 1:
            spread = f" ({min(v[0] for v in values):.2f}-{max(v[0] for v in values):.2f})"
        print(f"| {name} | {de:.2f}{spread} | {chroma:.2f} | {len(values)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--translate-steps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    ihc = skimage.data.immunohistochemistry().astype(np.float32) / 255
    top, bottom = ihc[:256], ihc[256:]
    print(f"IHC top half -> bottom half, camera12 grays, {args.steps} steps, seeds {args.seeds}")
    table(camera_rows(top, bottom, args.seeds, args.steps))
    if args.translate_steps:
        print(f"\nvirtual staining from rgb2hed's hematoxylin, {args.translate_steps} steps")
        table(translate_rows(top, bottom, args.seeds[0], args.translate_steps))


if __name__ == "__main__":
    main()
