"""The Colorize dock widget: library calls in a worker thread, results as new layers.

Only wiring lives here: the tiles, models and errors come from the library.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    Label,
    PushButton,
    RadioButtons,
    SpinBox,
    create_widget,
)

if TYPE_CHECKING:
    import napari

    from .engine.progress import Progress
    from .engine.settings import Guidance, TileSettings

CURRENT_SLICE, WHOLE_LAYER, LIVE = "current slice", "whole layer", "live"
# the precision choices as shown, and the value each passes to the library
PRECISIONS = (
    ("auto (bf16 where native)", "auto"),
    ("float32", "float32"),
    ("bfloat16", "bfloat16"),
)
SETTINGS_ENV = "NAPARI_COLORGAN_SETTINGS"  # a JSON path for the widget's last settings; "" off
PERSISTED = (
    "model",
    "weights",
    "device",
    "tile_size",
    "precision",
    "render_scale",
    "scope",
    "hint_reach",
    "samples",
)
INVALID = "border: 2px solid #d9534f"  # a field whose value cannot run, as it is typed


def settings_path() -> Path | None:
    """Where the Colorize widget keeps its last settings: napari's config folder.

    ``NAPARI_COLORGAN_SETTINGS`` names another file; set to "" it turns saving off.
    """
    chosen = os.environ.get(SETTINGS_ENV)
    if chosen is not None:
        return Path(chosen) if chosen else None
    from napari.settings import get_settings

    return Path(get_settings().config_path).parent / "napari-colorgan" / "colorize.json"


class State(Enum):
    IDLE = "idle"
    RUNNING = "running"
    CANCELLED = "cancelled"
    DONE = "done"
    FAILED = "failed"


def available_devices() -> list[str]:
    """``auto`` plus the devices present on this machine."""
    import torch

    devices = ["auto", "cpu"]
    devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def model_choice(label: str, file_label: str) -> tuple[ComboBox, FileEdit]:
    """A shipped model's name (``general`` first) beside an optional weights file."""
    from .models.registry import list_models

    models = list_models()
    name = ComboBox(label=label, choices=models, value="general" if "general" in models else None)
    return name, FileEdit(label=file_label, filter="*.safetensors", value="")


def chosen_model(name: ComboBox, weights: FileEdit) -> str:
    """The weights file when one is chosen, else the shipped model's name."""
    path = str(weights.value)
    return path if path not in ("", ".") else name.value


def _worker_body(steps):
    """A thread_worker body: yield the engine's progress, return its result."""
    return (yield from steps)


class WorkerWidget(Container):
    """A dock widget whose button runs a library generator in a napari worker thread.

    The subclass makes the button ``self._run`` and a ``start()`` that checks its
    settings and calls :meth:`_launch`. The button reads :attr:`title` while idle and
    *Cancel* while running; errors are shown as notifications; a progress bar closes
    when the work ends, however it ends.
    """

    title = ""

    def __init__(self, widgets: list) -> None:
        super().__init__(widgets=widgets)
        self.state = State.IDLE
        self.worker = None
        self._progress = None

    def _on_click(self) -> None:
        if self.state is State.RUNNING:
            self.cancel()
        else:
            self.start()

    def _launch(self, steps, desc: str, total: int, on_yield, on_return) -> None:
        """Run ``steps`` in a worker: ``on_yield`` per item, ``on_return`` with the result."""
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self._progress = progress(total=total, desc=desc)
        self.worker = create_worker(_worker_body, steps, _start_thread=False)
        self.worker.yielded.connect(on_yield)
        self.worker.returned.connect(on_return)
        self.worker.errored.connect(self._on_error)
        self.worker.aborted.connect(self._on_cancelled)
        self.worker.finished.connect(self._on_finished)
        self.state = State.RUNNING
        self._run.text = "Cancel"
        self.worker.start()

    def cancel(self) -> None:
        """Stop after the batch or step in flight; nothing is added or written."""
        if self.worker is not None:
            self.worker.quit()

    def _on_error(self, err: Exception) -> None:
        from napari.utils.notifications import show_error

        self.state = State.FAILED
        show_error(f"{self.title} failed: {err}")

    def _on_cancelled(self) -> None:
        self.state = State.CANCELLED

    def _on_finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self._run.text = self.title


class ColorizeWidget(WorkerWidget):
    """Colourise an image layer into a new RGB layer: current slice, whole layer or live.

    *live* adds a lazy layer at once that colourises each plane as it is viewed.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose image, points and reference layers are offered, and that
        receives the result as a new layer.
    """

    title = "Colorize"

    def __init__(self, viewer: napari.viewer.Viewer):
        from .engine.spread import HINT_REACH

        self._viewer = viewer
        self._image = create_widget(annotation="napari.layers.Image", label="image")
        self._model, self._weights = model_choice("model", "or weights")
        self._about = Label(label="")
        self._model.changed.connect(self._describe_model)
        self._weights.changed.connect(self._describe_model)
        self._device = ComboBox(label="device", choices=available_devices(), value="auto")
        self._tile_size = SpinBox(label="tile size", value=512, min=64, max=8192, step=64)
        self._precision = ComboBox(label="precision", choices=PRECISIONS, value="auto")
        self._render_scale = ComboBox(
            label="render scale", choices=[("full", 1), ("1/2", 2), ("1/4", 4)], value=1
        )
        self._scope = RadioButtons(
            label="process", choices=[CURRENT_SLICE, WHOLE_LAYER, LIVE], value=CURRENT_SLICE
        )
        # guidance, for a guided model: hints recolour the current slice as they are edited
        nullable = {"nullable": True}
        self._hints = create_widget(
            annotation="napari.layers.Points", label="hints", options=nullable
        )
        self._hint_reach = SpinBox(label="hint reach", value=HINT_REACH, min=0, max=512)
        self._hint_reach.changed.connect(self._reach_changed)
        self._reference = create_widget(
            annotation="napari.layers.Image", label="reference", options=nullable
        )
        self._samples = SpinBox(label="samples", value=0, min=0, max=32)
        self._hints.changed.connect(self._watch_hints)
        self._run = PushButton(text=self.title)
        self._run.changed.connect(self._on_click)
        super().__init__(
            widgets=[
                self._image,
                self._model,
                self._weights,
                self._about,
                self._device,
                self._tile_size,
                self._precision,
                self._render_scale,
                self._scope,
                self._hints,
                self._hint_reach,
                self._reference,
                self._samples,
                self._run,
            ]
        )
        self._watched = None
        self._rerun = False
        self._problem = Label(label="")
        self.insert(len(self) - 1, self._problem)
        self._restore()
        self._describe_model()
        for field in (self._image, self._hints, self._reference, self._samples):
            field.changed.connect(self._validate)
        self._render_scale.changed.connect(self._validate)
        for key in PERSISTED:
            getattr(self, f"_{key}").changed.connect(self._persist)
        self._validate()

    def reset_choices(self, *_):
        self._image.reset_choices()
        self._hints.reset_choices()
        self._reference.reset_choices()

    @property
    def model(self) -> str:
        """The weights file when one is chosen, else the shipped model's name."""
        return chosen_model(self._model, self._weights)

    def _describe_model(self, *_) -> None:
        from .models.registry import WeightsError, read_metadata, resolve

        self._arch = None
        try:
            meta = read_metadata(resolve(self.model))
        except (WeightsError, OSError) as err:
            self._about.value = f"cannot use: {err}"
        else:
            self._arch, prov = meta["generator"], meta.get("provenance", {})
            self._about.value = (
                f"{self._arch['mode']}, widths {self._arch['widths']}, "
                f"{prov.get('steps', '?')} steps"
            )
        if hasattr(self, "_problem"):
            self._validate()

    # -- settings: kept between sessions, checked as they change -----------------------

    def _restore(self) -> None:
        """The last settings saved, where they still apply (a missing file is skipped)."""
        path = settings_path()
        try:
            saved = json.loads(path.read_text()) if path is not None else {}
        except (OSError, ValueError):  # none yet, or unreadable: the defaults stand
            return
        for key in PERSISTED:
            if key not in saved or (key == "weights" and not Path(saved[key]).is_file()):
                continue
            try:
                getattr(self, f"_{key}").value = saved[key]
            except (ValueError, TypeError, KeyError):  # a choice this machine lacks
                continue

    def _persist(self, *_) -> None:
        """Save the settings as they are now (atomically; a failure is not an error)."""
        from .io.atomic import atomic_write

        path = settings_path()
        if path is None:
            return
        values = {key: getattr(self, f"_{key}").value for key in PERSISTED}
        values["weights"] = "" if str(values["weights"]) in ("", ".") else str(values["weights"])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as tmp:
                tmp.write_text(json.dumps(values))
        except OSError:
            pass  # a read-only config folder: settings are simply not kept

    def problems(self) -> dict:
        """What keeps the current settings from running: ``{field: why}``."""
        found = {}
        layer = self._image.value
        if layer is not None and layer.rgb:
            found[self._image] = f"{layer.name!r} is already RGB: choose a grayscale layer"
        if self._arch is None:
            found[self._weights if self.model == str(self._weights.value) else self._model] = (
                self._about.value
            )
        points = self._hints.value
        guidance = {
            self._hints: points is not None and len(points.data) > 0,
            self._reference: self._reference.value is not None,
            self._samples: self._samples.value > 0,
        }
        if self._arch is not None and not self._arch.get("guided"):
            for field, used in guidance.items():
                if used:
                    found[field] = f"{field.label} needs a guided model: choose 'guided'"
        reference = self._reference.value
        if reference is not None and not reference.rgb:
            found[self._reference] = f"{reference.name!r} is not a colour (RGB) layer"
        if guidance[self._hints] and self._render_scale.value != 1:
            found[self._render_scale] = "hints are applied at full resolution: choose full"
        return found

    def _validate(self, *_) -> None:
        """Mark the fields that cannot run as they are, and say why; Colorize waits."""
        found = self.problems()
        checked = (self._image, self._model, self._weights, self._hints, self._reference)
        for field in (*checked, self._samples, self._render_scale):
            self._mark(field, found.get(field))
        self._problem.value = next(iter(found.values()), "")
        self._run.enabled = not found or self.state is State.RUNNING

    @staticmethod
    def _mark(field, why: str | None) -> None:
        field.native.setStyleSheet(INVALID if why else "")
        field.tooltip = why

    # -- what to process ---------------------------------------------------------------

    def _selection(self, layer) -> tuple[np.ndarray, dict]:
        """The pixels to colourise and the new layer's geometry.

        A multiscale layer's current slice is a preview on the level napari displays;
        the whole layer and live mode use full resolution. A current slice of a stack
        sets :attr:`_plane` (its index on the leading axes), else it is None.
        """
        self._plane = None
        data = layer.data[0] if layer.multiscale else layer.data
        geometry = {"scale": tuple(layer.scale), "translate": tuple(layer.translate)}
        for key in ("axis_labels", "units"):  # napari >= 0.5.1
            if getattr(layer, key, None) is not None:
                geometry[key] = tuple(getattr(layer, key))
        if self._scope.value in (WHOLE_LAYER, LIVE) or data.ndim == 2:
            return data, geometry
        point = layer.world_to_data(self._viewer.dims.point)
        lead = tuple(int(np.clip(round(p), 0, n - 1)) for p, n in zip(point[:-2], data.shape))
        if layer.multiscale:
            level = layer.data_level
            factors = layer.downsample_factors[level]
            data = layer.data[level]
            lead = tuple(int(i // f) for i, f in zip(lead, factors))
            geometry["scale"] = tuple(s * f for s, f in zip(geometry["scale"], factors))
        self._plane = lead
        return np.asarray(data[lead]), {key: value[-2:] for key, value in geometry.items()}

    def _placed(self, layer, geometry: dict) -> dict:
        """A current slice's geometry on the layer's axes, at its own plane (not every z)."""
        if not self._plane:
            return geometry
        n = len(self._plane)
        scale = tuple(layer.scale[:n])
        where = tuple(t + i * s for t, i, s in zip(layer.translate[:n], self._plane, scale))
        placed = {
            "scale": (*scale, *geometry["scale"]),
            "translate": (*where, *geometry["translate"]),
        }
        for key in ("axis_labels", "units"):
            if key in geometry:
                placed[key] = (*tuple(getattr(layer, key))[:n], *geometry[key])
        return placed

    def _result_name(self, layer) -> str:
        """Say what the result is: the model, and the slice, the whole layer or live."""
        model = Path(self.model).stem
        if self._scope.value == LIVE:
            what = "live"
        elif self._plane:
            labels = tuple(layer.axis_labels)[: len(self._plane)]
            where = [
                f"{label}={i}" if not label.lstrip("-").isdigit() else str(i)
                for label, i in zip(labels, self._plane)
            ]
            what = f"slice {', '.join(where)}"
        elif layer.multiscale and self._scope.value == CURRENT_SLICE:
            what = f"level {layer.data_level} preview"
        else:
            what = "whole"
        return f"{layer.name} [{model}, {what}]"

    # -- guidance ----------------------------------------------------------------------

    def _tile_settings(self) -> TileSettings:
        """The tiling the user chose: tile size, device, precision and render scale."""
        from .engine.settings import TileSettings

        return TileSettings(
            tile_size=self._tile_size.value,
            device=self._device.value,
            precision=self._precision.value,
            render_scale=self._render_scale.value,
        )

    def _guidance(self, layer, data) -> Guidance:
        """Hints (points on what is processed), reference and samples for the library."""
        from .engine.settings import Guidance

        guidance = {}
        points = self._hints.value
        if points is not None and len(points.data):
            world = [points.data_to_world(p) for p in points.data]
            coords = [layer.world_to_data(w) for w in world]
            if data.ndim == 2 and layer.ndim > 2:  # the current slice: its points only
                here = layer.world_to_data(self._viewer.dims.point)[:-2]
                on = [np.allclose(np.round(c[:-2]), np.round(here)) for c in coords]
                coords = [c[-2:] for c, keep in zip(coords, on) if keep]
                colours = [f for f, keep in zip(points.face_color, on) if keep]
            else:
                colours = list(points.face_color)
            inside = [
                (tuple(int(round(v)) for v in c), tuple(float(x) for x in f[:3]))
                for c, f in zip(coords, colours)
                if all(0 <= round(v) < n for v, n in zip(c, data.shape))
            ]
            guidance["hints"] = inside or None
            guidance["hint_reach"] = self._hint_reach.value
        reference = self._reference_image()
        if reference is not None:
            guidance["reference"] = reference
        if self._samples.value:
            guidance["samples"] = self._samples.value
        return Guidance(**guidance)

    def _reference_image(self) -> np.ndarray | None:
        """The chosen reference layer's colours (its full-resolution level)."""
        reference = self._reference.value
        if reference is None:
            return None
        if not reference.rgb:
            raise ValueError(f"reference layer {reference.name!r} is not a colour (RGB) layer")
        return np.asarray(reference.data[0] if reference.multiscale else reference.data)

    def _watch_hints(self, points) -> None:
        """Recolour the current slice whenever the hint points or their colours change."""
        if self._watched is not None:
            self._watched.events.data.disconnect(self._hints_edited)
            self._watched.events.face_color.disconnect(self._hints_edited)
        self._watched = points
        if points is not None:
            points.events.data.connect(self._hints_edited)
            points.events.face_color.connect(self._hints_edited)
            if "guided" in self._model.choices:
                self._model.value = "guided"

    def _reach_changed(self, *_) -> None:
        points = self._hints.value
        if points is not None and len(points.data):
            self._hints_edited()

    def _hints_edited(self, *_) -> None:
        if self._scope.value != CURRENT_SLICE or self._image.value is None:
            return
        if self.state is State.RUNNING:
            self._rerun = True  # once the run in flight ends
        else:
            self.start()

    # -- run / cancel ------------------------------------------------------------------

    def start(self) -> None:
        """Check the settings, then colourise in a worker thread."""
        from napari.utils.notifications import show_error

        from .engine.lazy import as_dask, is_lazy
        from .engine.pipeline import check_gray, colorize_steps
        from .io.scaling import intensity_range

        layer = self._image.value
        if layer is None:
            show_error("Colorize: open or choose a grayscale image layer first")
            return
        if layer.rgb:
            show_error(f"Colorize: layer {layer.name!r} is already RGB; choose a grayscale layer")
            self.state = State.FAILED
            return
        try:
            data, geometry = self._selection(layer)
            check_gray(data)  # a boolean or empty layer is named before any statistics
            if self._scope.value == LIVE:
                self._add_live(layer, data, geometry)
                return
            # one intensity range for the whole layer, so a slice looks as it does in the
            # stack; a multiscale layer's smallest level is enough to estimate it
            stats = layer.data[-1] if layer.multiscale else layer.data
            normalize = intensity_range(as_dask(stats) if is_lazy(stats) else stats)
            guidance = self._guidance(layer, data)
            if guidance.per_plane:  # a reference streams
                data = np.asarray(data)
            steps = colorize_steps(data, self.model, self._tile_settings(), guidance, normalize)
        except Exception as err:  # every failure is a notification, never a traceback
            self.state = State.FAILED
            show_error(f"Colorize: {err}")
            return
        self._persist()
        name, placed, planes = self._result_name(layer), self._placed(layer, geometry), self._plane
        self._launch(
            steps,
            f"Colorizing {layer.name}",
            0,
            self._on_progress,
            lambda rgb: self._on_done(rgb, name, placed, len(planes or ())),
        )

    def _add_live(self, layer, data, geometry) -> None:
        """A lazy RGB layer: napari computes only the planes it shows."""
        import dask.array as da

        from .engine.pipeline import colorize_with
        from .engine.settings import Guidance

        if not isinstance(data, da.Array):
            data = da.from_array(data, chunks=(1,) * (data.ndim - 2) + data.shape[-2:])
        # a reference is one code for every chunk: it streams
        guidance = Guidance(reference=self._reference_image())
        rgb = colorize_with(data, self.model, self._tile_settings(), guidance)
        name = self._result_name(layer)
        self._viewer.add_image(rgb, name=name, rgb=True, contrast_limits=(0, 1), **geometry)
        self.state = State.DONE

    def _on_progress(self, step: Progress) -> None:
        self._progress.total = step.total
        self._progress.update(step.done - self._progress.n)

    def _on_done(self, rgb: np.ndarray, name: str, geometry: dict, planes: int = 0) -> None:
        """Add (or, for a hint edit, update) the result; a slice gets ``planes`` axes of 1."""
        rgb = rgb.reshape((*rgb.shape[:-3], *(1,) * planes, *rgb.shape[-3:]))
        if self._samples.value and rgb.ndim == len(geometry["scale"]) + 2:
            from .guide import chroma_uncertainty

            stacked = {
                "scale": (1.0, *geometry["scale"]),
                "translate": (0.0, *geometry["translate"]),
            }
            self._viewer.add_image(
                rgb, name=f"{name} samples", rgb=True, contrast_limits=(0, 1), **stacked
            )
            spread = chroma_uncertainty(rgb)
            self._viewer.add_image(spread, name=f"{name} uncertainty", colormap="magma", **geometry)
        elif name in self._viewer.layers and self._watched is not None:
            self._viewer.layers[name].data = rgb  # a hint edit: recolour in place
        else:
            self._viewer.add_image(rgb, name=name, rgb=True, contrast_limits=(0, 1), **geometry)
        self.state = State.DONE

    def _on_finished(self) -> None:
        super()._on_finished()
        if self._rerun:
            self._rerun = False
            self.start()
