"""The Fine-tune dock widget: adapt a model to the colour layers open in napari.

Only wiring lives here: the training is :func:`napari_colorgan.train.transfer.finetune_trainer`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, FileEdit, Label, PushButton, Select, SpinBox
from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QWidget

from ._widget import State, WorkerWidget, available_devices, chosen_model, model_choice

if TYPE_CHECKING:
    import napari

    from .train.logs import TrainStep


class LossPlot(QWidget):
    """A minimal live line plot of the generator's loss against the step."""

    def __init__(self):
        super().__init__()
        self.points: list[tuple[int, float]] = []
        self.setMinimumHeight(120)

    def add(self, step: int, loss: float) -> None:
        if math.isfinite(loss):
            self.points.append((step, loss))
            self.update()

    def clear(self) -> None:
        self.points = []
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h, pad = self.width(), self.height(), 6
        painter.setPen(QPen(Qt.GlobalColor.gray))
        painter.drawRect(0, 0, w - 1, h - 1)
        if len(self.points) < 2:
            painter.drawText(pad, h // 2, "generator loss appears here")
            return
        steps, losses = zip(*self.points)
        s0, s1, lo, hi = min(steps), max(steps), min(losses), max(losses)
        span_s, span_l = max(s1 - s0, 1), max(hi - lo, 1e-12)
        line = QPolygonF(
            [
                QPointF(
                    pad + (s - s0) / span_s * (w - 2 * pad),
                    h - pad - (v - lo) / span_l * (h - 2 * pad),
                )
                for s, v in self.points
            ]
        )
        painter.setPen(QPen(Qt.GlobalColor.cyan, 1.5))
        painter.drawPolyline(line)
        painter.setPen(QPen(Qt.GlobalColor.lightGray))
        painter.drawText(pad, 14, f"{hi:.3g}")
        painter.drawText(pad, h - pad, f"{lo:.3g}  (step {s1})")


class FinetuneWidget(WorkerWidget):
    """Fine-tune a model on open colour (RGB) layers and save it as a weights file.

    The encoder stays frozen for the first 30 % of the steps; training runs in a
    worker thread with a live loss plot and a progress bar, and Cancel stops it
    within a step without writing anything.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose RGB layers are offered as training images.
    """

    title = "Fine-tune"

    def __init__(self, viewer: napari.viewer.Viewer):
        self._viewer = viewer
        self._layers = Select(label="colour layers", choices=self._rgb_layers)
        self._base, self._base_file = model_choice("base model", "or base weights")
        self._steps = SpinBox(label="steps", value=300, min=2, max=100_000, step=50)
        self._patch = SpinBox(label="patch", value=128, min=32, max=512, step=32)
        self._device = ComboBox(label="device", choices=available_devices(), value="auto")
        self._out = FileEdit(
            label="save as", mode="w", filter="*.safetensors", value="finetuned.safetensors"
        )
        self._run = PushButton(text=self.title)
        self._run.changed.connect(self._on_click)
        self._status = Label(label="")
        super().__init__(
            widgets=[
                self._layers,
                self._base,
                self._base_file,
                self._steps,
                self._patch,
                self._device,
                self._out,
                self._run,
                self._status,
            ]
        )
        self.plot = LossPlot()
        self.native.layout().addWidget(self.plot)

    def _rgb_layers(self, _widget=None) -> list:
        from napari.layers import Image

        return [layer for layer in self._viewer.layers if isinstance(layer, Image) and layer.rgb]

    def reset_choices(self, *_):
        self._layers.reset_choices()

    @property
    def base(self) -> str:
        """The base weights file when one is chosen, else the shipped model's name."""
        return chosen_model(self._base, self._base_file)

    def start(self) -> None:
        """Check the choices, then fine-tune in a worker thread."""
        from napari.utils.notifications import show_error

        from .train.transfer import finetune_trainer

        layers = list(self._layers.value)
        if not layers:
            show_error("Fine-tune: select one or more RGB layers with the colours to learn")
            self.state = State.FAILED
            return
        images = [np.asarray(lay.data[0] if lay.multiscale else lay.data) for lay in layers]
        try:
            trainer, _ = finetune_trainer(
                self.base,
                images,
                self._steps.value,
                patch=self._patch.value,
                device=self._device.value,
            )
        except (ValueError, OSError) as err:
            self.state = State.FAILED
            show_error(f"Fine-tune: {err}")
            return
        names = [lay.name for lay in layers]
        out = self._out.value
        self.plot.clear()
        steps = _train(trainer, out, names)
        self._launch(steps, "Fine-tuning", self._steps.value, self._on_step, self._on_done)

    def _on_step(self, event: TrainStep) -> None:
        self._progress.update(event.step - self._progress.n)
        self.plot.add(event.step, event.losses["g"])

    def _on_done(self, path) -> None:
        self.state = State.DONE
        self._status.value = f"saved {path}"

    def _on_cancelled(self) -> None:
        super()._on_cancelled()
        self._status.value = "cancelled: nothing saved"


def _train(trainer, out, names):
    """Yield a :class:`~.train.logs.TrainStep` per step, then save and return the weights' path."""
    from .train.transfer import save_finetuned

    yield from trainer.iter_fit()
    return save_finetuned(trainer, out, names)
