"""Peak memory of streaming zarr -> OME-Zarr as the image grows: it must not grow with it.

    python benchmarks/memory.py [--sizes 4096,8192,32768] [--render-scale 1]

For each size a uint8 zarr input is written chunk by chunk (a real image,
scikit-image's retina as gray, tiled to fill it; never held whole in memory), then a
fresh process runs ``colorize_to_file(input, output.ome.zarr)`` with its defaults
(precision auto, uint8 zstd output with its pyramid) and reports its time, peak RSS
and bytes against the input's. ``x in-memory`` divides the rate by that of
``ncg.colorize`` on a 4096² crop of the same input held in memory, measured once in
a fresh process first. 32768² (a gigapixel) takes several minutes per 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 1024
REFERENCE = 4096  # side of the in-memory reference crop


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

    import napari_colorgan as ncg
    from napari_colorgan.engine.pipeline import colorize_to_file

    source = zarr.open_array(src, mode="r")
    if dst == "memory":  # the in-memory reference: a crop of the input, as numpy
        gray = np.asarray(source[:REFERENCE, :REFERENCE])
        ncg.colorize(gray[:512, :512], "general", render_scale=render_scale)  # load, warm
        start = time.perf_counter()
        ncg.colorize(gray, "general", render_scale=render_scale)
    else:
        start = time.perf_counter()
        colorize_to_file(source, dst, "general", render_scale=render_scale)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": peak}))


def _run_child(src: Path, dst: str, render_scale: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(src), dst]
    cmd += ["--render-scale", str(render_scale)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,8192,32768")
    parser.add_argument("--render-scale", type=int, default=1)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.render_scale)
        return
    print(
        f"zarr (uint8, {CHUNK}² chunks) -> OME-Zarr, model general, "
        f"render scale {args.render_scale}, CPU"
    )
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference.zarr"
        make_input(reference, REFERENCE)
        r = _run_child(reference, "memory", args.render_scale)
        memory_rate = REFERENCE**2 / 1e6 / r["seconds"]
        print(
            f"in memory, {REFERENCE}² uint8 numpy: {memory_rate:.2f} MP/s, "
            f"peak RSS {r['rss_mb']:.0f} MB\n"
        )
        print("| size | megapixels | seconds | MP/s | x in-memory | peak RSS MB | x input bytes |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for size in map(int, args.sizes.split(",")):
            src, dst = Path(tmp) / f"in{size}.zarr", Path(tmp) / f"out{size}.ome.zarr"
            make_input(src, size)
            r = _run_child(src, str(dst), args.render_scale)
            mp = size * size / 1e6
            rate = mp / r["seconds"]
            print(
                f"| {size}² | {mp:.0f} | {r['seconds']:.0f} | {rate:.2f} "
                f"| {rate / memory_rate:.2f} | {r['rss_mb']:.0f} "
                f"| {_bytes(dst) / _bytes(src):.2f} |",
                flush=True,
            )
            shutil.rmtree(src)
            shutil.rmtree(dst)


if __name__ == "__main__":
    main()
