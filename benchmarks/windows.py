"""Useful-pixel rate of one generator window against its size, precision, threads and batch.

    python benchmarks/windows.py [--model general] [--tiles 128,256,384,512,768,1024]
                                 [--repeat 3] [--seconds 0.6]

A window is a tile plus the model's halo on each side (64 px for ``lite``); only the
tile's pixels are useful, so small tiles pay for their halo and large ones for
activations that leave the cache. The input is real: scikit-image's retina as gray,
cropped to the window. Rows:
  precision  fp32 (channels_last model and input, as the engine runs) or
             bf16 (the engine's: fused oneDNN convolutions, engine/fused.py)
  threads    1: one forward on one thread; 2: one forward on two intra-op threads;
             2x1: two forwards in parallel, one thread each (the engine's CPU layout)
  batch      windows per forward
Each cell runs forwards for at least --seconds; the rounds go over all cells in turn
(so another process's load spreads over every cell) and the table shows the median
of --repeat rounds. "x ref" divides by fp32, tile 512, threads 2x1, batch 1.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np
import torch

import napari_colorgan as ncg
from napari_colorgan.engine.precision import Precision


def real_window(size: int) -> torch.Tensor:
    """Gray x 100 (an L-like input) of a ``size``² crop of the retina, resized up if needed."""
    import skimage.color
    import skimage.data
    import skimage.transform

    gray = skimage.color.rgb2gray(skimage.data.retina())
    if min(gray.shape) < size:
        gray = skimage.transform.resize(gray, (size, size), order=1)
    y0 = (gray.shape[0] - size) // 2
    crop = np.ascontiguousarray(gray[y0 : y0 + size, y0 : y0 + size], dtype=np.float32)
    return torch.from_numpy(crop)[None, None] * 100


def cell_rate(model, window, tile: int, prec: Precision, mode: str, batch: int, seconds: float):
    """Useful megapixels per second of one (tile, precision, threads, batch) cell."""
    x = window.expand(batch, -1, -1, -1).contiguous(memory_format=torch.channels_last)
    workers = 2 if mode == "2x1" else 1
    torch.set_num_threads(2 if mode == "2" else 1)
    prec.forward(model, x)  # warm-up: oneDNN primitives for this shape
    counts = [0] * workers

    def work(i: int, stop: float) -> None:
        while time.perf_counter() < stop or counts[i] < 2:
            prec.forward(model, x)
            counts[i] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i, start + seconds)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return sum(counts) * batch * tile * tile / 1e6 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="general")
    parser.add_argument("--tiles", default="128,256,384,512,768,1024")
    parser.add_argument("--threads", default="1,2,2x1")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--batches", default="1,4", help="batches > 1 only for tiles <= 256")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.6)
    args = parser.parse_args()

    model = ncg.load_model(args.model, device="cpu").to(memory_format=torch.channels_last)
    halo = model.halo()
    cells = []
    for tile in (int(t) for t in args.tiles.split(",")):
        for name in args.precisions.split(","):
            for mode in args.threads.split(","):
                for batch in (int(b) for b in args.batches.split(",")):
                    if batch == 1 or tile <= 256:
                        cells.append((tile, name, mode, batch))
    windows = {t: real_window(t + 2 * halo) for t in {c[0] for c in cells}}
    rates: dict[tuple, list[float]] = {c: [] for c in cells}
    for _ in range(args.repeat):
        for cell in cells:
            tile, name, mode, batch = cell
            prec = Precision(name, "cpu")
            rate = cell_rate(model, windows[tile], tile, prec, mode, batch, args.seconds)
            rates[cell].append(rate)
    median = {c: statistics.median(r) for c, r in rates.items()}
    ref = median.get((512, "float32", "2x1", 1))
    print(
        f"model {args.model} (halo {halo}, stride {model.stride}), torch {torch.__version__}, "
        f"CPU {torch.backends.cpu.get_cpu_capability()}, median of {args.repeat} rounds"
    )
    print("| tile | window | precision | threads | batch | MP/s (useful) | spread | x ref |")
    print("|---:|---:|---|---|---:|---:|---:|---:|")
    for cell in cells:
        tile, name, mode, batch = cell
        r = rates[cell]
        spread = (max(r) - min(r)) / median[cell]
        ratio = median[cell] / ref if ref else float("nan")
        print(
            f"| {tile} | {tile + 2 * halo} | {name} | {mode} | {batch} | {median[cell]:.2f} "
            f"| {spread:.0%} | {ratio:.2f} |"
        )


if __name__ == "__main__":
    main()
