"""How fast a hint edit recolours the view: library call and napari round trip, side by side.

    xvfb-run -a python benchmarks/hints.py [--size 512] [--repeat 5]

Rows (same SIZE x SIZE crop of the held-out IHC half, scaled up as needed):
  plain      colorize with the guided model and no hints (the reference)
  20 hints, network alone   colorize with 20 hints and hint_reach=0 (no spread)
  20 hints   colorize with 20 hints, spread over the default reach
  napari     change one hint's colour in a Points layer of a real viewer, until the
             colourised layer shows the new result (event, worker thread, layer update)
Seconds are the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def view(size: int) -> tuple[np.ndarray, np.ndarray]:
    import skimage.data
    import skimage.transform

    import napari_colorgan as ncg

    truth = skimage.data.immunohistochemistry()[256:].astype(np.float32) / 255
    truth = skimage.transform.resize(truth, (size, size), order=1)
    return ncg.to_gray(truth), truth


def timed(fn, repeat: int) -> float:
    fn()  # warm-up: model load, thread pool
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def napari_round_trip(gray, truth, hints, repeat: int) -> float:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_colorgan._widget import ColorizeWidget, State

    viewer = napari.Viewer(show=False)
    image = viewer.add_image(gray, name="view")
    points = viewer.add_points(
        [c for c, _ in hints], face_color=[list(rgb) for _, rgb in hints], name="hints"
    )
    widget = ColorizeWidget(viewer)
    widget.reset_choices()
    widget._image.value = image
    widget._device.value = "cpu"
    widget._hints.value = points

    def wait():
        while widget.state is State.RUNNING or widget._rerun:
            QApplication.processEvents()
            time.sleep(0.002)

    widget.start()
    wait()
    runs = []
    for i in range(repeat):
        colours = np.array(points.face_color)
        colours[0, :3] = np.random.default_rng(i).random(3)
        start = time.perf_counter()
        points.face_color = colours  # what editing a point's colour in napari does
        QApplication.processEvents()
        wait()
        runs.append(time.perf_counter() - start)
    viewer.close()
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import napari_colorgan as ncg

    gray, truth = view(args.size)
    rng = np.random.default_rng(0)
    hints = [((y, x), tuple(truth[y, x])) for y, x in rng.integers(0, args.size, (20, 2))]
    model = ncg.load_model("guided", device="cpu")
    rows = {
        "plain": timed(lambda: ncg.colorize(gray, model, normalize="none"), args.repeat),
        "20 hints, network alone": timed(
            lambda: ncg.colorize(gray, model, normalize="none", hints=hints, hint_reach=0),
            args.repeat,
        ),
        "20 hints": timed(
            lambda: ncg.colorize(gray, model, normalize="none", hints=hints), args.repeat
        ),
        "napari": napari_round_trip(gray, truth, hints, args.repeat),
    }
    print(f"{args.size}x{args.size} view, guided model, CPU\n")
    print("| path | seconds | x plain |\n| --- | ---: | ---: |")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.3f} | {seconds / rows['plain']:.2f} |")


if __name__ == "__main__":
    main()
