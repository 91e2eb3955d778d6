"""Kill ``colorgan colorize`` at many points, rerun it, and compare with an uninterrupted run.

    OMP_NUM_THREADS=1 python benchmarks/kill_resume.py [--side 1536] [--writers 4]

A tiled TIFF of the camera man (``--side`` pixels square, 256-pixel tiles) is
colourised by the ``colorgan`` command in a subprocess, which is sent SIGKILL at one
point of its run: before any chunk, a third and two thirds into level 0, once level 0
is whole (while the pyramid is written) and, for TIFF, while the TIFF itself is
written; "twice" kills at a third, reruns, kills that run at two thirds. The same
command then runs to the end. Prints, per output format and kill point, whether the
result is exactly the uninterrupted run's (every level), what hidden files are left,
and the seconds of the killed run and of the rerun. Then ``--writers`` commands start
onto one output at once: how many wrote, how many were refused, and whether the
output is whole.
"""

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
import tifffile
import zarr

from napari_colorgan.io.atomic import partial_path
from napari_colorgan.io.ledger import LEDGER

OPTIONS = ["--tile-size", "256", "--quiet"]


def command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "napari_colorgan.cli", "colorize", str(src), str(out), *OPTIONS]


def store_of(out: Path) -> Path:
    """The resumable store a run of ``out`` writes: itself, or a TIFF's staging store."""
    return out if out.name.endswith(".zarr") else Path(f"{partial_path(out)}.zarr")


def lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except OSError:
        return 0


def reached(point: str, out: Path, chunks: int, started: float) -> bool:
    """Whether a run of ``out`` has got to ``point`` (then it is killed)."""
    store = store_of(out)
    if point == "startup":
        return time.time() - started > 1.0
    if point in ("1/3", "2/3"):
        return lines(store / f"{LEDGER}-0") >= chunks * int(point[0]) // 3
    if point == "pyramid":
        return lines(store / f"{LEDGER}-0") >= chunks
    if point == "TIFF write":  # atomic_write's temporary beside the output
        return any(out.parent.glob(f".{out.name}.*.partial"))
    raise ValueError(point)


def killed_run(src: Path, out: Path, point: str, chunks: int) -> tuple[str, float]:
    """Run until ``point``, SIGKILL; 'killed' or how the run ended first, and its seconds."""
    started = time.time()
    run = subprocess.Popen(command(src, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while run.poll() is None and not reached(point, out, chunks, started):
        time.sleep(0.005)
    run.send_signal(signal.SIGKILL)
    code = run.wait()
    return ("killed" if code == -signal.SIGKILL else f"ended {code} first"), time.time() - started


def arrays(out: Path) -> list[np.ndarray]:
    if out.is_dir():
        group = zarr.open_group(out, mode="r")
        return [group[k][:] for k in sorted(group.array_keys())]
    with tifffile.TiffFile(out) as tif:
        return [level.asarray() for level in tif.series[0].levels]


def same(a: Path, b: Path) -> bool:
    first, second = arrays(a), arrays(b)
    return len(first) == len(second) and all(np.array_equal(x, y) for x, y in zip(first, second))


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=1536)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    src = folder / "tiled.tif"
    side = args.side
    reps = -(-side // 512)
    image = np.tile(skimage.data.camera(), (reps, reps))[:side, :side]
    tifffile.imwrite(src, image, tile=(256, 256))
    chunks = (-(-side // 256)) ** 2
    print(f"input: {side} x {side} uint8 tiled TIFF, {chunks} chunks of 256², options {OPTIONS}")
    print()
    print("| output | killed at | killed run | rerun exit | equal to uninterrupted | hidden "
          "files left | killed s | rerun s |")  # fmt: skip
    print("|---|---|---|---|---|---|---:|---:|")
    for suffix in (".ome.zarr", ".zarr", ".tif", ".ome.tif"):
        reference = folder / f"ref{suffix}"
        subprocess.run(command(src, reference), check=True, capture_output=True)
        points = ["startup", "1/3", "2/3", "pyramid", "twice"]
        if suffix.endswith(".tif"):
            points.append("TIFF write")
        for point in points:
            out = folder / f"out{suffix}"
            remove(out)
            if point == "twice":
                state, seconds = killed_run(src, out, "1/3", chunks)
                state2, seconds2 = killed_run(src, out, "2/3", chunks)
                state, seconds = f"{state}, {state2}", seconds + seconds2
            else:
                state, seconds = killed_run(src, out, point, chunks)
            started = time.time()
            rerun = subprocess.run(command(src, out), capture_output=True, text=True)
            rerun_s = time.time() - started
            equal = rerun.returncode == 0 and same(reference, out)
            left = ", ".join(hidden(folder)) or "none"
            print(f"| {suffix} | {point} | {state} | {rerun.returncode} | {equal} | {left} | "
                  f"{seconds:.1f} | {rerun_s:.1f} |")  # fmt: skip
            if rerun.returncode:
                print(f"|  | stderr: {rerun.stderr.strip()[-200:]} | | | | | | |")
            remove(out)
    print()
    print("| writers at once | output | wrote | refused | other exits | equal | hidden left |")
    print("|---:|---|---:|---:|---|---|---|")
    for suffix in (".ome.zarr", ".tif"):
        out = folder / f"race{suffix}"
        runs = [
            subprocess.Popen(command(src, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)  # fmt: skip
            for _ in range(args.writers)
        ]
        errors = [run.communicate()[1] for run in runs]
        codes = [run.returncode for run in runs]
        refused = sum("is being written by another run" in e for e in errors)
        other = [c for c, e in zip(codes, errors) if c and "being written" not in e]
        equal = same(folder / f"ref{suffix}", out)
        left = ", ".join(hidden(folder)) or "none"
        print(f"| {args.writers} | {suffix} | {codes.count(0)} | {refused} | {other or 'none'} | "
              f"{equal} | {left} |")  # fmt: skip
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
