"""The cost of starting: whole-image intensity statistics, bounded read against a full pass.

    python benchmarks/statistics.py [--old-commit 752936e]

Prints, per input, the seconds ``intensity_range`` takes with today's bounded read
(:func:`napari_colorgan.io.scaling.bounded_sample`) and with the full pass of an
earlier commit's scaling module, side by side in one run, and the two ranges; then the
seconds a matched model's lookup takes (:func:`napari_colorgan.matching.image_lookup`,
quantiles of the raw sample, then 1025 values converted) against converting every
sampled pixel to lightness first.
"""

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import skimage.data
import zarr

from napari_colorgan.io.scaling import bounded_sample, intensity_range, to_unit_range

ROOT = Path(__file__).resolve().parent.parent


def old_scaling(commit: str):
    """The scaling module as it was at ``commit`` (a full pass over every chunk)."""
    text = subprocess.run(
        ["git", "show", f"{commit}:napari_colorgan/io/scaling.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_scaling.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_scaling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(folder: Path) -> dict:
    moon = skimage.data.moon().astype(np.uint16) * 16 + 100
    mosaic = np.tile(moon, (16, 16))  # 8192 x 8192 uint16, a real image tiled
    store = zarr.open(
        str(folder / "sparse.zarr"), mode="w", shape=(100_000, 100_000), chunks=(1024, 1024),
        dtype=np.uint16,
    )
    store[:4096, :4096] = mosaic[:4096, :4096]
    stack = da.from_array(mosaic[:4096, :4096], chunks=1024)
    return {
        "8192² uint16 numpy": mosaic,
        "12 x 4096² uint16 dask": da.stack([stack] * 12),
        "8192² float32 dask": da.from_array(mosaic.astype(np.float32), chunks=1024),
        "100000² uint16 zarr (mostly fill)": store,
        "10⁹ x 10⁹ uint16 dask": da.zeros((10**9, 10**9), dtype=np.uint16, chunks=4096),
    }


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-commit", default="752936e")
    parser.add_argument(
        "--old-limit", type=float, default=1e11, help="skip the full pass above this many pixels"
    )
    args = parser.parse_args()
    old = old_scaling(args.old_commit)
    lookups = []
    print("| input | bounded s | range | full pass s | range |")
    print("| --- | ---: | --- | ---: | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, image in inputs(Path(tmp)).items():
            t_new, r_new = timed(intensity_range, image)
            if float(np.prod(image.shape, dtype=np.float64)) <= args.old_limit:
                lazy = da.from_zarr(image) if isinstance(image, zarr.Array) else image
                t_old, r_old = timed(old.intensity_range, lazy)  # as the pipeline passed it
                old_cells = f"{t_old:.2f} | ({r_old[0]:g}, {r_old[1]:g})"
            else:
                old_cells = "not run (too large) | -"
            new_cells = f"{t_new:.2f} | ({r_new[0]:g}, {r_new[1]:g})"
            print(f"| {name} | {new_cells} | {old_cells} |", flush=True)
            lookups.append((name, *lookup_times(image, r_new)))
    print()
    print("| input | lookup s | every pixel converted s |")
    print("| --- | ---: | ---: |")
    for name, fast, slow in lookups:
        print(f"| {name} | {fast:.2f} | {slow:.2f} |")


def lookup_times(image, intensity) -> tuple[float, float]:
    """Seconds of a matched model's lookup, and of the same from every converted pixel."""
    import torch

    from napari_colorgan.color import gray_to_lightness
    from napari_colorgan.matching import image_lookup, lookup
    from napari_colorgan.models.registry import load_model

    reference = load_model("astronomy", "cpu").reference.numpy()
    fast, _ = timed(image_lookup, image, intensity, reference)

    def converted():
        gray = torch.from_numpy(to_unit_range(bounded_sample(image), *intensity))
        return lookup(gray_to_lightness(gray).numpy(), reference)

    slow, _ = timed(converted)
    return fast, slow


if __name__ == "__main__":
    sys.exit(main())
