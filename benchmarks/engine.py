"""Throughput and peak memory of the inference paths, side by side in one run.

    python benchmarks/engine.py [--size 2048] [--tile-size 512] [--model general] [--repeat 2]

Each row runs in a fresh process (so peak RSS is its own) on the same pixels: a real
image (scikit-image's retina, as gray) resized to SIZE x SIZE. Rows:
  bare     the model on the whole image in one forward pass (the reference)
  engine   ncg.colorize on a numpy array (exact crop-and-stitch tiles)
  lazy     ncg.colorize on a dask array, computed with the threaded scheduler
  zarr     ncg.colorize_to_file from a zarr array to OME-Zarr (streamed, resumable)
  render2  engine with render_scale=2;  render4: render_scale=4
  monai    MONAI sliding_window_inference, same tile size, overlap 0.25, gaussian
           (only if monai is installed: pip install --no-deps monai)
MP/s counts output megapixels per second (best of --repeat runs).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

METHODS = ("bare", "engine", "lazy", "zarr", "monai", "render2", "render4")


def test_image(size: int) -> np.ndarray:
    import skimage.data
    import skimage.transform

    import napari_colorgan as ncg

    gray = ncg.to_gray(skimage.data.retina())
    return skimage.transform.resize(gray, (size, size), order=1).astype(np.float32)


def run_method(method: str, size: int, tile: int, model_name: str, repeat: int) -> dict:
    import torch

    import napari_colorgan as ncg
    from napari_colorgan.engine.runner import lightness_plane

    model = ncg.load_model(model_name, device="cpu")
    if method in ("bare", "monai"):  # as a user would run it: plain NCHW memory layout
        model = model.to(memory_format=torch.contiguous_format)
    gray = test_image(size)
    L = lightness_plane(gray, model.stride)

    if method == "bare":

        def job():
            with torch.inference_mode():
                return model(L)

    elif method == "engine":

        def job():
            return ncg.colorize(gray, model, tile_size=tile, normalize="none")

    elif method == "lazy":
        import dask.array as da

        lazy_in = da.from_array(gray, chunks=(tile, tile))

        def job():
            return ncg.colorize(lazy_in, model, tile_size=tile, normalize="none").compute()

    elif method == "zarr":
        import tempfile

        import zarr

        from napari_colorgan.engine.pipeline import colorize_to_file

        folder = tempfile.mkdtemp()
        source = zarr.open_array(
            f"{folder}/in.zarr", mode="w", shape=gray.shape, chunks=(tile, tile), dtype=gray.dtype
        )
        source[:] = gray
        runs = iter(range(repeat))

        def job():
            out = f"{folder}/out{next(runs)}.ome.zarr"
            return colorize_to_file(source, out, model, tile_size=tile, normalize="none")

    elif method.startswith("render"):
        scale = int(method[-1])

        def job():
            return ncg.colorize(gray, model, tile_size=tile, normalize="none", render_scale=scale)

    elif method == "monai":
        try:
            from monai.inferers import sliding_window_inference
        except ImportError:
            return {"skipped": "monai not installed"}

        def job():
            with torch.inference_mode():
                return sliding_window_inference(
                    L, (tile, tile), 1, model, overlap=0.25, mode="gaussian"
                )

    else:
        raise ValueError(f"unknown method {method!r}")
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        job()
        seconds.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": min(seconds),
        "mp_per_s": size * size / 1e6 / min(seconds),
        "rss_mb": peak_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile-size", type=int, default=512)
    parser.add_argument("--model", default="general")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_method(args.child, args.size, args.tile_size, args.model, args.repeat)
        print(json.dumps(result))
        return
    import torch

    print(
        f"{args.size}x{args.size} px, tile {args.tile_size}, model {args.model}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU"
    )
    rows = {}
    for method in args.methods.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            method,
            "--size",
            str(args.size),
            "--tile-size",
            str(args.tile_size),
            "--model",
            args.model,
            "--repeat",
            str(args.repeat),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows[method] = json.loads(out.stdout.strip().splitlines()[-1])
    bare = rows.get("bare", {}).get("mp_per_s")
    print(f"| {'method':<8} | {'MP/s':>6} | {'x bare':>6} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 10}|{'-' * 8}|{'-' * 8}|{'-' * 13}|")
    for method, r in rows.items():
        if "skipped" in r:
            print(f"| {method:<8} | {'—':>6} | {'—':>6} | {r['skipped']:>11} |")
            continue
        ratio = r["mp_per_s"] / bare if bare else float("nan")
        print(f"| {method:<8} | {r['mp_per_s']:6.2f} | {ratio:6.2f} | {r['rss_mb']:11.0f} |")


if __name__ == "__main__":
    main()
