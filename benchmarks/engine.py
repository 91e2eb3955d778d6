"""Throughput, peak memory and colour agreement of the inference paths, side by side in one run.

    python benchmarks/engine.py [--size 2048] [--tile-size 512] [--model general]
                                [--repeat 2] [--rounds 3] [--methods plain,plain-bf16,...]

Each row runs in a fresh process (so peak RSS is its own) on the same pixels: a real
image (scikit-image's retina, as gray) resized to SIZE x SIZE. Rows:
  plain    the reference every row is divided by: a plain fp32 channels_last
           crop-and-stitch of the same model, tile TILE + halo, one window per
           forward (benchmarks/plain_stitch.py)
  plain-bf16  the same under torch.autocast("cpu", bfloat16)
  bare     the model on the whole image in one forward pass (NCHW)
  engine   ncg.colorize on a numpy array with its defaults (precision "auto": bf16
           autocast on a CPU with native bf16; exact crop-and-stitch tiles)
  engine-fp32  the same with precision="float32"
  lazy     ncg.colorize on a dask array, computed with the threaded scheduler
  zarr     ncg.colorize_to_file from a zarr array to OME-Zarr (streamed, resumable)
  mem-u8   ncg.colorize on the image as uint8 (0..255), in memory, defaults
  zarr-u8  the same uint8 pixels as a zarr (1024² chunks) -> OME-Zarr with its pyramid,
           defaults (uint8 output, zstd); its rate is also divided by mem-u8's, and its
           bytes on disk by the input's
  render2  engine with render_scale=2;  render4: render_scale=4
  monai    MONAI sliding_window_inference, same tile size, overlap 0.25, gaussian
           (only if monai is installed: pip install --no-deps monai)
MP/s counts output megapixels per second (best of --repeat runs in a process). The
rows run --rounds times in turn; the table shows the median over rounds of the rate
and of its ratio to ``plain`` in the same round, and the mean CIEDE2000 of the row's
sRGB output against the fp32 ``plain`` output (rows that return sRGB).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = (
    "plain",
    "plain-bf16",
    "engine",
    "engine-fp32",
    "lazy",
    "zarr",
    "mem-u8",
    "zarr-u8",
    "render2",
    "render4",
    "bare",
    "monai",
)


def test_image(size: int) -> np.ndarray:
    import skimage.data
    import skimage.transform

    import napari_colorgan as ncg

    gray = ncg.to_gray(skimage.data.retina())
    return skimage.transform.resize(gray, (size, size), order=1).astype(np.float32)


def run_method(
    method: str, size: int, tile: int, model_name: str, repeat: int, save: str | None
) -> dict:
    import torch
    from plain_stitch import plain_stitch

    import napari_colorgan as ncg
    from napari_colorgan.engine.runner import lightness_plane

    model = ncg.load_model(model_name, device="cpu")
    if method in ("bare", "monai"):  # as a user would run it: plain NCHW memory layout
        model = model.to(memory_format=torch.contiguous_format)
    gray = test_image(size)
    L = lightness_plane(gray, model.stride)

    if method.startswith("plain"):
        dtype = "bfloat16" if method == "plain-bf16" else "float32"

        def job():
            return plain_stitch(model, gray, tile, dtype)

    elif method == "bare":

        def job():
            with torch.inference_mode():
                return model(L)

    elif method == "engine":

        def job():
            return ncg.colorize(gray, model, tile_size=tile, normalize="none")

    elif method == "engine-fp32":

        def job():
            return ncg.colorize(gray, model, tile_size=tile, normalize="none", precision="float32")

    elif method == "mem-u8":
        gray8 = np.rint(gray * 255).astype(np.uint8)

        def job():
            return ncg.colorize(gray8, model)

    elif method == "zarr-u8":
        import tempfile

        import zarr

        from napari_colorgan.engine.pipeline import colorize_to_file

        folder = Path(tempfile.mkdtemp())
        source = zarr.open_array(
            folder / "in.zarr", mode="w", shape=gray.shape, chunks=(1024, 1024), dtype="u1"
        )
        source[:] = np.rint(gray * 255).astype(np.uint8)
        runs = iter(range(repeat))

        def job():
            return colorize_to_file(source, folder / f"out{next(runs)}.ome.zarr", model)

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
        result = job()
        seconds.append(time.perf_counter() - start)
    if save and isinstance(result, np.ndarray) and result.shape == (size, size, 3):
        np.save(save, result)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "seconds": min(seconds),
        "mp_per_s": size * size / 1e6 / min(seconds),
        "rss_mb": peak_mb,
    }
    if method == "zarr-u8":
        record["bytes_ratio"] = _bytes(result) / _bytes(folder / "in.zarr")
    return record


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def delta_e(a: str, b: str) -> float:
    """Mean CIEDE2000 between two saved sRGB outputs."""
    import napari_colorgan as ncg

    with np.errstate(divide="ignore"):  # identical outputs: PSNR is infinite
        return ncg.metrics.evaluate(np.load(a), np.load(b))["delta_e2000"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile-size", type=int, default=512)
    parser.add_argument("--model", default="general")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_method(
            args.child, args.size, args.tile_size, args.model, args.repeat, args.save
        )
        print(json.dumps(result))
        return
    import torch

    methods = args.methods.split(",")
    print(
        f"{args.size}x{args.size} px (retina as gray, resized), tile {args.tile_size}, "
        f"model {args.model}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"CPU {torch.backends.cpu.get_cpu_capability()}, median of {args.rounds} rounds"
    )
    rounds: dict[str, list[dict]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for method in methods:
                save = Path(tmp) / f"{method}.npy"
                cmd = [sys.executable, __file__, "--child", method, "--size", str(args.size)]
                cmd += ["--tile-size", str(args.tile_size), "--model", args.model]
                cmd += ["--repeat", str(args.repeat)]
                if r == 0:
                    cmd += ["--save", str(save)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                rounds[method].append(json.loads(out.stdout.strip().splitlines()[-1]))
        ref = Path(tmp) / "plain.npy"
        agree = {
            m: delta_e(str(ref), str(Path(tmp) / f"{m}.npy"))
            for m in methods
            if ref.exists() and (Path(tmp) / f"{m}.npy").exists()
        }
    print(f"| {'method':<11} | MP/s | x plain | spread | peak RSS MB | ΔE2000 vs plain |")
    print("|---|---:|---:|---:|---:|---:|")
    for method, runs in rounds.items():
        if "skipped" in runs[0]:
            print(f"| {method:<11} | — | — | — | — | {runs[0]['skipped']} |")
            continue
        rates = [x["mp_per_s"] for x in runs]
        ratios = [x["mp_per_s"] / p["mp_per_s"] for x, p in zip(runs, rounds.get("plain", []))]
        rate = statistics.median(rates)
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "—"
        spread = f"{(max(rates) - min(rates)) / rate:.0%}"
        rss = statistics.median(x["rss_mb"] for x in runs)
        de = f"{agree[method]:.4f}" if method in agree else "—"
        print(f"| {method:<11} | {rate:.2f} | {ratio} | {spread} | {rss:.0f} | {de} |")
    if "zarr-u8" in rounds and "mem-u8" in rounds:
        files = [z["mp_per_s"] / m["mp_per_s"] for z, m in zip(rounds["zarr-u8"], rounds["mem-u8"])]
        ratio = statistics.median(x["bytes_ratio"] for x in rounds["zarr-u8"])
        print(
            f"\nzarr-u8 / mem-u8 rate: {statistics.median(files):.2f} (median of per-round "
            f"ratios {', '.join(f'{f:.2f}' for f in files)}); OME-Zarr output, pyramid "
            f"included: {ratio:.2f}x the uint8 zarr input's bytes"
        )


if __name__ == "__main__":
    main()
