"""Screenshots of the plugin's two widgets in napari for the README.

Run from the repository root under a (virtual) display:
    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshot.py
Writes docs/images/napari.png (Colorize) and docs/images/finetune.png (Fine-tune).
"""

import time
from pathlib import Path

import imageio.v3 as iio
import napari
from qtpy.QtWidgets import QApplication

from napari_colorgan._widget import State

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"


def wait(widget) -> None:
    while widget.state is State.RUNNING:
        QApplication.processEvents()
        time.sleep(0.05)


def colorize_shot() -> None:
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 900)
    viewer.open_sample("napari-colorgan", "he_skin")
    layer = viewer.layers[-1]
    layer.scale = (0.5, 0.5)  # microns per pixel, kept on the result
    _, widget = viewer.window.add_plugin_dock_widget("napari-colorgan", "Colorize")
    widget._image.value = layer
    widget._model.select("histology")
    widget.start()
    wait(widget)
    layer.visible = False
    viewer.reset_view()
    viewer.screenshot(str(OUT / "napari.png"), canvas_only=False)
    viewer.close()


def finetune_shot() -> None:
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1500, 900)
    truth = iio.imread(ROOT / "sample_data" / "he_crop_rgb.png")
    layer = viewer.add_image(truth, name="H&E colour (your slide)", rgb=True)
    _, widget = viewer.window.add_plugin_dock_widget("napari-colorgan", "Fine-tune")
    widget.reset_choices()
    widget._layers.value = [layer]
    widget._steps.value, widget._patch.value, widget._device.value = 60, 64, "cpu"
    widget._out.value = Path("/tmp") / "my_stain.safetensors"
    widget._overwrite.value = True  # the last screenshot's model
    widget.start()
    wait(widget)
    viewer.reset_view()
    viewer.screenshot(str(OUT / "finetune.png"), canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    colorize_shot()
    finetune_shot()
    print(f"wrote {OUT / 'napari.png'} and {OUT / 'finetune.png'}")
