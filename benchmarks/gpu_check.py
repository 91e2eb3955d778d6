"""The CUDA check: tests, engine speed, training speed and an NCCL smoke run, one table.

    python benchmarks/gpu_check.py [--size 8192] [--steps 20]
    python benchmarks/gpu_check.py --dry-run      # no GPU: every part, tiny, on the CPU

On a CUDA machine, in about 6 minutes all told:
  1. ``pytest -m cuda`` (tests that skip cleanly without a GPU);
  2. the shipped ``general`` model on a SIZE x SIZE real image (scikit-image's retina as
     gray, resized): the plain PyTorch crop-and-stitch (benchmarks/plain_stitch.py,
     tile 512) at fp32 and AMP, and ``ncg.colorize`` (the engine), each divided by the
     plain fp32 stitch;
  3. training steps/s of ``lite`` and ``standard`` (``Trainer.train_step``, GAN losses,
     batch 8 at 128 px, AMP as the trainer runs it on CUDA);
  4. patches/s the training loader reads from a zarr slide (8 worker processes, pinned
     memory, batches of 32 at 128 px copied to the GPU) against the patches/s lite
     trains on;
  5. a one-process ``torchrun`` run of three training steps over NCCL.
Without a GPU it says so and exits 0; ``--dry-run`` runs every part on the CPU at toy
sizes (gloo instead of NCCL) so the script itself is known to work.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(job, device: torch.device, repeat: int) -> float:
    """Best wall seconds of ``repeat`` runs after one warm-up."""
    job()
    best = float("inf")
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        job()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def run_tests() -> list[tuple]:
    """``pytest -m cuda`` on the test files that hold such tests (no Qt, no display needed)."""
    files = sorted(
        str(f) for f in (ROOT / "tests").glob("test_*.py") if "mark.cuda" in f.read_text()
    )
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "--no-cov", "-p", "no:cacheprovider"]
    cmd += files
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=150)
    summary = (out.stdout.strip().splitlines() or ["(no output)"])[-1]
    return [("pytest -m cuda", summary, f"{time.perf_counter() - start:.0f} s", "")]


def engine_rows(size: int, device: torch.device, repeat: int) -> list[tuple]:
    import skimage.data
    import skimage.transform
    from plain_stitch import plain_stitch

    import napari_colorgan as ncg
    from napari_colorgan.engine.precision import resolve_precision

    gray = ncg.to_gray(skimage.data.retina())
    gray = skimage.transform.resize(gray, (size, size), order=1).astype(np.float32)
    model = ncg.load_model("general", device=device)
    amp = resolve_precision("auto", device).dtype
    jobs = {
        "plain stitch fp32": lambda: plain_stitch(model, gray, 512, "float32"),
        f"plain stitch AMP ({amp})": lambda: plain_stitch(model, gray, 512, amp),
        "engine (ncg.colorize)": lambda: ncg.colorize(gray, model, normalize="none"),
    }
    if "precision" in inspect.signature(ncg.colorize).parameters:
        jobs["engine fp32"] = lambda: ncg.colorize(
            gray, model, normalize="none", precision="float32"
        )
    seconds = {name: timed(job, device, repeat) for name, job in jobs.items()}
    ref = seconds["plain stitch fp32"]
    mp = size * size / 1e6
    return [
        (f"{name}, {size}²", f"{mp / s:.1f} MP/s", f"{s:.2f} s", f"{ref / s:.2f}x plain fp32")
        for name, s in seconds.items()
    ]


def training_rows(device: torch.device, steps: int, patch: int) -> list[tuple]:
    import skimage.data

    from napari_colorgan.train.trainer import TrainConfig, Trainer

    image = skimage.data.astronaut().astype(np.float32) / 255
    rows = []
    for size in ("lite", "standard"):
        config = TrainConfig(size=size, device=str(device), batch=8, patch=patch, warmup=0)
        trainer = Trainer(config, [image])
        for _ in range(2):  # warm-up: cuDNN autotuning, allocator
            trainer.train_step()
        synchronize(device)
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        synchronize(device)
        rate = steps / (time.perf_counter() - start)
        precision = f"AMP {trainer.precision.dtype}" if trainer.precision.reduced else "fp32"
        rows.append((f"train {size}, batch 8 at {patch}²", f"{rate:.1f} steps/s", precision, ""))
    return rows


def loader_rows(device: torch.device, size: int, patch: int, workers: int, trained: float):
    """Patches/s the training loader reads from a zarr slide, against what the GPU trains on.

    The slide is scikit-image's IHC tiled to ``size`` x ``size`` in 256 px chunks;
    batches of 32 with ``workers`` processes, pinned memory on CUDA, copied to the
    device. ``trained``: patches/s of the lite generator's training steps.
    """
    import tempfile

    import skimage.data
    import zarr

    from napari_colorgan.train.data import PatchSampler
    from napari_colorgan.train.loader import batches
    from napari_colorgan.train.sources import open_entry

    ihc = skimage.data.immunohistochemistry()
    with tempfile.TemporaryDirectory() as tmp:
        store = zarr.create_array(
            f"{tmp}/slide.zarr", shape=(size, size, 3), chunks=(256, 256, 3), dtype="uint8"
        )
        for y in range(0, size, 512):
            for x in range(0, size, 512):
                block = store[y : y + 512, x : x + 512]
                store[y : y + 512, x : x + 512] = ihc[: block.shape[0], : block.shape[1]]
        sources, weights = open_entry({"source": f"{tmp}/slide.zarr"})
        sampler = PatchSampler(sources, patch, seed=0, weights=weights)
        n, count = 32, 12
        feed = batches(sampler, range(count + 2), n, workers=workers, pin=device.type == "cuda")
        for _ in range(2):  # worker start-up
            next(feed).inputs.to(device, non_blocking=True)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(count):
            next(feed).inputs.to(device, non_blocking=True)
        synchronize(device)
        rate = n * count / (time.perf_counter() - start)
    ratio = f"{rate / trained:.1f}x the {trained:.0f} patches/s lite trains on"
    return [(f"loader, zarr slide {size}², {workers} workers", f"{rate:.0f} patches/s", ratio, "")]


def ddp_smoke(dry: bool) -> list[tuple]:
    backend = "gloo" if dry else "nccl"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]
    cmd += [__file__, "--ddp-child", backend]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    seconds = f"{time.perf_counter() - start:.0f} s"
    if out.returncode:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return [(f"torchrun {backend}, 1 process", "FAILED", seconds, tail[:80])]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    note = f"3 steps, world {result['world']}, losses finite: {result['finite']}"
    return [(f"torchrun {backend}, 1 process", "ok", seconds, note)]


def ddp_child(backend: str) -> None:
    """Three training steps inside the process group torchrun started."""
    import skimage.data
    import torch.distributed as dist

    from napari_colorgan.train.trainer import TrainConfig, Trainer

    dist.init_process_group(backend)
    device = "cpu"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        device = "cuda"
    image = skimage.data.astronaut().astype(np.float32) / 255
    config = TrainConfig(steps=3, warmup=1, batch=4, patch=32, seed=0, device=device)
    trainer = Trainer(config, [image])
    losses = [v for _ in range(3) for v in trainer.train_step().values()]
    total = torch.tensor([sum(losses)], device=device)
    dist.all_reduce(total)
    print(json.dumps({"world": dist.get_world_size(), "finite": bool(np.isfinite(losses).all())}))
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="every part on the CPU, tiny")
    parser.add_argument("--ddp-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ddp_child:
        ddp_child(args.ddp_child)
        return
    if not torch.cuda.is_available() and not args.dry_run:
        print("gpu_check: no CUDA device here, nothing to measure (use --dry-run to test it)")
        return
    dry = args.dry_run
    device = torch.device("cpu" if dry else "cuda")
    name = "CPU (dry run)" if dry else torch.cuda.get_device_name(device)
    print(f"gpu_check on {name}, torch {torch.__version__}")
    start = time.perf_counter()
    rows = run_tests()
    rows += engine_rows(256 if dry else args.size, device, 1 if dry else args.repeat)
    training = training_rows(device, 1 if dry else args.steps, 32 if dry else 128)
    rows += training
    trained = 8 * float(training[0][1].split()[0])  # lite: steps/s times its batch of 8
    rows += loader_rows(device, 1024 if dry else 8192, 32 if dry else 128, 2 if dry else 8, trained)
    rows += ddp_smoke(dry)
    print("| check | result | time / precision | note |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
