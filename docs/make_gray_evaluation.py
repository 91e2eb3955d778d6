"""Chroma-only CIEDE2000 of the shipped models under every way of making the gray.

Run from the repository root, after ``bash training/fetch_data.sh``:

    python docs/make_gray_evaluation.py --label after      # score the weights in the package
    python docs/make_gray_evaluation.py --label linear --declare-linear  # cameras as light
    python docs/make_gray_evaluation.py --table            # print the markdown tables

Each held-out colour image is turned to gray by each formation of
:data:`napari_colorgan.grays.FORMATIONS` (exact L*, luma, linear 12/16-bit cameras,
tone curves, a noisy vignetted camera), colourised as a user would (``colorize``
with its default normalisation) and scored by :func:`napari_colorgan.metrics.
chroma_delta_e2000`, the prediction's a*b* at the truth's L* (the lightness a
colourisation keeps from its input is not counted). With ``--declare-linear`` the
camera grays (linear12, linear16, camera12) are colourised with ``normalize="linear"``,
as a user who knows the camera is linear in light would ask. Scores are kept per label in
training/logs/gray_evaluation.json, so weights before and after a retraining sit
side by side.
"""

import argparse
import json
from pathlib import Path

import make_evaluation
import numpy as np

import napari_colorgan as ncg
from napari_colorgan.grays import FORMATIONS, make_gray
from napari_colorgan.metrics import chroma_delta_e2000
from napari_colorgan.models.registry import shipped_regression
from napari_colorgan.train.evaluate import gray_baseline

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "training" / "logs" / "gray_evaluation.json"
NOT_SCIENTIFIC = ("flower.jpg (photograph)", "carphone, 4 held-out frames (video)")


def heldout() -> dict[str, dict[str, np.ndarray]]:
    """The held-out truths of docs/make_evaluation.py; for general, its scientific ones."""
    truths = make_evaluation.heldout()
    truths["general"] = {k: v for k, v in truths["general"].items() if k not in NOT_SCIENTIFIC}
    return truths


def score(models: list[str], methods: list[str], declare_linear: bool = False) -> dict:
    """``{model: {image: {method: {formation: score}}}}`` for the weights installed now."""
    results = {}
    for name, images in heldout().items():
        if name not in models:
            continue
        nets = {
            method: ncg.load_model(name, "cpu") if method == "model" else shipped_regression(name)
            for method in methods
        }
        results[name] = {}
        for image, rgb in images.items():
            # gray keeps the truth's L*: the same score whatever the formation
            rows = {"gray": dict.fromkeys(FORMATIONS, chroma_delta_e2000(gray_baseline(rgb), rgb))}
            for method, net in nets.items():
                rows[method] = {}
                for formation in FORMATIONS:
                    gray = make_gray(rgb, formation)
                    camera = formation.startswith(("linear", "camera"))
                    normalize = "linear" if declare_linear and camera else "auto"
                    colour = ncg.colorize(gray, net, normalize=normalize)
                    rows[method][formation] = chroma_delta_e2000(colour, rgb)
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
    parser.add_argument("--declare-linear", action="store_true",
                        help='colourise the camera grays with normalize="linear"')
    parser.add_argument("--table", action="store_true", help="print the markdown tables")
    args = parser.parse_args()
    if args.label:
        scores = score(args.models, args.methods, args.declare_linear)
        record = json.loads(RECORD.read_text()) if RECORD.exists() else {}  # read late: merge
        for model, images in scores.items():  # merge down to the methods scored now
            kept = record.setdefault(args.label, {}).setdefault(model, {})
            for image, rows in images.items():
                kept.setdefault(image, {}).update(rows)
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
    if args.table:
        print(table(json.loads(RECORD.read_text())))


if __name__ == "__main__":
    main()
