"""The Fine-tune dock widget: adapt a model to the colour layers open in napari.

Only wiring lives here: the training is :func:`napari_colorgan.train.transfer.finetune_trainer`,
set up and run in a worker thread by :func:`finetune_job`.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, FileEdit, Select, SpinBox
from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QWidget

from ._fields import ModelChoice, available_devices, is_result
from ._runs import State, WorkerWidget

if TYPE_CHECKING:
    import napari

    from .engine.progress import Progress
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

    The encoder stays frozen for the first 30 % of the steps; setup and training
    run in a worker thread with a live loss plot and a progress bar, and Cancel
    stops it within a step without writing anything. The output is checked
    before training starts: an existing file is kept unless *overwrite* is ticked.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose colour layers are offered as training images.
    """

    title = "Fine-tune"

    def __init__(self, viewer: napari.viewer.Viewer):
        self._viewer = viewer
        self._layers = Select(label="colour layers", choices=self._truth_layers)
        self._base = ModelChoice("base model", "add base weights")
        self._steps = SpinBox(label="steps", value=300, min=2, max=100_000, step=50)
        self._patch = SpinBox(label="patch", value=128, min=32, max=512, step=32)
        self._device = ComboBox(label="device", choices=available_devices(), value="auto")
        self._out = FileEdit(
            label="save as", mode="w", filter="*.safetensors", value=default_output()
        )
        self._overwrite = CheckBox(text="overwrite an existing file", value=False)
        super().__init__(
            widgets=[
                self._layers,
                self._base.combo,
                self._base.picker,
                self._steps,
                self._patch,
                self._device,
                self._out,
                self._overwrite,
            ]
        )
        self.plot = LossPlot()
        self.native.layout().addWidget(self.plot)

    def _truth_layers(self, _widget=None) -> list:
        """2-D colour layers that are not our own results: what colours can be learned from."""
        from napari.layers import Image

        return [
            layer
            for layer in self._viewer.layers
            if isinstance(layer, Image) and layer.rgb and layer.ndim == 2 and not is_result(layer)
        ]

    def reset_choices(self, *_):
        self._layers.reset_choices()

    @property
    def base(self) -> str:
        """The base model the dropdown shows: a shipped name or a weights file's path."""
        return self._base.value

    def start(self) -> None:
        """Check the layers and the output, then set up and train in a worker thread."""
        from napari.utils.notifications import show_error

        layers = list(self._layers.value)
        try:
            if not layers:
                raise ValueError("select one or more colour layers with the colours to learn")
            out = check_output(self._out.value, self._overwrite.value)
        except ValueError as err:
            self.state = State.FAILED
            self._status.value = str(err)
            show_error(f"Fine-tune: {err}")
            return
        run = FinetuneRun(
            base=self.base,
            images=tuple(lay.data[0] if lay.multiscale else lay.data for lay in layers),
            names=tuple(lay.name for lay in layers),
            steps=self._steps.value,
            patch=self._patch.value,
            device=self._device.value,
            out=out,
        )
        self.plot.clear()
        self.launch(finetune_job, run, "Fine-tuning", self._on_step, self._on_done)

    def _on_step(self, event: TrainStep | Progress) -> None:
        if not hasattr(event, "losses"):  # a setup stage
            self.show_progress(event.stage, event.done, event.total)
            return
        loss = event.losses.get("g", float("nan"))
        self.show_progress("step", event.step, self._steps.value)
        self._status.value = f"step {event.step} of {self._steps.value}, generator loss {loss:.3g}"
        self.plot.add(event.step, loss)

    def _on_done(self, path: Path) -> None:
        self._status.value = f"saved {path}"
        self._out.value = default_output()  # the next run does not overwrite this one


@dataclass(frozen=True, eq=False)
class FinetuneRun:
    """One fine-tuning run as the widget showed it at the press.

    ``images`` are the layers' arrays as napari holds them (not read yet); the
    worker reads them.
    """

    base: str
    images: tuple[Any, ...]
    names: tuple[str, ...]
    steps: int
    patch: int
    device: str
    out: Path


def finetune_job(run: FinetuneRun) -> Generator[Any, None, Path]:
    """The worker's body: read the layers and set up, train, save; returns the path."""
    from .engine.progress import Progress
    from .train.transfer import finetune_trainer, save_finetuned

    yield Progress("setting up", 0, 0)
    trainer, _ = finetune_trainer(
        run.base, list(run.images), run.steps, patch=run.patch, device=run.device
    )
    yield from trainer.iter_fit()
    return save_finetuned(trainer, run.out, list(run.names))


def models_folder() -> Path:
    """Where fine-tuned models go unless another path is chosen: the user data folder."""
    import platformdirs

    return Path(platformdirs.user_data_dir("napari-colorgan", appauthor=False)) / "models"


def default_output() -> Path:
    """An absolute path in :func:`models_folder` that no file holds yet."""
    folder = models_folder()
    path, n = folder / "finetuned.safetensors", 1
    while path.exists():
        n += 1
        path = folder / f"finetuned-{n}.safetensors"
    return path


def check_output(value: Any, overwrite: bool) -> Path:
    """The absolute path a run will write, checked before it trains.

    A relative path is taken inside :func:`models_folder`; the folder is made.

    Raises
    ------
    ValueError
        For no path, a folder, another suffix, an existing file (without
        ``overwrite``) or a folder that cannot be written to, each with the fix.
    """
    text = str(value)
    if text in ("", "."):
        raise ValueError("choose where to save the model (save as)")
    path = Path(text).expanduser()
    path = path if path.is_absolute() else models_folder() / path
    if path.suffix != ".safetensors":
        raise ValueError(f"save as must end in .safetensors, got {path.name!r}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder: choose a file name in it")
    if path.exists() and not overwrite:
        raise ValueError(f"{path} exists: choose another name or tick 'overwrite'")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as err:
        raise ValueError(
            f"cannot write to {path.parent} ({err.strerror or err}): choose another folder"
        ) from None
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{path} is read-only: choose another name")
    return path
