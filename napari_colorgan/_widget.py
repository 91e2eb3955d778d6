"""The Colorize dock widget: fields, a snapshot per press, and the result as new layers.

Only wiring lives here. Where a run reads and where its result goes are
:mod:`._geometry`'s pure functions, the run itself is :func:`._jobs.colorize_job`
in a worker thread, the kept settings are :class:`._settings.ColorizeSettings`,
and live mode's layer is :class:`._live.LivePlanes`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Label, RadioButtons, SpinBox, create_widget

from ._fields import RESULT_KEY, ModelChoice, available_devices
from ._geometry import CURRENT_SLICE, LIVE, SCOPES, choose_plane, describe, hints_on, placement
from ._runs import State, WorkerWidget
from ._settings import ColorizeSettings, load_settings, save_settings, settings_path

if TYPE_CHECKING:
    import napari

    from ._jobs import ColorizeResult, ColorizeRun
    from .engine.progress import Progress

log = logging.getLogger(__name__)

# the precision choices as shown, and the value each passes to the library
PRECISIONS = (
    ("auto (bf16 where native)", "auto"),
    ("float32", "float32"),
    ("bfloat16", "bfloat16"),
)
# how the layer's values become lightness (io.scaling.intensity_range), as shown
INTENSITIES = (
    ("auto (uint8 as it is, else stretched; as light if the model says)", "auto"),
    ("stretched (0.1-99.9 %)", "percentiles"),
    ("linear camera (stretched, as light)", "linear"),
)
INVALID = "border: 2px solid #d9534f"  # a field whose value cannot run, as it is typed


class ColorizeWidget(WorkerWidget):
    """Colourise an image layer into a new RGB layer: current slice, whole layer or live.

    *live* adds a layer at once whose planes are colourised, off napari's event
    loop, as they are viewed.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose image, points and reference layers are offered, and that
        receives the result as a new layer.
    """

    title = "Colorize"

    def __init__(self, viewer: napari.viewer.Viewer):
        self._viewer = viewer
        self._image = create_widget(annotation="napari.layers.Image", label="image")
        self._model = ModelChoice("model", "add weights")
        self._about = Label(value="")
        self._device = ComboBox(label="device", choices=available_devices(), value="auto")
        self._intensity = ComboBox(label="intensity", choices=INTENSITIES, value="auto")
        self._tile_size = SpinBox(label="tile size", value=512, min=64, max=8192, step=64)
        self._precision = ComboBox(label="precision", choices=PRECISIONS, value="auto")
        self._render_scale = ComboBox(
            label="render scale", choices=[("full", 1), ("1/2", 2), ("1/4", 4)], value=1
        )
        self._scope = RadioButtons(label="process", choices=SCOPES, value=CURRENT_SLICE)
        # guidance, for a guided model: hints recolour the current slice as they are edited
        nullable = {"nullable": True}
        self._hints = create_widget(
            annotation="napari.layers.Points", label="hints", options=nullable
        )
        self._hint_reach = SpinBox(label="hint reach", value=0, min=0, max=512)
        self._reference = create_widget(
            annotation="napari.layers.Image", label="reference", options=nullable
        )
        self._samples = SpinBox(label="samples (0: off)", value=0, min=0, max=32)
        self._problem = Label(value="")
        super().__init__(
            widgets=[
                self._image,
                self._model.combo,
                self._model.picker,
                self._about,
                self._intensity,
                self._device,
                self._tile_size,
                self._precision,
                self._render_scale,
                self._scope,
                self._hints,
                self._hint_reach,
                self._reference,
                self._samples,
                self._problem,
            ]
        )
        self._fields = {
            "model": self._model.combo,
            "intensity": self._intensity,
            "device": self._device,
            "tile_size": self._tile_size,
            "precision": self._precision,
            "render_scale": self._render_scale,
            "scope": self._scope,
            "hint_reach": self._hint_reach,
            "samples": self._samples,
        }
        self._watched = None
        self._rerun = False
        self._arch: dict | None = None
        self.show_settings(load_settings(settings_path(), self._device.choices, self._model.names))
        self._describe_model()
        self._model.combo.changed.connect(self._describe_model)
        self._samples.changed.connect(self._skip_one_sample)
        for field in self._fields.values():
            field.changed.connect(self._persist)
        for field in (self._image, self._hints, self._reference, self._scope, self._samples):
            field.changed.connect(self._validate)
        self._render_scale.changed.connect(self._validate)
        self._hints.changed.connect(self._watch_hints)
        self._hint_reach.changed.connect(self._reach_changed)
        self._validate()

    def reset_choices(self, *_):
        self._image.reset_choices()
        self._hints.reset_choices()
        self._reference.reset_choices()

    @property
    def model(self) -> str:
        """The model the dropdown shows: a shipped name or a weights file's path."""
        return self._model.value

    # -- settings: one typed record, kept between sessions -----------------------------

    @property
    def settings(self) -> ColorizeSettings:
        """The kept settings as the widget shows them now."""
        return ColorizeSettings(**{key: field.value for key, field in self._fields.items()})

    def show_settings(self, settings: ColorizeSettings) -> None:
        """Show ``settings`` in the fields (a weights path as a choice of the dropdown)."""
        self._model.select(settings.model)
        for key, field in self._fields.items():
            if key != "model":
                field.value = getattr(settings, key)
        self._last_samples = settings.samples

    def _persist(self, *_) -> None:
        save_settings(settings_path(), self.settings)

    def _skip_one_sample(self, value: int) -> None:
        """One sample is no spread: the field steps from 0 (off) straight to 2 and back."""
        if value == 1:
            self._samples.value = 2 if self._last_samples == 0 else 0
            return
        self._last_samples = value

    def _describe_model(self, *_) -> None:
        from .models.registry import WeightsError, read_metadata, resolve

        self._arch = None
        try:
            meta = read_metadata(resolve(self.model))
        except (WeightsError, OSError) as err:
            self._about.value = f"cannot use: {err}"
        else:
            self._arch, prov = meta["generator"], meta.get("provenance", {})
            cameras = ", cameras read as light" if self._arch.get("linear_cameras") else ""
            self._about.value = (
                f"{self._arch['mode']}, widths {self._arch['widths']}, "
                f"{prov.get('steps', '?')} steps{cameras}"
            )
        self._validate()

    # -- checks, as the fields change --------------------------------------------------

    def problems(self) -> dict:
        """What keeps the current settings from running: ``{field: why}``."""
        found = {}
        layer = self._image.value
        if layer is not None and layer.rgb:
            found[self._image] = f"{layer.name!r} is already RGB: choose a grayscale layer"
        if self._arch is None:
            found[self._model.combo] = self._about.value
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
        if self._scope.value == LIVE:
            for field in (self._hints, self._samples):
                if guidance[field]:
                    found[field] = (
                        f"live mode colourises planes as they are viewed: {field.label} "
                        "need 'current slice' or 'whole layer'"
                    )
        reference = self._reference.value
        if reference is not None and not reference.rgb:
            found[self._reference] = f"{reference.name!r} is not a colour (RGB) layer"
        if guidance[self._hints] and self._render_scale.value != 1:
            found[self._render_scale] = "hints are applied at full resolution: choose full"
        return found

    def _validate(self, *_) -> None:
        """Mark the fields that cannot run as they are, and say why; Colorize waits."""
        found = self.problems()
        checked = (self._image, self._model.combo, self._hints, self._reference)
        for field in (*checked, self._samples, self._render_scale):
            field.native.setStyleSheet(INVALID if found.get(field) else "")
            field.tooltip = found.get(field)
        self._problem.value = next(iter(found.values()), "")
        self._run.enabled = not found or self.state is State.RUNNING

    # -- hints: editing them recolours the current slice ---------------------------------

    def _watch_hints(self, points) -> None:
        if self._watched is not None:
            self._watched.events.data.disconnect(self._hints_edited)
            self._watched.events.face_color.disconnect(self._hints_edited)
        self._watched = points
        if points is not None:
            points.events.data.connect(self._hints_edited)
            points.events.face_color.connect(self._hints_edited)
            if "guided" in self._model.names:
                self._model.select("guided")

    def _reach_changed(self, *_) -> None:
        points = self._hints.value
        if points is not None and len(points.data):
            self._hints_edited()

    def _hints_edited(self, *_) -> None:
        if self._scope.value != CURRENT_SLICE or self._image.value is None:
            return
        if self.state is State.RUNNING:
            self._rerun = True  # once the run in flight ends, unless it is cancelled
        else:
            self.start(recolour=True)

    # -- run: a snapshot at the press, everything else in the worker ---------------------

    def start(self, recolour: bool = False) -> None:
        """Read the fields once into a :class:`~._jobs.ColorizeRun` and run it in a worker."""
        from napari.utils.notifications import show_error

        from ._jobs import colorize_job

        layer = self._image.value
        found = self.problems()
        if layer is None or found:
            self.state = State.FAILED
            why = next(iter(found.values()), "choose a grayscale image layer")
            show_error(f"Colorize: {why}")
            return
        try:
            run = self.snapshot(layer, recolour)
        except ValueError as err:  # a setting the library refuses, named
            self.fail(err)
            return
        self.launch(
            colorize_job,
            run,
            f"Colorizing {layer.name}",
            self._on_progress,
            lambda result: self._add(run, result),
        )

    def snapshot(self, layer, recolour: bool = False) -> ColorizeRun:
        """Every value a run of ``layer`` uses, as the widget shows it now; reads no pixels."""
        from ._jobs import ColorizeRun
        from .engine.settings import TileSettings

        levels = list(layer.data) if layer.multiscale else [layer.data]
        shapes = [tuple(level.shape) for level in levels]
        scale, translate, scope = tuple(layer.scale), tuple(layer.translate), self._scope.value
        shown = layer.data_level if layer.multiscale else 0
        plane = choose_plane(shapes, scale, translate, self._viewer.dims.point, scope, shown)
        hints, points = None, self._hints.value
        if points is not None and len(points.data):
            world = [points.data_to_world(p) for p in points.data]
            shape = shapes[plane.level]
            hints = tuple(hints_on(plane, shape, scale, translate, world, points.face_color))
        placed = placement(plane, scale, translate)
        for key in ("axis_labels", "units"):  # napari >= 0.5.1
            if getattr(layer, key, None) is not None:
                placed[key] = tuple(str(v) for v in getattr(layer, key))
        what = describe(plane, scope, placed.get("axis_labels", ()), layer.multiscale)
        reference = self._reference.value
        if reference is not None:
            reference = reference.data[0] if reference.multiscale else reference.data
        return ColorizeRun(
            name=f"{layer.name} [{Path(self.model).stem}, {what}]",
            image=levels[plane.level],
            statistics=levels[-1],  # a pyramid's coarsest level, or the whole layer
            plane=plane,
            scope=scope,
            model=self.model,
            normalize=self._intensity.value,
            tiles=TileSettings(
                tile_size=self._tile_size.value,
                device=self._device.value,
                precision=self._precision.value,
                render_scale=self._render_scale.value,
            ),
            hints=hints or None,
            hint_reach=self._hint_reach.value,
            reference=reference,
            samples=self._samples.value or None,
            placed=placed,
            recolour=recolour,
        )

    def cancel(self) -> None:
        """Stop the run in flight; a hint edit waiting for it is dropped too."""
        self._rerun = False
        super().cancel()

    def _on_progress(self, step: Progress) -> None:
        self.show_progress(step.stage, step.done, step.total)

    def _add(self, run: ColorizeRun, result: ColorizeResult) -> None:
        """Add the result as ``run`` placed it (a hint edit recolours its layer in place)."""
        viewer, meta = self._viewer, {"metadata": {RESULT_KEY: {"model": run.model}}}
        colour = {"rgb": True, "contrast_limits": (0, 1), **meta}
        if run.scope == LIVE:
            self._add_live(run, result.rgb, colour)
        elif result.uncertainty is not None:
            stacked = {key: (_LEADING[key], *value) for key, value in run.placed.items()}
            viewer.add_image(result.rgb, name=f"{run.name} samples", **colour, **stacked)
            viewer.add_image(
                result.uncertainty,
                name=f"{run.name} uncertainty",
                colormap="magma",
                **meta,
                **run.placed,
            )
        elif run.recolour and run.name in viewer.layers:
            viewer.layers[run.name].data = result.rgb
        else:
            viewer.add_image(result.rgb, name=run.name, **colour, **run.placed)
        self._status.value = f"added {run.name}"

    def _add_live(self, run: ColorizeRun, rgb, colour: dict) -> None:
        from ._live import LivePlanes

        holder = []
        planes = LivePlanes(rgb, lambda: holder[0].refresh(), self._live_failed)
        colour = {**colour, "contrast_limits": (0, 255)}  # its planes are 8-bit
        holder.append(self._viewer.add_image(planes, name=run.name, **colour, **run.placed))

        def removed(event) -> None:
            if event.value is holder[0]:
                planes.close()
                self._viewer.layers.events.removed.disconnect(removed)

        self._viewer.layers.events.removed.connect(removed)

    def _live_failed(self, err: BaseException) -> None:
        from napari.utils.notifications import show_error

        log.error("live colourisation failed", exc_info=(type(err), err, err.__traceback__))
        show_error(f"Colorize (live): {err}")

    def _finished(self) -> None:
        super()._finished()
        if self._rerun:
            self._rerun = False
            self.start(recolour=True)


# what a stack of samples puts before the result's own axes
_LEADING = {"scale": 1.0, "translate": 0.0, "axis_labels": "sample", "units": "pixel"}
