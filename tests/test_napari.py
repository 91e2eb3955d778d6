"""The plugin in a real napari viewer (Xvfb in CI): manifest, samples, Colorize widget."""

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import skimage.io

napari = pytest.importorskip("napari")

from napari_colorgan._finetune_widget import FinetuneWidget  # noqa: E402
from napari_colorgan._widget import ColorizeWidget, State  # noqa: E402

HE_RGB = Path(__file__).resolve().parent.parent / "sample_data" / "he_crop_rgb.png"


@pytest.fixture(autouse=True)
def widget_settings(tmp_path, monkeypatch):
    """Each test starts from the defaults and keeps its widget settings to itself."""
    path = tmp_path / "colorize.json"
    monkeypatch.setenv("NAPARI_COLORGAN_SETTINGS", str(path))
    return path


def test_manifest_is_valid():
    import subprocess
    import sys

    from npe2 import PluginManifest

    check = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-colorgan"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and "valid" in check.stdout + check.stderr
    manifest = PluginManifest.from_distribution("napari-colorgan")
    manifest.validate_imports()
    assert {w.display_name for w in manifest.contributions.widgets} == {"Colorize", "Fine-tune"}


@pytest.mark.parametrize("key, ndim", [("he_skin", 2), ("hubble", 2), ("nuclei3d", 3)])
def test_samples_open(make_napari_viewer, key, ndim):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-colorgan", key)
    assert viewer.layers[-1].ndim == ndim


def _run(widget, qtbot, timeout=60_000):
    widget.start()
    qtbot.waitUntil(lambda: widget.state is not State.RUNNING, timeout=timeout)


def test_colorize_2d_uint8_keeps_scale(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    data = skimage.data.camera()[:200, :240]
    layer = viewer.add_image(data, name="cam", scale=(0.5, 0.25), translate=(10, 20))
    widget = ColorizeWidget(viewer)
    widget._image.value = layer
    _run(widget, qtbot)
    assert widget.state is State.DONE
    out = viewer.layers["cam [general, whole]"]
    assert out.rgb and out.data.shape == (200, 240, 3)
    np.testing.assert_allclose(out.scale, (0.5, 0.25))
    np.testing.assert_allclose(out.translate, (10, 20))
    np.testing.assert_array_equal(layer.data, data)



def test_a_camera_layer_read_as_linear_light(make_napari_viewer, qtbot, widget_settings):
    """The intensity field reaches the run: the layer colours as the API's normalize="linear"."""
    import json

    import napari_colorgan as ncg
    from napari_colorgan.grays import make_gray

    counts = make_gray(skimage.io.imread(HE_RGB)[:160, :192], "linear12")
    viewer = make_napari_viewer()
    layer = viewer.add_image(counts, name="cam")
    widget = ColorizeWidget(viewer)
    widget._image.value, widget._device.value = layer, "cpu"
    widget._intensity.value = "linear"
    assert json.loads(widget_settings.read_text())["intensity"] == "linear"
    _run(widget, qtbot)
    out = np.asarray(viewer.layers["cam [general, whole]"].data, dtype=np.float64)
    out = out / 255 if out.max() > 1 else out
    linear = ncg.colorize(counts, "general", normalize="linear", device="cpu")
    stretched = ncg.colorize(counts, "general", device="cpu")
    np.testing.assert_allclose(out, linear, atol=1 / 255 + 1e-6)
    assert np.abs(out - stretched).max() > 0.1

def test_current_slice_of_uint16_stack(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    stack = (skimage.data.moon()[:96, :128].astype(np.uint16) * 200)[None].repeat(4, 0)
    stack[2] //= 3  # a darker slice: global normalisation must keep it darker
    layer = viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5))
    viewer.dims.set_point(0, 4.0)  # world z = 4 -> slice 2
    widget = ColorizeWidget(viewer)
    widget._image.value = layer
    _run(widget, qtbot)
    out = viewer.layers["stack [general, slice 2]"]
    assert out.data.shape == (1, 96, 128, 3)  # one plane, placed at its own z
    np.testing.assert_allclose(out.scale, (2.0, 0.5, 0.5))
    np.testing.assert_allclose(out.translate, (4.0, 0.0, 0.0))
    assert out.data.mean() < 0.5 * stack[0].mean() / 65535 * 255  # dark slice stays dark
    assert not out._slice.empty  # shown at its plane...
    viewer.dims.set_point(0, 0.0)
    assert out._slice.empty  # ...and not at the others


def test_whole_dask_stack(make_napari_viewer, qtbot):
    da = pytest.importorskip("dask.array")
    viewer = make_napari_viewer()
    stack = da.from_array(np.stack([skimage.data.camera()[::4, ::4]] * 3), chunks=(1, 64, 64))
    layer = viewer.add_image(stack, name="lazy")
    widget = ColorizeWidget(viewer)
    widget._image.value = layer
    widget._scope.value = "whole layer"
    _run(widget, qtbot)
    assert viewer.layers["lazy [general, whole]"].data.shape == (3, 128, 128, 3)


def test_cancel_leaves_no_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.stack([skimage.data.camera()] * 6), name="big")
    widget = ColorizeWidget(viewer)
    widget._image.value = layer
    widget._scope.value = "whole layer"
    widget._tile_size.value = 64
    widget.start()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.state is not State.RUNNING, timeout=60_000)
    assert widget.state is State.CANCELLED
    assert [lay.name for lay in viewer.layers] == ["big"]
    assert widget._run.text == "Colorize"  # ready for the next run


def test_rgb_layer_gives_a_clear_error(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(skimage.data.astronaut(), name="rgb")
    widget = ColorizeWidget(viewer)
    widget._image.value = layer
    widget.start()
    assert widget.state is State.FAILED and len(viewer.layers) == 1


def test_live_mode_computes_only_the_viewed_plane(make_napari_viewer, qtbot, counting_array):
    """Planes are colourised off the event loop as they are viewed: black until ready."""
    import dask.array as da

    viewer = make_napari_viewer()
    source = counting_array(np.stack([skimage.data.camera()[::4, ::4]] * 5))
    layer = viewer.add_image(
        da.from_array(source, chunks=(1, 128, 128)), name="live", scale=(3.0, 1.0, 1.0)
    )
    widget = ColorizeWidget(viewer)
    widget._image.value = layer
    widget._scope.value = "live"
    _run(widget, qtbot)
    out = viewer.layers["live [general, live]"]
    assert out.data.shape == (5, 128, 128, 3) and out.metadata["napari-colorgan"]
    np.testing.assert_allclose(out.scale, (3, 1, 1))
    qtbot.waitUntil(lambda: out.data.is_ready((2,)), timeout=60_000)  # napari opened on 2
    layer.visible = False
    source.planes_read.clear()
    viewer.dims.set_point(0, 12.0)  # plane 4 in view: asked for, shown black at once
    assert np.asarray(out._slice.image.view).max() == 0
    qtbot.waitUntil(lambda: out.data.is_ready((4,)), timeout=60_000)
    qtbot.waitUntil(lambda: np.asarray(out._slice.image.view).std() > 0, timeout=10_000)
    assert source.planes_read == {4}


def test_live_mode_refuses_hints_and_samples(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(skimage.data.camera()[:64, :64], name="cam")
    points = viewer.add_points([[10, 10]], name="hints")
    widget = ColorizeWidget(viewer)
    widget.reset_choices()
    widget._image.value, widget._hints.value = image, points
    widget._scope.value = "live"
    assert "live mode" in widget._hints.tooltip and not widget._run.enabled
    widget._hints.value = None
    widget._samples.value = 2
    assert "live mode" in widget._samples.tooltip and not widget._run.enabled


def test_weights_file_is_described(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    widget = ColorizeWidget(viewer)
    assert "colorize" in widget._about.value and "steps" in widget._about.value
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not weights")
    widget._model.picker.value = junk  # a picked file becomes the dropdown's choice
    assert widget.model == str(junk.resolve()) and widget._model.combo.value == widget.model
    assert "cannot use" in widget._about.value
    widget._model.combo.value = "histology"  # its weights read a camera's counts as light
    assert "cameras read as light" in widget._about.value
    widget._model.combo.value = "general"
    assert "steps" in widget._about.value and "cameras" not in widget._about.value


def test_reader_declines_other_files(tmp_path):
    from napari_colorgan._reader import get_reader

    assert get_reader(str(tmp_path / "image.png")) is None
    assert get_reader(str(tmp_path / "missing.zarr")) is None


@pytest.mark.parametrize("suffix", [".ome.zarr", ".tif"])
def test_writer_round_trips_through_the_reader(make_napari_viewer, tmp_path, suffix):
    viewer = make_napari_viewer()
    rgb = skimage.data.astronaut()[:300, :280].astype(np.float32) / 255
    viewer.add_image(rgb, name="colour", rgb=True, scale=(0.5, 0.25))
    path = str(tmp_path / f"colour{suffix}")
    viewer.layers.save(path, plugin="napari-colorgan")
    plugin = "napari-colorgan" if suffix == ".ome.zarr" else None
    layer = viewer.open(path, plugin=plugin)[0]
    assert layer.rgb
    data = np.asarray(layer.data[0] if layer.multiscale else layer.data, dtype=np.float32)
    data = data / 255 if data.max() > 1 else data
    np.testing.assert_allclose(data, rgb, atol=1 / 255 + 1e-6)
    if suffix == ".ome.zarr":
        np.testing.assert_allclose(layer.scale, (0.5, 0.25))


def test_colorized_ome_zarr_opens_as_rgb(make_napari_viewer, tmp_path, random_generator):
    from napari_colorgan.engine.pipeline import colorize_to_file

    src = str(Path(__file__).resolve().parent.parent / "sample_data" / "nuclei3d.tif")
    out = colorize_to_file(src, tmp_path / "n.ome.zarr", random_generator)
    viewer = make_napari_viewer()
    layer = viewer.open(str(out), plugin="napari-colorgan")[0]
    assert layer.rgb and layer.data.shape == (32, 128, 128, 3)
    np.testing.assert_allclose(layer.scale, (0.29, 0.26, 0.26))


def test_multiscale_preview_uses_the_displayed_level(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    full = skimage.data.camera()
    layer = viewer.add_image([full, full[::2, ::2], full[::4, ::4]], name="pyr", scale=(2, 2))
    widget = ColorizeWidget(viewer)
    widget._image.value = layer
    widget._render_scale.value = 2
    _run(widget, qtbot)
    out = viewer.layers[f"pyr [general, level {layer.data_level} preview]"]
    level = layer.data_level
    factor = layer.downsample_factors[level][-1]
    assert out.data.shape == (*layer.data[level].shape, 3)
    np.testing.assert_allclose(out.scale, (2 * factor, 2 * factor))


def _finetune_widget(viewer, tmp_path, steps):
    import imageio.v3 as iio

    layer = viewer.add_image(iio.imread(HE_RGB), name="H&E truth", rgb=True)
    viewer.add_image(skimage.data.camera(), name="gray")  # not offered: not RGB
    widget = FinetuneWidget(viewer)
    widget.reset_choices()
    assert widget._layers.choices == (layer,)
    widget._layers.value = [layer]
    widget._steps.value, widget._patch.value, widget._device.value = steps, 64, "cpu"
    widget._out.value = tmp_path / "he.safetensors"
    return widget


def test_finetune_widget_trains_and_saves_a_model(make_napari_viewer, qtbot, tmp_path):
    import napari_colorgan as ncg

    widget = _finetune_widget(make_napari_viewer(), tmp_path, steps=4)
    widget.start()
    assert widget._run.text == "Cancel"
    qtbot.waitUntil(lambda: widget.state is not State.RUNNING, timeout=120_000)
    assert widget.state is State.DONE, widget._status.value
    assert [step for step, _ in widget.plot.points] == [1, 2, 3, 4]
    widget.plot.grab()  # the plot paints with data
    model = ncg.load_model(tmp_path / "he.safetensors", device="cpu")
    assert model.provenance["data"] == ["H&E truth"] and model.provenance["steps"] == 4
    assert widget._run.text == "Fine-tune"
    shown = widget._status.native.text()  # the whole line, wrapped, not its first letter
    assert shown == f"saved {tmp_path / 'he.safetensors'}" and widget._status.native.wordWrap()
    assert Path(widget._out.value) != tmp_path / "he.safetensors"  # the next run: a new file


def test_finetune_widget_cancel_writes_nothing(make_napari_viewer, qtbot, tmp_path):
    widget = _finetune_widget(make_napari_viewer(), tmp_path, steps=2000)
    widget.start()
    qtbot.waitUntil(lambda: len(widget.plot.points) >= 1, timeout=60_000)
    widget.cancel()
    qtbot.waitUntil(lambda: widget.state is not State.RUNNING, timeout=60_000)
    assert widget.state is State.CANCELLED and len(widget.plot.points) < 2000
    assert not (tmp_path / "he.safetensors").exists()
    assert widget._run.text == "Fine-tune"


def test_finetune_widget_needs_a_colour_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(skimage.data.camera(), name="gray")
    widget = FinetuneWidget(viewer)
    widget.start()
    assert widget.state is State.FAILED


def test_editing_a_hint_recolours_the_view(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    truth = skimage.data.immunohistochemistry()[256:384, :128]
    import napari_colorgan as ncg

    image = viewer.add_image(ncg.to_gray(truth), name="ihc")
    points = viewer.add_points([[40, 40]], face_color=[[0.6, 0.4, 0.2, 1]], name="hints")
    widget = ColorizeWidget(viewer)
    widget.reset_choices()
    widget._image.value, widget._device.value = image, "cpu"
    widget._hints.value = points
    assert widget._model.value == "guided"  # picked for hints
    widget.start()
    qtbot.waitUntil(lambda: widget.state is State.DONE, timeout=60_000)
    before = viewer.layers["ihc [guided, whole]"].data.copy()

    def recoloured_from(old):
        qtbot.waitUntil(
            lambda: (
                widget.state is State.DONE
                and not widget._rerun
                and not np.array_equal(viewer.layers["ihc [guided, whole]"].data, old)
            ),
            timeout=60_000,
        )
        return viewer.layers["ihc [guided, whole]"].data

    points.face_color = [[0.1, 0.9, 0.1, 1]]  # the user recolours the hint: green
    after = recoloured_from(before)
    assert [lay.name for lay in viewer.layers] == ["ihc", "hints", "ihc [guided, whole]"]
    assert after[40, 40, 1] > before[40, 40, 1]  # greener where the hint is
    near = np.s_[30:51, 30:51, 1]
    widget._hint_reach.value = 0  # the network alone: the hint's surroundings follow less
    alone = recoloured_from(after)
    assert alone[near].mean() < after[near].mean() - 0.02


def test_samples_add_a_stack_and_an_uncertainty_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = viewer.add_image(
        skimage.data.camera()[:96, :96], name="cam", scale=(2.0, 2.0), units=("um", "um")
    )
    widget = ColorizeWidget(viewer)
    widget._image.value, widget._device.value = image, "cpu"
    widget._model.select("guided")
    widget._samples.value = 3
    widget.start()
    qtbot.waitUntil(lambda: widget.state is not State.RUNNING, timeout=60_000)
    samples = viewer.layers["cam [guided, whole] samples"]
    spread = viewer.layers["cam [guided, whole] uncertainty"]
    assert samples.data.shape == (3, 96, 96, 3) and tuple(samples.scale) == (1.0, 2.0, 2.0)
    assert spread.data.shape == (96, 96) and spread.colormap.name == "magma"
    assert [str(u) for u in samples.units] == ["pixel", "micrometer", "micrometer"]
    assert viewer.layers.extent.units is not None  # consistent: no "inconsistent units" toast


@pytest.mark.parametrize(
    "key, scale, unit",
    [
        ("he_skin", (0.499, 0.499), "micrometer"),
        ("hubble", (1.0, 1.0), "pixel"),
        ("nuclei3d", (0.29, 0.26, 0.26), "micrometer"),
    ],
)
def test_sample_layers_state_scale_and_units(make_napari_viewer, key, scale, unit):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-colorgan", key)
    layer = viewer.layers[-1]
    np.testing.assert_allclose(layer.scale, scale)
    assert [str(u) for u in layer.units] == [unit] * len(scale)


def test_writer_keeps_units_and_the_reader_reads_translation(make_napari_viewer, tmp_path):
    import zarr

    viewer = make_napari_viewer()
    rgb = skimage.data.astronaut()[:128, :96].astype(np.float32) / 255
    viewer.add_image(rgb, name="c", rgb=True, scale=(0.5, 0.25), units=("micrometer",) * 2)
    path = str(tmp_path / "c.ome.zarr")
    viewer.layers.save(path, plugin="napari-colorgan")
    group = zarr.open_group(path, mode="r+")
    ome = group.attrs["ome"]
    assert [a.get("unit") for a in ome["multiscales"][0]["axes"]] == [
        None,
        "micrometer",
        "micrometer",
    ]
    # another NGFF writer may add a translation: the reader places the layer there
    ome["multiscales"][0]["datasets"][0]["coordinateTransformations"].append(
        {"type": "translation", "translation": [0.0, 10.0, 20.0]}
    )
    group.attrs["ome"] = ome
    layer = viewer.open(path, plugin="napari-colorgan")[0]
    assert layer.rgb and [str(u) for u in layer.units] == ["micrometer"] * 2
    np.testing.assert_allclose(layer.translate, (10.0, 20.0))
    np.testing.assert_allclose(layer.scale, (0.5, 0.25))


def test_ome_tiff_stack_to_ome_zarr_reopens_as_rgb_with_units(
    make_napari_viewer, tmp_path, monkeypatch
):
    """The issue's check: an OME-TIFF with µm sizes, colourised, reopened in napari."""
    import tifffile
    from napari.settings import get_settings

    import napari_colorgan as ncg

    stack = tifffile.imread(Path(__file__).resolve().parent.parent / "sample_data" / "nuclei3d.tif")
    sizes = {"PhysicalSizeX": 0.26, "PhysicalSizeY": 0.26, "PhysicalSizeZ": 0.29}
    src = tmp_path / "nuclei.ome.tif"
    tifffile.imwrite(src, stack[:6], metadata={"axes": "ZYX", **sizes})
    out = ncg.colorize_to_file(src, tmp_path / "nuclei.ome.zarr", "general", device="cpu")
    viewer = make_napari_viewer()
    layer = viewer.open(str(out), plugin="napari-colorgan")[0]
    assert layer.rgb and layer.data.shape == (6, 128, 128, 3)
    np.testing.assert_allclose(layer.scale, (0.29, 0.26, 0.26))
    assert [str(u) for u in layer.units] == ["micrometer"] * 3
    # with the reader preferred for *.ome.zarr folders (napari matches a folder with its
    # trailing separator), napari picks it when no plugin is named
    settings = get_settings().plugins
    preferred = {**settings.extension2reader, "*.ome.zarr/": "napari-colorgan"}
    monkeypatch.setattr(settings, "extension2reader", preferred)
    again = viewer.open(str(out), plugin=None)[0]
    assert again.rgb and [str(u) for u in again.units] == ["micrometer"] * 3


def test_settings_persist_between_widgets(make_napari_viewer, widget_settings):
    import json

    viewer = make_napari_viewer()
    widget = ColorizeWidget(viewer)
    widget._model.select("histology")
    widget._tile_size.value = 256
    widget._scope.value = "whole layer"
    saved = json.loads(widget_settings.read_text())
    assert saved["model"] == "histology" and saved["tile_size"] == 256
    again = ColorizeWidget(viewer)
    assert again._model.value == "histology" and again._tile_size.value == 256
    assert again._scope.value == "whole layer"
    widget_settings.write_text(json.dumps({"model": "no-such-model", "samples": 3}))
    third = ColorizeWidget(viewer)  # a stale choice is skipped, the rest restored
    assert third._model.value == "general" and third._samples.value == 3


def test_fields_are_checked_as_they_change(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    rgb = viewer.add_image(skimage.data.astronaut()[:64, :64], name="rgb")
    gray = viewer.add_image(skimage.data.camera()[:64, :64], name="gray")
    widget = ColorizeWidget(viewer)
    widget.reset_choices()
    widget._image.value = gray
    assert widget.problems() == {} and widget._run.enabled
    widget._samples.value = 2  # samples with the general model
    assert "needs a guided model" in widget._samples.tooltip and not widget._run.enabled
    assert "needs a guided model" in widget._problem.value
    widget._model.select("guided")
    assert widget._samples.tooltip is None and widget._run.enabled
    widget._reference.value = gray
    assert "not a colour" in widget._reference.tooltip
    widget._reference.value = None
    widget._image.value = rgb
    assert "already RGB" in widget._image.tooltip and not widget._run.enabled
    widget._image.value = gray
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not weights")
    widget._model.picker.value = junk
    assert "cannot use" in widget._model.combo.tooltip and not widget._run.enabled


def test_an_image_far_from_the_model_warns_once(make_napari_viewer, qtbot, monkeypatch):
    """napari turns the warning into a notification; it names the fine-tune remedy."""
    import tifffile

    from napari.utils.notifications import WarningNotification, notification_manager

    from napari_colorgan.models import domain
    from napari_colorgan.models.domain import DomainWarning

    monkeypatch.setattr(domain, "_warned", set())
    viewer = make_napari_viewer()
    nuclei = tifffile.imread(HE_RGB.parent / "nuclei3d.tif")
    layer = viewer.add_image(nuclei, name="nuclei")  # the current slice: z = 16, the middle
    widget = ColorizeWidget(viewer)
    widget._image.value, widget._device.value = layer, "cpu"
    widget._model.select("astronomy")  # fluorescence is far from its Hubble fields
    _run(widget, qtbot)  # the check runs in the worker; napari relays its warning
    assert widget.state is State.DONE  # a warning, not a refusal
    warned = [r for r in notification_manager.records if isinstance(r, WarningNotification)]
    warned = [r for r in warned if isinstance(r.warning, DomainWarning)]
    assert len(warned) == 1 and "Fine-tune" in str(warned[0].message)


class ReadsRecorded:
    """A large lazy-looking array whose reads are recorded with the thread that made them.

    Its pixels are the camera image tiled (cheap to make), so a 12 x 4096 x 4096 stack
    costs nothing until read.
    """

    def __init__(self, shape, dtype=np.uint16):
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self.reads: list[bool] = []  # True for a read on napari's main (event-loop) thread
        self._tile = skimage.data.camera().astype(self.dtype) * (1 if dtype == np.uint8 else 200)

    def __getitem__(self, key):
        import threading

        self.reads.append(threading.current_thread() is threading.main_thread())
        ys, xs = key[-2], key[-1]
        rows = np.arange(self.shape[-2])[ys] % 512
        cols = np.arange(self.shape[-1])[xs] % 512
        plane = self._tile[np.ix_(rows, cols)]
        lead = np.zeros(self.shape[:-2], bool)[key[:-2]]
        return np.broadcast_to(plane, (*lead.shape, *plane.shape)).copy()


def _lazy(source, chunk=1024):
    import dask.array as da

    chunks = (1,) * (source.ndim - 2) + (chunk, chunk)
    return da.from_array(source, chunks=chunks, asarray=False, inline_array=True)


@pytest.mark.parametrize("multiscale", [False, True])
@pytest.mark.parametrize("scope", ["current slice", "whole layer"])
def test_a_press_on_a_large_stack_leaves_the_event_loop_free(
    make_napari_viewer, qtbot, multiscale, scope
):
    """12 x 4096 x 4096: the press reads nothing, shows progress at once and returns fast;
    every read of the run is on the worker thread; Cancel stops it and adds nothing."""
    import time

    viewer = make_napari_viewer()
    full = ReadsRecorded((12, 4096, 4096))
    if multiscale:
        coarse = [ReadsRecorded((12, 4096 // f, 4096 // f)) for f in (2, 4)]
        layer = viewer.add_image([_lazy(full), *(_lazy(c, 512) for c in coarse)], name="big")
    else:
        layer = viewer.add_image(_lazy(full), name="big", contrast_limits=(0, 65535))
    sources = [full, *(coarse if multiscale else ())]
    for source in sources:
        source.reads.clear()  # napari's own reads for its view
    widget = ColorizeWidget(viewer)
    widget._image.value, widget._device.value, widget._tile_size.value = layer, "cpu", 256
    widget._scope.value = scope
    started = time.perf_counter()
    widget.start()
    pressed = time.perf_counter() - started
    assert widget.state is State.RUNNING and not widget._bar.native.isHidden()
    assert widget._status.value.endswith("starting")
    assert pressed < 2.0, f"the press took {pressed:.2f} s"  # generous: measured ~0.01 s
    assert not any(r for s in sources for r in s.reads)  # nothing read at the press
    qtbot.waitUntil(lambda: widget._status.value.startswith("tile"), timeout=120_000)
    widget.cancel()
    qtbot.waitUntil(lambda: widget.state is not State.RUNNING, timeout=60_000)
    assert widget.state is State.CANCELLED and [lay.name for lay in viewer.layers] == ["big"]
    assert sum(len(s.reads) for s in sources) > 0 and not any(r for s in sources for r in s.reads)
    if multiscale:  # the statistics come from the coarsest level, the pixels from the one read
        assert coarse[-1].reads


def test_values_are_read_once_at_the_press(make_napari_viewer, qtbot):
    """Changing samples or the model during a run changes nothing of that run."""
    viewer = make_napari_viewer()
    image = viewer.add_image(skimage.data.camera()[:96, :96], name="cam")
    widget = ColorizeWidget(viewer)
    widget._image.value, widget._device.value = image, "cpu"
    widget._model.select("guided")
    widget._samples.value = 2
    widget.start()
    widget._samples.value = 4
    widget._model.select("general")
    qtbot.waitUntil(lambda: widget.state is not State.RUNNING, timeout=60_000)
    assert widget.state is State.DONE
    assert viewer.layers["cam [guided, whole] samples"].data.shape == (2, 96, 96, 3)


def test_samples_never_offer_one(make_napari_viewer):
    widget = ColorizeWidget(make_napari_viewer())
    widget._samples.value = 1  # a step up from 0 (off)
    assert widget._samples.value == 2
    widget._samples.value = 1  # a step down from 2
    assert widget._samples.value == 0


def test_cancel_after_a_hint_edit_starts_no_run(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.tile(skimage.data.camera(), (2, 2)), name="cam")
    points = viewer.add_points([[40, 40]], face_color=[[0.6, 0.4, 0.2, 1]], name="hints")
    widget = ColorizeWidget(viewer)
    widget.reset_choices()
    widget._image.value, widget._device.value, widget._tile_size.value = image, "cpu", 128
    widget._hints.value = points
    widget.start()
    points.face_color = [[0.1, 0.9, 0.1, 1]]  # an edit while the run is in flight
    assert widget._rerun
    widget.cancel()
    qtbot.waitUntil(lambda: widget.state is not State.RUNNING, timeout=60_000)
    qtbot.wait(200)  # a rerun would start from the finish
    assert widget.state is State.CANCELLED and widget._run.text == "Colorize"
    assert [lay.name for lay in viewer.layers] == ["cam", "hints"]


def _errors():
    from napari.utils.notifications import NotificationSeverity, notification_manager

    return [r for r in notification_manager.records if r.severity == NotificationSeverity.ERROR]


def test_a_failing_read_is_one_notification_and_the_widget_idles(make_napari_viewer, qtbot):
    import dask
    import dask.array as da

    def unreadable():
        raise OSError("the store went away")

    viewer = make_napari_viewer()
    planes = [da.from_array(skimage.data.camera()[:64, :64].astype(np.uint16))] * 2
    planes += [da.from_delayed(dask.delayed(unreadable)(), (64, 64), np.uint16)]  # not shown
    layer = viewer.add_image(da.stack(planes), name="gone", contrast_limits=(0, 255))
    widget = ColorizeWidget(viewer)
    widget._image.value = layer
    before = len(_errors())
    _run(widget, qtbot)
    assert widget.state is State.FAILED and widget._run.text == "Colorize"
    assert widget._run.enabled and "the store went away" in widget._status.value
    assert len(_errors()) == before + 1


def test_a_failing_done_handler_does_not_leave_the_widget_running(
    make_napari_viewer, qtbot, monkeypatch
):
    viewer = make_napari_viewer()
    image = viewer.add_image(skimage.data.camera()[:64, :64], name="cam")
    widget = ColorizeWidget(viewer)
    widget._image.value = image

    def refuse(*args, **kwargs):
        raise ValueError("no room for another layer")

    monkeypatch.setattr(ColorizeWidget, "_add", refuse)
    before = len(_errors())
    _run(widget, qtbot)
    assert widget.state is State.FAILED and widget._run.text == "Colorize"
    assert len(_errors()) == before + 1


def test_a_persisted_weights_file_shows_as_the_selected_model(
    make_napari_viewer, qtbot, widget_settings, tmp_path
):
    import json
    import shutil

    from napari_colorgan.models.registry import resolve

    mine = tmp_path / "my-histology.safetensors"
    shutil.copy(resolve("histology"), mine)
    widget_settings.write_text(json.dumps({"model": str(mine), "tile_size": 128}))
    viewer = make_napari_viewer()
    image = viewer.add_image(skimage.data.camera()[:64, :64], name="cam")
    widget = ColorizeWidget(viewer)
    assert widget._model.combo.value == str(mine) == widget.model
    assert "my-histology.safetensors" in widget._model.combo.native.currentText()
    widget._image.value = image
    _run(widget, qtbot)
    assert "cam [my-histology, whole]" in viewer.layers
    widget._model.select("general")  # and the dropdown's choice is what runs
    assert json.loads(widget_settings.read_text())["model"] == "general"
    mine.unlink()
    assert ColorizeWidget(viewer).model == "general"  # a file gone is not restored


def _zoomed_out(viewer, layer, level):
    viewer.window._qt_window.resize(400, 400)
    viewer.camera.zoom = 0.02
    viewer.screenshot(canvas_only=True)
    assert layer.data_level == level


def test_2d_multiscale_slice_hints_and_result_follow_the_displayed_level(
    make_napari_viewer, qtbot
):
    viewer = make_napari_viewer()
    full = np.tile(skimage.data.camera(), (4, 4))
    levels = [full, full[::2, ::2], full[::4, ::4]]
    layer = viewer.add_image(levels, name="pyr", scale=(2, 2), translate=(10, 20))
    _zoomed_out(viewer, layer, 2)
    points = viewer.add_points([[10 + 2 * 400, 20 + 2 * 200]], name="hints")
    widget = ColorizeWidget(viewer)
    widget.reset_choices()
    widget._image.value, widget._hints.value, widget._device.value = layer, points, "cpu"
    run = widget.snapshot(layer)
    assert run.plane.level == 2 and run.image is layer.data[2]
    assert [coords for coords, _ in run.hints] == [(100, 50)]  # level-0 (400, 200) / 4
    _run(widget, qtbot)
    out = viewer.layers["pyr [guided, level 2 preview]"]
    assert out.data.shape == (512, 512, 3)
    np.testing.assert_allclose(out.scale, (8, 8))
    np.testing.assert_allclose(out.translate, (10, 20))
    assert out.metadata["napari-colorgan"]["model"] == "guided"


def test_3d_multiscale_slice_at_a_coarse_level(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    stack = np.stack([np.tile(skimage.data.camera(), (2, 2))] * 4)
    levels = [stack, stack[:, ::2, ::2], stack[:, ::4, ::4]]
    layer = viewer.add_image(levels, name="pyr", scale=(3, 1, 1))
    viewer.dims.set_point(0, 6.0)  # plane 2
    _zoomed_out(viewer, layer, 2)
    widget = ColorizeWidget(viewer)
    widget._image.value, widget._device.value = layer, "cpu"
    _run(widget, qtbot)
    out = viewer.layers["pyr [general, slice 2, level 2]"]
    assert out.data.shape == (1, 256, 256, 3)
    np.testing.assert_allclose(out.scale, (3, 4, 4))
    np.testing.assert_allclose(out.translate, (6, 0, 0))


def test_finetune_output_is_checked_before_training(make_napari_viewer, tmp_path):
    from napari_colorgan._finetune_widget import models_folder

    viewer = make_napari_viewer()
    widget = _finetune_widget(viewer, tmp_path, steps=4)
    fresh = FinetuneWidget(viewer)
    default = Path(fresh._out.value)
    assert default.is_absolute() and default.parent == models_folder()
    existing = tmp_path / "he.safetensors"
    existing.write_bytes(b"a model of last week")
    widget.start()
    assert widget.state is State.FAILED and "exists" in widget._status.value
    assert existing.read_bytes() == b"a model of last week"
    (tmp_path / "a-file").write_text("not a folder")
    widget._out.value = tmp_path / "a-file" / "he.safetensors"
    widget.start()
    assert widget.state is State.FAILED and "cannot write" in widget._status.value


def test_finetune_offers_colour_truth_only(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = viewer.add_image(skimage.data.camera()[:64, :64], name="gray")
    truth = viewer.add_image(skimage.data.astronaut()[:64, :64], name="truth", rgb=True)
    colorize = ColorizeWidget(viewer)
    colorize._image.value = image
    _run(colorize, qtbot)
    assert "gray [general, whole]" in viewer.layers  # our result: RGB, not truth
    widget = FinetuneWidget(viewer)
    widget.reset_choices()
    assert widget._layers.choices == (truth,)


def test_finetune_setup_error_is_one_notification(make_napari_viewer, qtbot, tmp_path):
    widget = _finetune_widget(make_napari_viewer(), tmp_path, steps=4)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not weights")
    widget._base.select(str(junk))
    before = len(_errors())
    _run(widget, qtbot)
    assert widget.state is State.FAILED and "junk.safetensors" in widget._status.value
    assert len(_errors()) == before + 1 and not (tmp_path / "he.safetensors").exists()
