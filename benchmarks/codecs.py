"""Bytes of a colourised uint8 image under zarr codecs, against its gray input's.

    python benchmarks/codecs.py [--size 2048]

A real image (scikit-image's retina as gray, resized to SIZE²) is colourised with
the shipped ``general`` model at the package's defaults, then stored as the OME-Zarr
level 0 stores it, ``(3, Y, X)`` uint8 in 1024² chunks, under each codec chain; the
gray input is stored as a uint8 zarr with zarr's default codecs. Sizes only (they
do not depend on the machine's load); the pyramid adds about a third more.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    import skimage.data
    import skimage.transform
    import zarr
    from zarr.codecs import TransposeCodec, ZstdCodec

    import napari_colorgan as ncg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    gray = ncg.to_gray(skimage.data.retina())
    gray = skimage.transform.resize(gray, (args.size, args.size), order=1)
    gray8 = np.rint(gray * 255).astype(np.uint8)
    rgb = np.moveaxis(np.rint(ncg.colorize(gray8, "general") * 255).astype(np.uint8), -1, 0)
    interleaved = [TransposeCodec(order=(1, 2, 0))]
    chains = {
        "zstd level 0 (zarr's default), planar": {"compressors": [ZstdCodec(level=0)]},
        "zstd level 5, planar": {"compressors": [ZstdCodec(level=5)]},
        "zstd level 9, planar": {"compressors": [ZstdCodec(level=9)]},
        "transpose to RGB-interleaved + zstd 5 (the package's)": {
            "filters": interleaved,
            "compressors": [ZstdCodec(level=5)],
        },
        "transpose + zstd 9": {"filters": interleaved, "compressors": [ZstdCodec(level=9)]},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = zarr.create_array(
            folder / "in", shape=gray8.shape, chunks=(1024, 1024), dtype="u1"
        )
        source[:] = gray8
        base = _bytes(folder / "in")
        print(f"{args.size}² retina as gray, uint8 zarr input: {base / 1e6:.2f} MB\n")
        print("| codecs of the colour level 0 | MB | x input |")
        print("|---|---:|---:|")
        for k, (name, codecs) in enumerate(chains.items()):
            path = folder / f"c{k}"
            z = zarr.create_array(
                path, shape=rgb.shape, chunks=(3, 1024, 1024), dtype="u1", **codecs
            )
            z[:] = rgb
            assert np.array_equal(z[:], rgb)
            print(f"| {name} | {_bytes(path) / 1e6:.2f} | {_bytes(path) / base:.2f} |")


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


if __name__ == "__main__":
    main()
