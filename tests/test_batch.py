"""Folders and globs: every file once, finished ones skipped, bad files reported, not fatal."""

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.data
import tifffile
import zarr

import napari_colorgan as ncg

from napari_colorgan.batch import batch_inputs, colorize_batch, output_path
from napari_colorgan.io.zarr_sink import is_complete


@pytest.fixture
def slides(tmp_path):
    """A folder of real gray PNGs, one colour PNG, one broken file and a text file."""
    folder = tmp_path / "in"
    folder.mkdir()
    iio.imwrite(folder / "camera.png", skimage.data.camera()[::4, ::4])
    iio.imwrite(folder / "moon.png", skimage.data.moon()[::4, ::4])
    iio.imwrite(folder / "coins.png", skimage.data.coins()[::2, ::2])
    iio.imwrite(folder / "astronaut.png", skimage.data.astronaut()[::4, ::4])  # RGB: refused
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")
    out = tmp_path / "out"
    out.mkdir()
    return folder, out


def test_inputs_of_a_folder_and_a_glob(slides):
    folder, _ = slides
    names = [p.name for p in batch_inputs(folder)]
    assert names == ["astronaut.png", "broken.png", "camera.png", "coins.png", "moon.png"]
    assert [p.name for p in batch_inputs(f"{folder}/c*.png")] == ["camera.png", "coins.png"]
    with pytest.raises(ValueError, match="no readable images"):
        batch_inputs(f"{folder}/*.tif")
    with pytest.raises(ValueError, match="folder or a glob"):
        batch_inputs(folder / "camera.png")


def test_output_names_drop_the_image_suffixes(tmp_path):
    assert output_path(tmp_path / "a.ome.tif", tmp_path, ".ome.zarr").name == "a.ome.zarr"
    assert output_path(tmp_path / "f.fits.fz", tmp_path, ".tif").name == "f.tif"
    assert output_path(tmp_path / "clip.mp4", tmp_path, ".mp4").name == "clip.mp4"


def test_a_folder_of_pngs_with_bad_files(slides):
    folder, out = slides
    result = colorize_batch(folder, out, "general", device="cpu")
    assert not result.ok
    assert sorted(p.name for p in result.written) == [
        "camera.ome.zarr",
        "coins.ome.zarr",
        "moon.ome.zarr",
    ]
    failed = {p.name: why for p, why in result.failed}
    assert set(failed) == {"astronaut.png", "broken.png"}
    assert "RGB" in failed["astronaut.png"] and "cannot decode" in failed["broken.png"]
    assert "3 written, 0 already done, 2 failed" in result.summary()
    rgb = np.asarray(zarr.open_group(out / "moon.ome.zarr", mode="r")["0"])
    assert rgb.shape == (3, 128, 128) and rgb.std() > 0.01

    again = colorize_batch(folder, out, "general", device="cpu")
    assert again.written == [] and len(again.skipped) == 3 and len(again.failed) == 2


def test_an_unfinished_output_is_resumed(slides):
    folder, out = slides
    colorize_batch([folder / "moon.png"], out, "general", device="cpu")
    done = np.asarray(zarr.open_group(out / "moon.ome.zarr", mode="r")["0"])
    group = zarr.open_group(out / "moon.ome.zarr", mode="r+")
    group.attrs["colorgan"] = {**group.attrs["colorgan"], "complete": False}  # as if killed
    assert not is_complete(out / "moon.ome.zarr")
    result = colorize_batch([folder / "moon.png"], out, "general", device="cpu")
    assert [p.name for p in result.written] == ["moon.ome.zarr"] and result.ok
    assert is_complete(out / "moon.ome.zarr")
    np.testing.assert_array_equal(zarr.open_group(out / "moon.ome.zarr", mode="r")["0"], done)


def test_clashing_outputs_are_refused_before_any_work(tmp_path):
    iio.imwrite(tmp_path / "a.png", skimage.data.camera()[::8, ::8])
    iio.imwrite(tmp_path / "a.tif", skimage.data.camera()[::8, ::8])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match="same output: a.ome.zarr"):
        colorize_batch(tmp_path, out, "general", device="cpu")
    assert list(out.iterdir()) == []


def test_cli_folder_and_glob(slides, capsys):
    from napari_colorgan.cli import main

    folder, out = slides
    code = main(["colorize", str(folder), str(out / "all"), "--quiet", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1 and "3 written, 0 already done, 2 failed" in captured.err
    assert "FAILED" in captured.err and "broken.png" in captured.err
    args = ["colorize", f"{folder}/c*.png", str(out / "c"), "--suffix", ".png", "--quiet"]
    assert main(args) == 0
    made = sorted(p.name for p in (out / "c").iterdir() if not p.name.startswith("."))
    assert made == ["camera.png", "coins.png"]


@pytest.fixture
def tiffs(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    for name, image in (("camera", skimage.data.camera()), ("moon", skimage.data.moon())):
        tifffile.imwrite(folder / f"{name}.tif", image[::4, ::4])
    return folder


def test_outputs_that_are_their_own_inputs_are_refused_before_any_work(tiffs):
    before = {p.name: p.read_bytes() for p in tiffs.iterdir()}
    with pytest.raises(ValueError, match="would overwrite their own input"):
        colorize_batch(f"{tiffs}/*.tif", tiffs, "general", suffix=".tif", device="cpu")
    assert {p.name: p.read_bytes() for p in tiffs.iterdir()} == before


def test_a_rerun_with_another_model_or_replaced_input_is_made_again(tiffs, tmp_path):
    out = tmp_path / "out"
    first = colorize_batch(tiffs, out, "general", suffix=".tif", device="cpu")
    assert len(first.written) == 2 and first.ok
    again = colorize_batch(tiffs, out, "general", suffix=".tif", device="cpu")
    assert again.written == [] and len(again.skipped) == 2
    other = colorize_batch(tiffs, out, "histology", suffix=".tif", device="cpu")
    assert len(other.written) == 2 and other.skipped == []
    expected = ncg.colorize(skimage.data.moon()[::4, ::4], "histology")
    np.testing.assert_allclose(tifffile.imread(out / "moon.tif") / 255, expected, atol=1 / 255)
    tifffile.imwrite(tiffs / "moon.tif", skimage.data.coins()[::4, ::4])  # same name
    replaced = colorize_batch(tiffs, out, "histology", suffix=".tif", device="cpu")
    assert [p.name for p in replaced.written] == ["moon.tif"]
    assert [p.name for p in replaced.skipped] == ["camera.tif"]


def test_a_fault_of_ours_keeps_its_traceback_in_the_log(tiffs, tmp_path, monkeypatch, caplog):
    import logging

    import napari_colorgan.engine.pipeline as pipeline

    def broken(*args, **kwargs):
        return {}["frames"]  # a programming error, as a user would meet it

    monkeypatch.setattr(pipeline, "colorize_to_file", broken)
    with caplog.at_level(logging.DEBUG, logger="napari_colorgan"):
        result = colorize_batch(tiffs, tmp_path / "out", "general", suffix=".tif")
    assert len(result.failed) == 2 and "internal error KeyError" in result.failed[0][1]
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "broken" in caplog.text and "Traceback" in caplog.text
