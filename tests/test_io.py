"""Opening files lazily, streaming zarr/OME-Zarr output, and resuming a killed run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import skimage.data
import tifffile
import zarr

import napari_colorgan as ncg
from napari_colorgan.engine.pipeline import colorize_to_file
from napari_colorgan.io.readers import open_image
from napari_colorgan.io.zarr_sink import LEDGER, is_complete

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def test_tiff_opens_lazily_with_its_scale():
    image, scale = open_image(SAMPLES / "nuclei3d.tif")
    assert isinstance(image, da.Array) and image.shape == (32, 128, 128)
    assert scale == pytest.approx((0.29, 0.26, 0.26))
    np.testing.assert_array_equal(image[5].compute(), tifffile.imread(SAMPLES / "nuclei3d.tif")[5])


def test_pyramidal_tiff_level(tmp_path):
    moon = tifffile.imread(SAMPLES / "nuclei3d.tif")[0]
    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(moon, subifds=1, tile=(64, 64))
        tif.write(moon[::2, ::2], subfiletype=1, tile=(64, 64))
    assert open_image(path, level=1)[0].shape == (64, 64)
    with pytest.raises(ValueError, match="2 level"):
        open_image(path, level=2)


def test_ome_zarr_output_keeps_scale_and_axes(tmp_path, random_generator):
    out = colorize_to_file(SAMPLES / "nuclei3d.tif", tmp_path / "n.ome.zarr", random_generator)
    group = zarr.open_group(out, mode="r")
    meta = group.attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in meta["axes"]] == ["c", "z", "y", "x"]
    scale = meta["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == pytest.approx([1.0, 0.29, 0.26, 0.26])
    assert group["0"].shape == (3, 32, 128, 128)
    assert group["0"].dtype == np.uint16  # a 16-bit input keeps 16 bits by default
    assert group.attrs["colorgan"]["complete"] is True
    stack = tifffile.imread(SAMPLES / "nuclei3d.tif")
    expected = ncg.colorize(stack, random_generator)
    stored = np.moveaxis(group["0"][:], 0, -1) / 65535
    np.testing.assert_allclose(stored, expected, atol=1 / 255)


def test_pyramid_levels(tmp_path, random_generator):
    image = tifffile.imread(SAMPLES / "hubble_right_uint16.tif")[:, :400]
    out = colorize_to_file(image, tmp_path / "h.ome.zarr", random_generator, tile_size=256)
    group = zarr.open_group(out, mode="r")
    datasets = group.attrs["ome"]["multiscales"][0]["datasets"]
    assert [d["path"] for d in datasets] == ["0"]  # 400 px: no level of >= 256 px below
    out = colorize_to_file(np.tile(image, (2, 2)), tmp_path / "big.ome.zarr", random_generator)
    group = zarr.open_group(out, mode="r")
    assert group["0"].shape == (3, 1744, 800) and group["1"].shape == (3, 872, 400)
    assert "2" not in group  # 200 px would be below min_level_size


_CHILD = """
import sys, torch
from napari_colorgan.engine.pipeline import colorize_to_file
from napari_colorgan.models.generator import SIZES, Generator
torch.manual_seed(0)
net = Generator(SIZES["lite"]).eval()
import numpy as np, skimage.data
stack = np.stack([skimage.data.moon()[:256, :256]] * 12)
colorize_to_file(stack, sys.argv[1], net, normalize=(0, 255))
"""


def _run_child(dst, env):
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(dst)], env=env)


def test_killed_run_resumes_to_identical_bytes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "ref.zarr"
    assert _run_child(reference, env).wait(timeout=300) == 0

    target = tmp_path / "killed.zarr"
    child = _run_child(target, env)
    ledger = target / f"{LEDGER}-0"
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until some, not all, chunks are written
        if ledger.exists() and len(ledger.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not is_complete(target)
    with pytest.raises(ValueError, match="unfinished"):
        open_image(target)
    written = len(ledger.read_text().splitlines())
    assert 3 <= written < 12

    assert _run_child(target, env).wait(timeout=300) == 0
    assert is_complete(target) and not ledger.exists()
    files = sorted(p.relative_to(reference) for p in reference.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file())
    for name in files:
        assert (reference / name).read_bytes() == (target / name).read_bytes(), name


def test_pyramidal_ome_tiff_output(tmp_path, random_generator):
    image = tifffile.imread(SAMPLES / "hubble_right_uint16.tif")
    big = np.tile(image, (1, 2))  # 872 x 800: one pyramid level of >= 256 px
    out = colorize_to_file(big, tmp_path / "h.ome.tif", random_generator, dtype="uint16")
    with tifffile.TiffFile(out) as tif:
        page = tif.series[0].levels
        assert [lv.shape for lv in page] == [(872, 800, 3), (436, 400, 3)]
        assert tif.pages[0].is_tiled and tif.pages[0].dtype == np.uint16 and tif.is_ome
        full = page[0].asarray()
    expected = ncg.colorize(big, random_generator)
    np.testing.assert_allclose(full / 65535, expected, atol=1 / 255)
    assert not list(tmp_path.glob(".*"))  # no staging store or temporary file left


def test_tiff_stack_output_and_scale(tmp_path, random_generator):
    out = colorize_to_file(SAMPLES / "nuclei3d.tif", tmp_path / "n.ome.tif", random_generator)
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].shape == (32, 128, 128, 3)
        assert 'PhysicalSizeX="0.26' in tif.ome_metadata


def test_ome_tiff_physical_size_is_read(tmp_path):
    path = tmp_path / "stack.ome.tif"
    stack = tifffile.imread(SAMPLES / "nuclei3d.tif")[:4]
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.4, "PhysicalSizeZ": 2.0}
    tifffile.imwrite(path, stack, ome=True, metadata=meta)
    assert open_image(path)[1] == pytest.approx((2.0, 0.4, 0.5))


def test_jpeg_output(tmp_path, random_generator):
    import imageio.v3 as iio

    out = colorize_to_file(SAMPLES / "moon.png", tmp_path / "moon.jpg", random_generator)
    assert iio.imread(out).shape == (512, 512, 3)
    with pytest.raises(ValueError, match="JPEG holds 8-bit"):
        colorize_to_file(SAMPLES / "moon.png", tmp_path / "m.jpg", random_generator, dtype="uint16")


@pytest.mark.parametrize(
    "data, kwargs, message",
    [
        (
            np.zeros((3, 64, 64), np.uint8),
            {"photometric": "rgb", "planarconfig": "separate"},
            "RGB stored as planes",
        ),
        (
            np.zeros((2, 64, 64), np.uint16),
            {"ome": True, "metadata": {"axes": "CYX"}},
            "has 2 channels",
        ),
    ],
)
def test_colour_and_multichannel_tiffs_are_named(tmp_path, data, kwargs, message):
    path = tmp_path / "x.ome.tif"
    tifffile.imwrite(path, data, **kwargs)
    with pytest.raises(ValueError, match=message):
        open_image(path)


def test_ome_zarr_single_channel_is_gray_and_rgb_is_refused(tmp_path, random_generator):
    group = zarr.open_group(tmp_path / "tczyx.ome.zarr", mode="w")
    group.create_array("0", shape=(1, 1, 2, 64, 64), chunks=(1, 1, 1, 64, 64), dtype="u2")
    axes = [
        {"name": n, "type": t}
        for n, t in zip("tczyx", ["time", "channel", "space", "space", "space"])
    ]
    transform = [{"type": "scale", "scale": [1, 1, 2.0, 0.5, 0.5]}]
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": transform}]}
        ],
    }
    image, scale = open_image(tmp_path / "tczyx.ome.zarr")
    assert image.shape == (1, 2, 64, 64) and scale == (1, 2.0, 0.5, 0.5)
    colour = colorize_to_file(SAMPLES / "nuclei3d.tif", tmp_path / "c.ome.zarr", random_generator)
    with pytest.raises(ValueError, match="has 3 channels"):
        open_image(colour)


def _store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def test_uint8_input_gives_a_compact_uint8_ome_zarr(tmp_path):
    """A real 8-bit image: uint8 zstd chunks, the pyramid included within 4.5x the input."""
    from zarr.codecs import ZstdCodec

    from napari_colorgan._reader import read_zarr

    gray = np.rint(ncg.to_gray(skimage.data.retina()[:1024, :1024]) * 255).astype(np.uint8)
    source = zarr.open_array(
        tmp_path / "in.zarr", mode="w", shape=gray.shape, chunks=(512, 512), dtype="u1"
    )
    source[:] = gray
    out = colorize_to_file(source, tmp_path / "out.ome.zarr", "general")
    group = zarr.open_group(out, mode="r")
    assert [group[k].dtype for k in ("0", "1", "2")] == [np.uint8] * 3
    assert any(isinstance(c, ZstdCodec) for c in group["0"].compressors)
    assert [f.order for f in group["0"].filters] == [(1, 2, 0)]  # RGB interleaved in a chunk
    assert group.attrs["colorgan"]["dtype"] == "uint8"
    ratio = _store_bytes(out) / _store_bytes(tmp_path / "in.zarr")
    assert 3 < ratio <= 4.5  # three channels and a pyramid, compressed like the input
    expected = ncg.colorize(gray, "general")
    np.testing.assert_allclose(np.moveaxis(group["0"][:], 0, -1) / 255, expected, atol=1 / 255)
    ((levels, meta, kind),) = read_zarr(out)  # napari shows it as uint8 RGB
    assert kind == "image" and meta["rgb"] and levels[0].dtype == np.uint8


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_zarr_output_honours_dtype_and_reads_back_as_unit_floats(tmp_path, dtype):
    from napari_colorgan._reader import read_zarr

    moon = skimage.data.moon()[:256, :256]
    out = colorize_to_file(moon, tmp_path / "m.zarr", "general", dtype=dtype)
    stored = zarr.open_group(out, mode="r")["0"]
    assert stored.dtype == np.dtype(dtype) and stored.shape == (256, 256, 3)
    ((shown, meta, _),) = read_zarr(out)
    assert meta["rgb"] and shown.dtype == np.float32
    np.testing.assert_allclose(shown.compute(), ncg.colorize(moon, "general"), atol=1 / 255)


def test_a_chunk_is_in_the_ledger_only_once_it_is_stored(tmp_path, random_generator):
    """Stopped mid-run (writing overlaps compute): every chunk the ledger lists is on disk."""
    from napari_colorgan.engine.pipeline import iter_colorize_to_file
    from napari_colorgan.io.ledger import read_ledger

    stack = np.stack([skimage.data.moon()[:128, :128]] * 8)
    out = tmp_path / "s.zarr"
    steps = iter_colorize_to_file(stack, out, random_generator, normalize=(0, 255))
    for progress in steps:
        if progress.done >= 3:
            break
    steps.close()
    listed = read_ledger(out / f"{LEDGER}-0")
    assert 3 <= len(listed) < 8
    array = zarr.open_group(out, mode="r")["0"]
    for index in listed:
        assert array.get_block_selection(index).any(), index  # written, not the fill value
