"""Record each shipped model's training-domain statistics, and probe how well they separate.

    python training/domain_stats.py            # writes napari_colorgan/weights/domain_stats.json
    python training/domain_stats.py --probe    # prints the distance table of docs/benchmarks.md

For every model, the training images of its recipe (video sources left out) are
cut into the whole image plus four random crops, each turned to gray in the ways a
user's data is made (:data:`GRAYS`: L*, luma, linear and noisy cameras, tone curves)
and normalised as ``colorize`` normalises it for that model; the mean and spread of their
bottleneck features (:func:`napari_colorgan.models.domain.features`) are recorded,
so that a camera gray of a model's own domain is not taken for another domain.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "napari_colorgan" / "weights" / "domain_stats.json"
SAMPLES = HERE.parent / "sample_data"
MODELS = ("general", "histology", "astronomy", "guided")
GRAYS = ("lstar", "luma", "linear12", "camera12", "gamma0.6", "gamma1.6")


def crops(rgb: np.ndarray, n: int = 4, size: int = 512) -> list[np.ndarray]:
    h, w = rgb.shape[:2]
    side = min(size, h, w)
    rng = np.random.default_rng(0)
    out = [rgb]
    for _ in range(n):
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        out.append(rgb[y : y + side, x : x + side])
    return out


def lookup_of(net, gray: np.ndarray):
    """A matched model's lookup of a gray in [0, 1] (None for other models)."""
    from napari_colorgan.matching import image_lookup

    if not net.arch.matched:
        return None
    return image_lookup(gray, (0.0, 1.0), net.reference.numpy())


def reference(net) -> np.ndarray:
    from napari_colorgan.engine.pipeline import model_intensity
    from napari_colorgan.grays import make_gray
    from napari_colorgan.io.scaling import to_unit_range
    from napari_colorgan.models.domain import features
    from napari_colorgan.train.data import load_source

    rows = []
    for entry in net.provenance["train_config"]["data"]:
        if entry["source"].startswith("video:"):
            continue
        rgb = load_source(
            entry["source"],
            rows=tuple(entry.get("rows", (0, 1))),
            cols=tuple(entry.get("cols", (0, 1))),
            base=HERE,
        )
        for crop in crops(rgb):
            for formation in GRAYS:
                gray = make_gray(crop, formation)
                gray = to_unit_range(gray, *model_intensity(gray, "auto", net))
                rows.append(features(net, gray, lookup_of(net, gray)))
    return np.array(rows)


def probe(stats: dict) -> None:
    import imageio.v3 as iio
    import skimage.data
    import tifffile

    from napari_colorgan.engine.pipeline import model_intensity, to_gray
    from napari_colorgan.io.scaling import to_unit_range
    from napari_colorgan.models.domain import domain_distance
    from napari_colorgan.models.registry import load_model
    from napari_colorgan.train.data import load_source

    nuclei = tifffile.imread(SAMPLES / "nuclei3d.tif")
    images = {
        "IHC, held-out half": iio.imread(SAMPLES / "ihc_bottom.png"),
        "H&E skin (no recipe)": iio.imread(SAMPLES / "he_skin.png"),
        "Hubble, held-out 40 %": tifffile.imread(SAMPLES / "hubble_right_uint16.tif"),
        "retina, held-out half": iio.imread(SAMPLES / "retina_bottom.png"),
        "flower (held out)": to_gray(load_source("sklearn:flower.jpg")),
        "fluorescence nuclei z=16": nuclei[16],
        "fluorescence nuclei MIP": nuclei.max(0),
        "moon": iio.imread(SAMPLES / "moon.png"),
        "camera": skimage.data.camera(),
        "coins": skimage.data.coins(),
        "cell": skimage.data.cell(),
    }
    names = [m for m in MODELS if m != "guided"]
    print("| image | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    nets = {m: load_model(m, "cpu") for m in names}
    for label, image in images.items():
        cells = []
        for net in nets.values():  # each model reads the image as colorize would
            gray = to_unit_range(image, *model_intensity(image, "auto", net))
            cells.append(f"{domain_distance(net, gray, lookup_of(net, gray)):.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


def main() -> None:
    from napari_colorgan.models.registry import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="store_true", help="print the distance table")
    args = parser.parse_args()
    if args.probe:
        probe(json.loads(OUT.read_text()))
        return
    stats = {}
    for name in MODELS:
        ref = reference(load_model(name, "cpu"))
        # a floor of a tenth of the typical spread: a feature nearly constant over the
        # training crops would otherwise call any other image far (held-out Hubble: 9.0)
        spread = ref.std(0)
        mean, std = ref.mean(0), spread + max(1e-3, 0.1 * float(np.median(spread)))
        stats[name] = {
            "crops": len(ref),
            "mean": [round(float(v), 5) for v in mean],
            "std": [round(float(v), 5) for v in std],
        }
        print(f"{name}: {len(ref)} crops")
    OUT.write_text(json.dumps(stats) + "\n")


if __name__ == "__main__":
    main()
