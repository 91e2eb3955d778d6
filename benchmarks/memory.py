"""Peak memory of streaming zarr -> OME-Zarr as the image grows: it must not grow with it.

    python benchmarks/memory.py [--sizes 2048,8192,16384] [--render-scale 4]

For each size a zarr input is written chunk by chunk (a real image, scikit-image's
retina as gray, tiled to fill it), then a fresh process runs
``colorize_to_file(input, output.ome.zarr)`` and reports its peak RSS and time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 1024


def make_input(path: Path, size: int) -> None:
    import skimage.data
    import zarr

    import napari_colorgan as ncg

    tile = np.rint(ncg.to_gray(skimage.data.retina()[:CHUNK, :CHUNK]) * 255).astype(np.uint8)
    z = zarr.open_array(path, mode="w", shape=(size, size), chunks=(CHUNK, CHUNK), dtype="u1")
    for y in range(0, size, CHUNK):
        for x in range(0, size, CHUNK):
            z[y : y + CHUNK, x : x + CHUNK] = tile[: size - y, : size - x]


def child(src: str, dst: str, render_scale: int) -> None:
    import zarr

    from napari_colorgan.engine.pipeline import colorize_to_file

    start = time.perf_counter()
    colorize_to_file(zarr.open_array(src, mode="r"), dst, "general", render_scale=render_scale)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2048,8192,16384")
    parser.add_argument("--render-scale", type=int, default=4)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.render_scale)
        return
    print(
        f"zarr (uint8, {CHUNK}² chunks) -> OME-Zarr, model general, "
        f"render scale {args.render_scale}, CPU"
    )
    print("| size | megapixels | seconds | MP/s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in map(int, args.sizes.split(",")):
            src, dst = Path(tmp) / f"in{size}.zarr", Path(tmp) / f"out{size}.ome.zarr"
            make_input(src, size)
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(src),
                str(dst),
                "--render-scale",
                str(args.render_scale),
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            mp = size * size / 1e6
            print(
                f"| {size}² | {mp:.0f} | {r['seconds']:.0f} | {mp / r['seconds']:.2f} "
                f"| {r['rss_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
