"""How long napari's event loop waits while the plugin's widgets run.

    xvfb-run -a python benchmarks/event_loop.py [--planes 12] [--size 4096] [--seconds 20]

A zarr stack of PLANES x SIZE x SIZE uint16 (a tiled camera image with noise,
written once to a temporary folder) is opened as a plain dask layer and as a
4-level pyramid. A QTimer ticks every 10 ms on napari's event loop; a stall is
the longest gap between two ticks. For each run the table gives the time the
press itself took (``widget.start()`` on the event loop), the longest stall from
the press to one second after the end of the run (napari has drawn the result
by then), and how the run ended:

  slice      current slice at render scale 1/4, to its end (the result is added)
  whole      whole layer (full render scale), cancelled after --seconds (then: the
             time until idle, at most one batch of tiles)
  live       live mode at 1/4, then a move to another plane, until it is shown
  hints      3 hints on the current slice (guided, full resolution), one edited
             during the run, cancelled after --seconds
  samples    2 samples of the current slice (guided, 1/4), to their end
  fine-tune  Fine-tune on a SIZE x SIZE colour layer for 3 steps, to its end
  before     the press of the widget as it was before issue 24 (commit 752936e),
             current slice: its statistics, model and checks ran on the event loop

Everything runs on the CPU.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

BEFORE = "752936e"  # the widget before issue 24
RUNS = ("before", "slice", "whole", "live", "hints", "samples", "fine-tune")


def make_store(folder: Path, planes: int, size: int) -> Path:
    """A zarr group with a 4-level pyramid ``0``..``3`` of a uint16 stack."""
    import dask.array as da
    import skimage.data
    import zarr

    path = folder / "stack.zarr"
    tile = skimage.data.camera().astype(np.uint16) * 200
    reps = (planes, -(-size // 512), -(-size // 512))
    base = np.tile(tile[None], (1, reps[1], reps[2]))[:, :size, :size]
    noise = np.random.default_rng(0).integers(0, 400, base.shape[-2:], dtype=np.uint16)
    group = zarr.open_group(path, mode="w")
    level = da.stack([da.from_array(base[0] + noise // (1 + z)) for z in range(planes)])
    for k in range(4):
        array = group.create_array(
            str(k), shape=level.shape, dtype=np.uint16, chunks=(1, 1024, 1024)
        )
        da.store(level.rechunk((1, 1024, 1024)), array)
        level = level[:, ::2, ::2]
    return path


class Heartbeat:
    """The longest gap between ticks of a 10 ms QTimer on the event loop."""

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last, self.longest = None, 0.0

    def _tick(self):
        now = time.perf_counter()
        if self.last is not None:
            self.longest = max(self.longest, now - self.last)
        self.last = now

    def start(self):
        self.last, self.longest = time.perf_counter(), 0.0
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        self._tick()
        return self.longest


def spin(app, until, timeout: float) -> bool:
    """Run the event loop until ``until()`` or ``timeout`` seconds; True if it came true."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        app.processEvents()
        if until():
            return True
        time.sleep(0.002)
    return False


def measure(app, beat, press, until, timeout: float, then=None) -> tuple[float, float, str]:
    """(press seconds, longest stall, how it ended) of one run, the model not yet loaded."""
    from napari_colorgan.models import domain, registry

    registry._load_cached.cache_clear()  # every run loads its model, as a first press does
    domain._measured.clear()
    beat.start()
    started = time.perf_counter()
    press()
    pressed = time.perf_counter() - started
    ended = "done" if spin(app, until, timeout) else None
    if ended is None and then is not None:
        ended = then()
    spin(app, lambda: False, 1.0)  # and napari's first draw of what was added or refreshed
    return pressed, beat.stop(), ended or "timed out"


def colorize_runs(app, viewer, beat, layer, seconds: float, label: str, runs) -> list[tuple]:
    from napari_colorgan._runs import State
    from napari_colorgan._widget import ColorizeWidget

    rows = []

    def widget(**values):
        w = ColorizeWidget(viewer)
        w._image.value, w._device.value = layer, "cpu"
        for key, value in values.items():
            if key == "model":
                w._model.select(value)
            else:
                getattr(w, f"_{key}").value = value
        return w

    def idle(w):
        return lambda: w.state is not State.RUNNING

    def cancelled(w):
        def then():
            started = time.perf_counter()
            w.cancel()
            spin(app, idle(w), 120)
            return f"cancelled, idle {time.perf_counter() - started:.1f} s later"

        return then

    if "slice" in runs:
        w = widget(scope="current slice", render_scale=4)
        rows.append((label, "slice", *measure(app, beat, w.start, idle(w), 600)))
    if "whole" in runs:
        w = widget(scope="whole layer")
        stop = cancelled(w)
        rows.append((label, "whole", *measure(app, beat, w.start, lambda: False, seconds, stop)))
    if "live" in runs:
        rows += live_runs(app, viewer, beat, widget, idle, layer, label)
    if "hints" in runs:
        rows.append(hints_run(app, viewer, beat, widget, cancelled, layer, seconds, label))
    if "samples" in runs:
        w = widget(scope="current slice", model="guided", samples=2, render_scale=4)
        rows.append((label, "samples", *measure(app, beat, w.start, idle(w), 900)))
    return rows


def live_runs(app, viewer, beat, widget, idle, layer, label) -> list[tuple]:
    """Live mode's press, then a move to the next plane with the gray layer shown (napari
    reads its plane on the event loop) and to the one after with it hidden."""
    rows = []
    w = widget(scope="live", render_scale=4)
    rows.append((label, "live", *measure(app, beat, w.start, idle(w), 600)))
    live = viewer.layers[-1]
    here = int(viewer.dims.point[0])
    step = layer.scale[0]
    for ahead, run in ((1, "live, next plane"), (2, "  gray hidden")):
        layer.visible = ahead == 1
        shown = (here + ahead,)
        ready = lambda shown=shown: live.data.is_ready(shown)  # noqa: E731
        move = lambda shown=shown: viewer.dims.set_point(0, shown[0] * step)  # noqa: E731
        rows.append((label, run, *measure(app, beat, move, ready, 600)))
    layer.visible = True
    viewer.layers.remove(live)
    return rows


def hints_run(app, viewer, beat, widget, cancelled, layer, seconds, label) -> tuple:
    """Three hints on the current slice, one edited during the run, then Cancel."""
    here, step = int(viewer.dims.point[0]), layer.scale[0]
    size = layer.data[0].shape[-1] if layer.multiscale else layer.data.shape[-1]
    points = viewer.add_points(
        [[here * step, size * f, size * f] for f in (0.25, 0.5, 0.75)], name="hints"
    )
    w = widget(scope="current slice", model="guided")
    w.reset_choices()
    w._hints.value = points
    spin(app, lambda: False, 1.0)  # napari draws the new points layer before the press

    def press_and_edit():
        w.start()
        points.face_color = [[0.1, 0.8, 0.2, 1.0]] * 3  # an edit during the run

    never = lambda: False  # noqa: E731
    row = (label, "hints", *measure(app, beat, press_and_edit, never, seconds, cancelled(w)))
    viewer.layers.remove(points)
    return row


def finetune_run(app, viewer, beat, size: int) -> tuple:
    import skimage.data

    from napari_colorgan._finetune_widget import FinetuneWidget
    from napari_colorgan._runs import State

    rgb = np.tile(skimage.data.astronaut(), (-(-size // 512), -(-size // 512), 1))[:size, :size]
    layer = viewer.add_image(rgb, name="colour truth", rgb=True)
    w = FinetuneWidget(viewer)
    w.reset_choices()
    w._layers.value = [layer]
    w._steps.value, w._patch.value, w._device.value = 3, 64, "cpu"
    w._out.value = Path(tempfile.mkdtemp()) / "bench.safetensors"
    done = lambda: w.state is not State.RUNNING  # noqa: E731
    row = ("colour layer", "fine-tune", *measure(app, beat, w.start, done, 900))
    viewer.layers.remove(layer)
    return row


def before_press(app, viewer, beat, layer) -> tuple:
    """The old widget's press, loaded from git into a module of this package."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:napari_colorgan/_widget.py"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    old = types.ModuleType("napari_colorgan._widget_before")
    old.__package__ = "napari_colorgan"
    exec(compile(source, "_widget_before.py", "exec"), old.__dict__)
    w = old.ColorizeWidget(viewer)
    w._image.value, w._device.value, w._render_scale.value = layer, "cpu", 4

    def cancel():
        w.cancel()
        spin(app, lambda: w.state is not old.State.RUNNING, 120)
        return "cancelled"

    running = lambda: w.state is not old.State.RUNNING  # noqa: E731
    return ("plain", "before (slice)", *measure(app, beat, w.start, running, 1, cancel))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planes", type=int, default=12)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", default=",".join(RUNS), help="a subset of " + ",".join(RUNS))
    args = parser.parse_args()

    import dask.array as da
    import napari

    os.environ["NAPARI_COLORGAN_SETTINGS"] = ""  # the widgets keep no settings

    with tempfile.TemporaryDirectory() as folder:
        print(f"writing a {args.planes} x {args.size}^2 uint16 zarr stack ...", file=sys.stderr)
        store = make_store(Path(folder), args.planes, args.size)
        viewer = napari.Viewer(show=True)
        app = napari.qt.get_qapp()
        beat = Heartbeat()
        levels = [da.from_zarr(store, component=str(k)) for k in range(4)]
        plain = viewer.add_image(levels[0], name="plain", contrast_limits=(0, 65535))
        runs = set(args.runs.split(","))
        rows = [before_press(app, viewer, beat, plain)] if "before" in runs else []
        rows += colorize_runs(app, viewer, beat, plain, args.seconds, "plain", runs)
        viewer.layers.clear()
        pyramid = viewer.add_image(levels, name="pyramid", contrast_limits=(0, 65535))
        rows += colorize_runs(app, viewer, beat, pyramid, args.seconds, "pyramid", runs)
        viewer.layers.clear()
        if "fine-tune" in runs:
            rows.append(finetune_run(app, viewer, beat, args.size))
        viewer.close()
    print(f"{args.planes} x {args.size}^2 uint16, CPU; stall: longest gap of a 10 ms timer")
    print(f"{'layer':<13} {'run':<17} {'press s':>8} {'stall s':>8}  end")
    for layer, run, pressed, stall, end in rows:
        print(f"{layer:<13} {run:<17} {pressed:8.3f} {stall:8.3f}  {end}")


if __name__ == "__main__":
    main()
