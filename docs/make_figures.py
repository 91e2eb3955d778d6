"""Make the README's before/after pictures from the held-out samples.

Run from the repository root:  python docs/make_figures.py
Writes docs/images/*.png: gray input | colorized by the shipped model of that domain |
true colour.
"""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import skimage.data

import napari_colorgan as ncg

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"


def panel(*images: np.ndarray, gap: int = 8) -> np.ndarray:
    """Images side by side on white, as uint8 RGB."""
    rgb = [np.repeat(im[..., None], 3, -1) if im.ndim == 2 else im for im in images]
    h = max(im.shape[0] for im in rgb)
    spacer = np.ones((h, gap, 3))
    parts = []
    for im in rgb:
        pad = np.ones((h, im.shape[1], 3))
        pad[: im.shape[0]] = im
        parts += [pad, spacer]
    return np.rint(np.concatenate(parts[:-1], axis=1) * 255).astype(np.uint8)


MODELS = {"he": "histology", "ihc": "histology", "hubble": "astronomy", "flower": "general"}


def held_out_pairs() -> dict[str, np.ndarray]:
    """Colour truths that no recipe trains on."""
    he = iio.imread(ROOT / "sample_data" / "he_crop_rgb.png")[..., :3] / 255
    ihc = skimage.data.immunohistochemistry()[256:] / 255
    hubble = skimage.data.hubble_deep_field()[300:700, 600:1000] / 255
    from sklearn.datasets import load_sample_image

    flower = load_sample_image("flower.jpg")[::2, ::2] / 255
    return {"he": he, "ihc": ihc, "hubble": hubble, "flower": flower}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, truth in held_out_pairs().items():
        gray = ncg.to_gray(truth)
        colour = ncg.colorize(gray, MODELS[name], device="cpu", normalize="none")
        iio.imwrite(OUT / f"{name}.png", panel(gray, colour, truth))
        print(f"wrote {OUT / f'{name}.png'}")


if __name__ == "__main__":
    main()
