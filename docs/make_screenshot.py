"""Screenshot of the plugin in napari for the README.

Run from the repository root under a (virtual) display:
    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshot.py
Writes docs/images/napari.png.
"""

import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

from napari_colorgan._widget import State

OUT = Path(__file__).resolve().parent / "images" / "napari.png"


def main() -> None:
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 900)
    viewer.open_sample("napari-colorgan", "he_skin")
    layer = viewer.layers[-1]
    layer.scale = (0.5, 0.5)  # microns per pixel, kept on the result
    _, widget = viewer.window.add_plugin_dock_widget("napari-colorgan", "Colorize")
    widget._image.value = layer
    widget.start()
    while widget.state is State.RUNNING:
        QApplication.processEvents()
        time.sleep(0.05)
    layer.visible = False
    viewer.reset_view()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(OUT), canvas_only=False)
    print(f"wrote {OUT}")
    viewer.close()


if __name__ == "__main__":
    main()
