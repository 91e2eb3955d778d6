"""Hostile and odd inputs, as a demanding user tries them: a clear error or the right result.

Every output must belong to its input (fingerprints of the input checked on resume),
one writer holds an output at a time, damaged files and weights are refused before
anything is written, and shapes mean one thing.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.color
import skimage.data
import tifffile
import torch
import zarr
from safetensors.torch import load_file, save_file

import napari_colorgan as ncg
from napari_colorgan.cli import main
from napari_colorgan.engine.pipeline import colorize_to_file, iter_colorize_to_file
from napari_colorgan.io.ledger import LEDGER, OutputMismatchError
from napari_colorgan.io.readers import open_image
from napari_colorgan.io.zarr_sink import write_zarr
from napari_colorgan.models.registry import WeightsError, read_metadata, resolve

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    """A 160 x 192 crop of the camera man: two chunks of 96 px wide at tile size 96."""
    return skimage.data.camera()[100:260, 150:342]


def _cli(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------- weights


def _variant(tmp_path, name, arch=None, tensors=None):
    """The shipped general model with its metadata or tensors changed."""
    src = resolve("general")
    meta = {k: v if k == "format" else json.dumps(v) for k, v in read_metadata(src).items()}
    if arch is not None:
        meta["generator"] = json.dumps({**json.loads(meta["generator"]), **arch})
    path = tmp_path / f"{name}.safetensors"
    save_file(tensors if tensors is not None else load_file(src), path, metadata=meta)
    return path


@pytest.mark.parametrize(
    "arch, message",
    [
        ({"blocks": 1_000_000}, "blocks must be an integer in 0..64, got 1000000"),
        ({"widths": [100_000, 100_000]}, r"widths must be 2 to 8 integers"),
        ({"widths": "wide"}, "no list of widths"),
        ({"attention": "yes"}, "attention must be true or false"),
        ({"linear_cameras": 1}, "linear_cameras must be true or false"),
        ({"widths": [16, 32, 64]}, "weights do not match their config"),
        ({"blocks": 2}, "weights do not match their config"),
        ({"mode": "paint"}, "mode must be one of"),
    ],
)
def test_hostile_architecture_is_refused_before_building(tmp_path, arch, message):
    path = _variant(tmp_path, "hostile", arch=arch)
    start = time.perf_counter()
    with pytest.raises(WeightsError, match=message):
        ncg.load_model(path, device="cpu")
    assert time.perf_counter() - start < 5  # 1e6 blocks used to run for 92 s


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, value, capsys):
    tensors = load_file(resolve("general"))
    tensors["generator.head.weight"] = tensors["generator.head.weight"].clone()
    tensors["generator.head.weight"].view(-1)[3] = value
    path = _variant(tmp_path, "nan", tensors=tensors)
    with pytest.raises(WeightsError, match=r"generator.head.weight has 1 NaN or infinite"):
        ncg.load_model(path, device="cpu")
    iio.imwrite(tmp_path / "in.png", skimage.data.camera()[:64, :64])
    code, err = _cli(capsys, "colorize", tmp_path / "in.png", tmp_path / "out.png", "--model", path)
    assert code == 1 and "NaN or infinite" in err and not (tmp_path / "out.png").exists()


def test_integer_tensor_is_refused(tmp_path):
    tensors = load_file(resolve("general"))
    tensors["generator.head.bias"] = tensors["generator.head.bias"].to(torch.int32)
    with pytest.raises(WeightsError, match="tensor head.bias is I32, not floating point"):
        ncg.load_model(_variant(tmp_path, "int", tensors=tensors), device="cpu")


@pytest.mark.parametrize("arch", [{"width": 10**6}, {"depth": 1000}, {"evil": 1}])
def test_hostile_discriminator_config_is_refused(tmp_path, arch):
    from napari_colorgan.models.registry import load_discriminator

    src = resolve("general")
    meta = {k: v if k == "format" else json.dumps(v) for k, v in read_metadata(src).items()}
    meta["discriminator"] = json.dumps(arch)
    path = tmp_path / "disc.safetensors"
    save_file(load_file(src), path, metadata=meta)
    with pytest.raises(WeightsError, match="invalid discriminator config"):
        load_discriminator(path)


def test_metadata_that_is_not_an_object_is_refused(tmp_path):
    src = resolve("general")
    meta = {k: v if k == "format" else json.dumps(v) for k, v in read_metadata(src).items()}
    meta["provenance"] = "[1, 2]"
    path = tmp_path / "prov.safetensors"
    save_file(load_file(src), path, metadata=meta)
    with pytest.raises(WeightsError, match="provenance is not a JSON object"):
        ncg.load_model(path, device="cpu")


def test_weights_identity_is_their_content(tmp_path):
    from napari_colorgan.models.registry import weights_digest

    copy = tmp_path / "copy.safetensors"
    shutil.copy(resolve("general"), copy)
    assert weights_digest(copy) == weights_digest(resolve("general"))
    assert weights_digest(copy) != weights_digest(resolve("histology"))


# ---------------------------------------------------------------- damaged files


@pytest.fixture
def damaged(tmp_path, gray):
    """Truncated and damaged copies of real TIFF, PNG and JPEG files."""
    tifffile.imwrite(tmp_path / "tiled.tif", gray, tile=(64, 64), compression="zlib")
    tifffile.imwrite(tmp_path / "strips.tif", gray)
    iio.imwrite(tmp_path / "ok.png", gray)
    iio.imwrite(tmp_path / "ok.jpg", gray)
    files = {}
    for name in ("tiled.tif", "strips.tif", "ok.png", "ok.jpg"):
        data = (tmp_path / name).read_bytes()
        files[f"half-{name}"] = data[: len(data) // 2]
    files["cut200.tif"] = (tmp_path / "tiled.tif").read_bytes()[:200]
    bad = bytearray((tmp_path / "tiled.tif").read_bytes())
    bad[len(bad) // 2 : len(bad) // 2 + 400] = b"\xff" * 400
    files["flipped.tif"] = bytes(bad)
    files["empty.png"] = b""
    files["nopages.tif"] = b"II*\x00" + bytes(64)
    paths = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = tmp_path / name
    return paths


@pytest.mark.parametrize(
    "name, damage",
    [
        ("cut200.tif", "has no image data"),
        ("half-tiled.tif", "is truncated: its image data end at byte"),
        ("half-strips.tif", "is truncated: its image data end at byte"),
        ("flipped.tif", "cannot decode"),
        ("half-ok.png", "truncated"),
        ("half-ok.jpg", "truncated"),
        ("empty.png", "the file is empty"),
        ("nopages.tif", "holds no image"),
    ],
)
def test_damaged_file_is_one_line_and_writes_nothing(damaged, name, damage, capsys):
    path = damaged[name]
    out = path.parent / "out.ome.zarr"
    code, err = _cli(capsys, "colorize", path, out, "--quiet", "--tile-size", "64")
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert name in lines[0] and damage in lines[0]
    assert not out.exists()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("kind", ["imagej", "bigtiff", "ome-pyramid"])
@pytest.mark.parametrize("kept", [0.3, 0.95])
def test_cut_tiff_of_every_layout_is_refused(tmp_path, gray, kind, kept):
    path = tmp_path / "full.tif"
    stack = np.stack([gray] * 4)
    if kind == "imagej":
        tifffile.imwrite(path, stack, imagej=True, metadata={"axes": "ZYX"})
    elif kind == "bigtiff":
        tifffile.imwrite(path, stack, bigtiff=True, tile=(64, 64))
    else:
        with tifffile.TiffWriter(path, ome=True) as tif:
            tif.write(gray, subifds=1, tile=(64, 64))
            tif.write(gray[::2, ::2], subfiletype=1, tile=(64, 64))
    data = path.read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(ValueError, match=r"cut.tif is (damaged|truncated)"):
        image, _ = open_image(tmp_path / "cut.tif")
        np.asarray(image)


@pytest.mark.parametrize("kept", [0.5, 2880])
def test_cut_fits_is_one_line(tmp_path, gray, kept, capsys):
    from astropy.io import fits

    fits.PrimaryHDU(gray.astype(np.float32)).writeto(tmp_path / "full.fits")
    data = (tmp_path / "full.fits").read_bytes()
    (tmp_path / "cut.fits").write_bytes(data[: int(len(data) * kept) if kept < 1 else kept])
    code, err = _cli(capsys, "colorize", tmp_path / "cut.fits", tmp_path / "o.png", "--quiet")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "cut.fits is truncated" in err
    assert not (tmp_path / "o.png").exists()


# ---------------------------------------------------------------- malformed stores


def _own_store(tmp_path, gray, name="own.ome.zarr"):
    """A finished two-level OME-Zarr colour result of ``gray`` (a 64 px smallest level)."""
    import dask.array as da

    rgb = da.from_array(ncg.colorize(gray, "general", tile_size=96), chunks=(80, 96, 3))
    out = tmp_path / name
    list(write_zarr(rgb, out, source=gray, min_level_size=64))
    assert "1" in zarr.open_group(out, mode="r")
    return out


def _edit_meta(store, change):
    meta = json.loads((store / "zarr.json").read_text())
    change(meta["attributes"]["ome"]["multiscales"][0])
    (store / "zarr.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def own_store(tmp_path_factory, gray):
    return _own_store(tmp_path_factory.mktemp("own"), gray)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: shutil.rmtree(s / "1"), "level 1's array '1' is missing"),
        (lambda s: _edit_meta(s, lambda m: m["datasets"][1].update(path="9")), "'9' is missing"),
        (lambda s: _edit_meta(s, lambda m: m.pop("datasets")), "lists no datasets"),
        (lambda s: _edit_meta(s, lambda m: m.update(axes="cyx")), "axes must be a list"),
        (lambda s: (s / "zarr.json").write_text("{not json"), "cannot open"),
        (lambda s: (s / "0" / "zarr.json").write_text("[]"), "cannot open level 0"),
    ],
)
def test_malformed_own_store_gives_a_clear_error(own_store, tmp_path, damage, message):
    from napari_colorgan._reader import read_zarr

    store = tmp_path / "damaged.ome.zarr"
    shutil.copytree(own_store, store)
    damage(store)
    with pytest.raises(ValueError, match=message):
        read_zarr(str(store))
    with pytest.raises(ValueError, match=message):
        open_image(store)


def test_plain_result_without_its_array_is_named(tmp_path):
    from napari_colorgan._reader import read_zarr

    group = zarr.open_group(tmp_path / "result.zarr", mode="w")
    group.attrs["colorgan"] = {"complete": True}
    with pytest.raises(ValueError, match="result without its array '0'"):
        read_zarr(str(tmp_path / "result.zarr"))


def test_two_d_array_claimed_as_channels_is_refused(tmp_path, gray):
    group = zarr.open_group(tmp_path / "flat.ome.zarr", mode="w")
    group.create_array("0", data=gray)
    axes = [{"name": n, "type": "space"} for n in "cyx"]
    group.attrs["ome"] = {"multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}]}
    with pytest.raises(ValueError, match="level 0 .'0'. is 2-D but the axes are c, y, x"):
        open_image(tmp_path / "flat.ome.zarr")


def test_damaged_zarr_chunk_names_the_store(tmp_path, gray):
    zarr.create_array(tmp_path / "in.zarr", data=gray, chunks=(80, 96))
    chunk = next(
        p for p in (tmp_path / "in.zarr").rglob("*") if p.is_file() and p.parent.name == "0"
    )
    chunk.write_bytes(b"not zstd")
    image, _ = open_image(tmp_path / "in.zarr")
    with pytest.raises(ValueError, match=r"cannot read .*in.zarr"):
        image.compute()


# ---------------------------------------------------------------- shapes


def test_gray_alpha_png_drops_its_alpha(tmp_path, gray):
    iio.imwrite(tmp_path / "la.png", np.stack([gray, np.full_like(gray, 200)], -1))
    with pytest.warns(UserWarning, match="alpha is dropped"):
        image, _ = open_image(tmp_path / "la.png")
    np.testing.assert_array_equal(image, gray)


def test_gray_alpha_png_through_the_cli_is_one_warning_line(tmp_path, gray, capsys):
    import warnings

    iio.imwrite(tmp_path / "la.png", np.stack([gray, np.full_like(gray, 200)], -1))
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # shown however often it was raised before
        code, err = _cli(capsys, "colorize", tmp_path / "la.png", tmp_path / "o.tif", "--quiet")
    assert code == 0
    assert err.strip().splitlines() == [
        "colorgan: warning: la.png is gray with an alpha channel: the alpha is dropped"
    ]
    assert tifffile.imread(tmp_path / "o.tif").shape == (*gray.shape, 3)


def test_one_sample_tiff_is_one_gray_image(tmp_path, gray):
    tifffile.imwrite(tmp_path / "one.tif", gray[..., None], photometric="minisblack")
    image, _ = open_image(tmp_path / "one.tif")
    np.testing.assert_array_equal(image.compute(), gray)


@pytest.mark.parametrize("suffix", [".png", ".zarr"])
def test_level_of_a_file_without_pyramid_is_refused(tmp_path, gray, suffix):
    path = tmp_path / f"plain{suffix}"
    iio.imwrite(path, gray) if suffix == ".png" else zarr.create_array(path, data=gray)
    with pytest.raises(ValueError, match="not a pyramid .one level., got level=3"):
        open_image(path, level=3)


def test_infinite_normalize_is_refused(tmp_path, gray, capsys):
    iio.imwrite(tmp_path / "in.png", gray)
    code, err = _cli(
        capsys, "colorize", tmp_path / "in.png", tmp_path / "o.png", "--normalize", "0,inf"
    )
    assert code == 1 and "must be finite" in err and not (tmp_path / "o.png").exists()


# ---------------------------------------------------------------- what an output was made from


@pytest.fixture(scope="module")
def stack(gray) -> np.ndarray:
    """Four planes: one chunk each, so a run can be stopped half way."""
    return np.stack([np.roll(gray, 7 * k, axis=1) for k in range(4)])


def _stop_after(src, out, chunks, **options):
    """Start writing ``out`` and stop (as a kill would) after ``chunks`` chunks."""
    steps = iter_colorize_to_file(src, out, "general", tile_size=96, **options)
    for _unit, done, _total in steps:
        if done >= chunks:
            break
    steps.close()
    assert chunks <= len((out / f"{LEDGER}-0").read_text().splitlines()) < len(src)


def test_resume_from_another_array_is_refused(tmp_path, stack):
    reference = colorize_to_file(stack, tmp_path / "ref.ome.zarr", "general", tile_size=96)
    other = stack.copy()
    other[0, :10, :10] = 255 - other[0, :10, :10]  # the first, already written plane differs
    out = tmp_path / "out.ome.zarr"
    _stop_after(stack, out, 2)
    with pytest.raises(OutputMismatchError, match=r"out.ome.zarr was made from another input"):
        colorize_to_file(other, out, "general", tile_size=96)
    colorize_to_file(stack, out, "general", tile_size=96)  # the same array resumes
    assert _files(out) == _files(reference)
    for name in _files(reference):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    with pytest.raises(OutputMismatchError, match=r"same size, other pixels.*resume=False"):
        colorize_to_file(other, out, "general", tile_size=96)
    with pytest.raises(OutputMismatchError, match=r"other settings \((\w+, )*model differs?\)"):
        colorize_to_file(stack, out, "histology", tile_size=96)
    with pytest.raises(OutputMismatchError, match=r"shape \(4, 160, 192\), now \(3, 160, 192\)"):
        colorize_to_file(stack[:3], out, "general", tile_size=96)
    colorize_to_file(other, out, "general", tile_size=96, resume=False)
    np.testing.assert_allclose(
        np.moveaxis(zarr.open_group(out, mode="r")["0"][:, 0], 0, -1) / 255,
        ncg.colorize(other[0], "general", tile_size=96),
        atol=1 / 255,
    )


def test_same_pixels_chunked_otherwise_resume_and_match(tmp_path, stack):
    import dask.array as da

    reference = colorize_to_file(stack, tmp_path / "ref.ome.zarr", "general", tile_size=96)
    other_chunks = da.from_array(stack.copy(), chunks=(1, 40, 64))
    colorize_to_file(other_chunks, reference, "general", tile_size=96)  # finished: accepted
    out = tmp_path / "out.ome.zarr"
    _stop_after(stack, out, 2)
    colorize_to_file(other_chunks, out, "general", tile_size=96)
    for name in _files(reference):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_tiff_resume_from_another_array_is_refused(tmp_path, stack):
    from napari_colorgan.io.atomic import partial_path

    out = tmp_path / "out.tif"
    other = stack.copy()
    other[1] = other[1][::-1]
    steps = iter_colorize_to_file(stack, out, "general", tile_size=96)
    for _stage, done, _total in steps:
        if done >= 2:
            break
    steps.close()
    staging = Path(f"{partial_path(out)}.zarr")
    assert staging.is_dir() and not out.exists()
    with pytest.raises(OutputMismatchError, match=r"out.tif was made from another input"):
        colorize_to_file(other, out, "general", tile_size=96)
    colorize_to_file(stack, out, "general", tile_size=96)
    assert not staging.exists()
    expected = ncg.colorize(stack, "general", tile_size=96)
    np.testing.assert_allclose(tifffile.imread(out) / 255, expected, atol=1 / 255)


def test_resume_cleans_a_killed_runs_partial_chunk(tmp_path, stack):
    out = tmp_path / "out.zarr"
    _stop_after(stack, out, 1)
    stray = out / "0" / "c" / "1" / "0" / "0" / f"0.{'ab' * 16}.partial"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(os.urandom(2048))  # what zarr leaves when killed mid-write
    colorize_to_file(stack, out, "general", tile_size=96)
    assert not list(out.rglob("*.partial"))
    assert zarr.open_group(out, mode="r").attrs["colorgan"]["complete"] is True


def test_a_finished_store_holds_no_partial_file(tmp_path, stack):
    out = tmp_path / "out.zarr"
    steps = iter_colorize_to_file(stack, out, "general", tile_size=96)
    next(steps)
    stray = out / f"zarr.json.{'cd' * 16}.partial"
    stray.write_bytes(b"half a file")
    for _ in steps:
        pass
    assert not stray.exists()


def test_hostile_ledger_and_attributes(tmp_path, stack):
    out = tmp_path / "out.zarr"
    _stop_after(stack, out, 1)
    ledger = out / f"{LEDGER}-0"
    forged = '[[3, 0, 0, 0], "' + "f0" * 16 + '"]'
    junk = '5\n"abc"\n[["x", 0, 0, 0], "ab"]\n[[9, 0, 0, 0], "ab"]\n{"a": 1}\n[1, 2\n'
    ledger.write_text(ledger.read_text() + junk + forged + "\n")
    with pytest.raises(OutputMismatchError, match=r"its pixels at \[3:4, 0:160, 0:192\] differ"):
        colorize_to_file(stack, out, "general", tile_size=96)
    group = zarr.open_group(out, mode="r+")
    group.attrs["colorgan"] = ["not", "ours"]
    with pytest.raises(ValueError, match="exists and is not a napari-colorgan output"):
        colorize_to_file(stack, out, "general", tile_size=96)


def test_rerun_from_another_png_is_refused_in_cli_words(tmp_path, capsys):
    rgb = skimage.data.astronaut()[::4, ::4]
    iio.imwrite(tmp_path / "a.png", rgb)
    iio.imwrite(tmp_path / "b.png", rgb[::-1])
    out = tmp_path / "out.ome.zarr"
    assert _cli(capsys, "colorize", tmp_path / "a.png", out, "--from-rgb", "--quiet")[0] == 0
    code, err = _cli(capsys, "colorize", tmp_path / "b.png", out, "--from-rgb", "--quiet")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "out.ome.zarr was made from another input" in err
    assert "--no-resume" in err and "resume=False" not in err
    args = ("colorize", tmp_path / "b.png", out, "--from-rgb", "--quiet", "--no-resume")
    assert _cli(capsys, *args)[0] == 0


def test_batch_does_not_skip_a_store_of_a_replaced_input(tmp_path, gray):
    from napari_colorgan.batch import colorize_batch

    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    iio.imwrite(tmp_path / "in" / "a.png", gray)
    iio.imwrite(tmp_path / "in" / "b.png", gray[::-1])
    first = colorize_batch(tmp_path / "in", tmp_path / "out", tile_size=96)
    assert len(first.written) == 2
    iio.imwrite(tmp_path / "in" / "b.png", gray[:, ::-1])  # same name, other pixels
    again = colorize_batch(tmp_path / "in", tmp_path / "out", tile_size=96)
    assert again.skipped == [tmp_path / "out" / "a.ome.zarr"]
    [(src, why)] = again.failed
    assert src.name == "b.png" and "made from another input" in why


def test_output_inside_the_input_store_is_refused(tmp_path, gray):
    zarr.create_array(tmp_path / "in.zarr", data=gray)
    before = {p: p.read_bytes() for p in (tmp_path / "in.zarr").rglob("*") if p.is_file()}
    for dst in ("in.zarr/sub.ome.zarr", "in.zarr/c/x.png"):
        with pytest.raises(ValueError, match="inside the input"):
            colorize_to_file(tmp_path / "in.zarr", tmp_path / dst, "general")
    after = {p: p.read_bytes() for p in (tmp_path / "in.zarr").rglob("*") if p.is_file()}
    assert after == before


# ---------------------------------------------------------------- one writer at a time

_HOLDER = """
import sys, time
from pathlib import Path
from napari_colorgan.engine.pipeline import iter_colorize_to_file
image = sys.argv[3]
held = [iter_colorize_to_file(image, out, "general", tile_size=96) for out in sys.argv[4:]]
for steps in held:
    next(steps)  # started: the output is held
Path(sys.argv[1]).touch()
while not Path(sys.argv[2]).exists():
    time.sleep(0.05)
for steps in held:
    for _ in steps:
        pass
"""

_SECOND = """
import sys
from napari_colorgan.cli import main
for out in sys.argv[2:]:
    print(main(["colorize", sys.argv[1], out, "--quiet", "--tile-size", "96"]))
"""


def test_a_second_writer_is_refused_at_once(tmp_path, gray):
    outputs = [tmp_path / name for name in ("o.ome.tif", "o.ome.zarr", "o.png")]
    ready, go = tmp_path / "ready", tmp_path / "go"
    iio.imwrite(tmp_path / "in.png", gray)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, ready, go, tmp_path / "in.png", *outputs],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not ready.exists() and holder.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert ready.exists(), holder.stderr.read()
        iio.imwrite(tmp_path / "other.png", gray[::-1])
        second = subprocess.run(
            [sys.executable, "-c", _SECOND, tmp_path / "other.png", *outputs],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.stdout.split() == ["1", "1", "1"], second.stderr
        for out in outputs:
            assert f"{out} is being written by another run" in second.stderr
    finally:
        go.touch()
        assert holder.wait(timeout=300) == 0
    expected = ncg.colorize(gray, "general", tile_size=96)
    np.testing.assert_allclose(tifffile.imread(outputs[0]) / 255, expected, atol=1 / 255)
    np.testing.assert_allclose(iio.imread(outputs[2]) / 255, expected, atol=1 / 255)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- killed and racing commands


@pytest.fixture(scope="module")
def tiled(tmp_path_factory) -> tuple[Path, list[str], Path]:
    """A 768 x 768 tiled TIFF of the camera man (36 chunks of 128 px), the options, and a
    folder with an uninterrupted run's outputs (``ref.ome.zarr``, ``ref.tif``)."""
    folder = tmp_path_factory.mktemp("tiled")
    src = folder / "tiled.tif"
    tifffile.imwrite(src, np.tile(skimage.data.camera(), (2, 2))[:768, :768], tile=(128, 128))
    options = ["--tile-size", "128", "--quiet"]
    for suffix in (".ome.zarr", ".tif"):
        assert main(["colorize", str(src), str(folder / f"ref{suffix}"), *options]) == 0
    return src, options, folder


def _command(src, out, options) -> list[str]:
    return [sys.executable, "-m", "napari_colorgan.cli", "colorize", str(src), str(out), *options]


def _same_output(a: Path, b: Path) -> None:
    """Every array of two outputs (each level of a store or of a pyramidal TIFF) is equal."""
    if a.is_dir():
        first, second = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
        assert sorted(first.array_keys()) == sorted(second.array_keys())
        for key in first.array_keys():
            np.testing.assert_array_equal(first[key][:], second[key][:], err_msg=key)
        assert dict(first.attrs) == dict(second.attrs)
        return
    with tifffile.TiffFile(a) as first, tifffile.TiffFile(b) as second:
        levels = zip(first.series[0].levels, second.series[0].levels, strict=True)
        for one, other in levels:
            np.testing.assert_array_equal(one.asarray(), other.asarray())


@pytest.mark.parametrize("suffix, writers", [(".ome.zarr", 2), (".tif", 1)])
def test_a_killed_command_rerun_gives_the_uninterrupted_output(tmp_path, tiled, suffix, writers,
                                                               capsys, caplog):  # fmt: skip
    """SIGKILL ``colorgan colorize`` midway (a third of the chunks in its ledger), run the
    same command again: the output is the uninterrupted run's, every level exactly. Onto
    the OME-Zarr, two commands start at once: the second is refused in one line. The
    pyramidal TIFF reads back without tifffile's "invalid shaped series metadata"."""
    from napari_colorgan.io.atomic import partial_path
    from napari_colorgan.io.zarr_sink import is_complete

    src, options, references = tiled
    out = tmp_path / f"out{suffix}"
    store = out if suffix == ".ome.zarr" else Path(f"{partial_path(out)}.zarr")
    ledger = store / f"{LEDGER}-0"
    runs = [
        subprocess.Popen(_command(src, out, options), stderr=subprocess.PIPE, text=True)
        for _ in range(writers)
    ]
    try:
        deadline = time.time() + 120
        while time.time() < deadline and all(run.poll() in (None, 1) for run in runs):
            lines = len(ledger.read_text().splitlines()) if ledger.is_file() else 0
            if lines >= 12 and sum(run.poll() is None for run in runs) == 1:
                break  # the second writer was refused, the first is a third done
            time.sleep(0.01)
    finally:
        for run in runs:
            run.kill()
    errors = [run.communicate(timeout=60)[1] for run in runs]
    assert sorted(run.returncode for run in runs) == [-9, 1][:writers], errors  # none finished
    for run, err in zip(runs, errors):
        if run.returncode == 1:
            assert err.strip().splitlines() == [
                f"colorgan: error: {out} is being written by another run (it holds "
                f".{out.name}.lock); wait for it to finish or write to another path"
            ]
    assert 12 <= len(ledger.read_text().splitlines()) < 36 and not is_complete(store)
    assert main(["colorize", str(src), str(out), *options]) == 0, capsys.readouterr().err
    caplog.clear()
    _same_output(references / f"ref{suffix}", out)
    assert not [r.getMessage() for r in caplog.records if r.name == "tifffile"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- shapes and settings


def test_trailing_one_axis_is_one_gray_image(gray):
    small = gray[:64, :64]
    result = ncg.colorize(small[..., None], "general")
    assert result.shape == (64, 64, 3)
    np.testing.assert_array_equal(result, ncg.colorize(small, "general"))


def test_objects_that_are_not_arrays_are_named(tmp_path, gray):
    group = zarr.open_group(tmp_path / "g.zarr", mode="w")
    with pytest.raises(ValueError, match=r"cannot colorize a Group: .*group\['0'\]"):
        ncg.colorize(group, "general")
    with pytest.raises(ValueError, match=r"cannot colorize a Tensor .*tensor.numpy\(\)"):
        ncg.colorize(torch.from_numpy(gray), "general")
    with pytest.raises(ValueError, match="cannot colorize text .*colorize_to_file takes a path"):
        ncg.colorize("camera.png", "general")


def test_to_gray_of_a_gray_image_is_refused(gray):
    with pytest.raises(ValueError, match=r"to_gray needs an RGB\(A\) image.*\(160, 192\)"):
        ncg.to_gray(gray)


def test_dask_input_with_unknown_chunk_sizes_is_refused(gray):
    import dask.array as da

    lazy = da.from_array(gray, chunks=80)
    rows = lazy[lazy[:, 0] >= 0]  # boolean indexing: chunk sizes unknown until computed
    with pytest.raises(ValueError, match="unknown chunk sizes.*compute_chunk_sizes"):
        ncg.colorize(rows, "general")


@pytest.mark.parametrize(
    "option", [{"tile_size": "64"}, {"tile_size": 64.5}, {"batch_size": True}, {"seed": 1.5}]
)
def test_settings_that_are_not_integers_are_refused(gray, option):
    name, value = next(iter(option.items()))
    with pytest.raises(ValueError, match=f"{name} must be an integer, got {value!r}"):
        ncg.colorize(gray, "general", **option)


def test_level_of_an_array_is_refused(tmp_path, gray):
    with pytest.raises(ValueError, match="an array has no pyramid, got level=3"):
        colorize_to_file(gray, tmp_path / "o.png", "general", level=3)


_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from napari_colorgan.cli import main
from napari_colorgan.models.registry import load_model
load_model("general", "cpu")
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
sys.exit(main(["colorize", sys.argv[1], sys.argv[2], "--quiet"]))
"""


@pytest.mark.parametrize("name", ["out.png", "out.ome.zarr"])
def test_a_full_disk_is_one_clean_line(tmp_path, name):
    noise = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    iio.imwrite(tmp_path / "noise.png", noise)  # incompressible: the PNG is > 20 kB
    out = tmp_path / name
    run = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, tmp_path / "noise.png", out],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()  # noise may also draw the domain warning
    assert "Traceback" not in run.stderr
    assert f"cannot write {out}: File too large" in lines[-1]
    assert sum("cannot write" in line for line in lines) == 1
    if name == "out.png":  # a zarr store stays, unfinished, for a resume
        assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.png"]


def test_evaluate_scales_integer_truth(gray):
    from napari_colorgan.metrics import evaluate

    truth = skimage.data.astronaut()[:96, :96]
    pred = ncg.colorize(ncg.to_gray(truth), "general")
    assert evaluate(pred, truth) == evaluate(pred, truth / 255)
    with pytest.raises(ValueError, match=r"true_rgb must be sRGB in \[0, 1\], got values in"):
        evaluate(pred, truth.astype(np.float32))


def test_boolean_layer_is_a_notification_in_the_widget(make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    from napari_colorgan._widget import ColorizeWidget, State

    viewer = make_napari_viewer()
    layer = viewer.add_image(skimage.data.camera()[:64, :64] > 100, name="mask")
    widget = ColorizeWidget(viewer)
    widget._image.value = layer
    widget.start()  # raised TypeError from the intensity statistics
    qtbot.waitUntil(lambda: widget.state is not State.RUNNING, timeout=60_000)  # a worker
    assert widget.state is State.FAILED and len(viewer.layers) == 1
    assert "cannot colorize a boolean image" in notification_manager.records[-1].message


# ---------------------------------------------------------------- races and side effects


def test_atomic_write_keeps_the_umask_and_gives_its_mode(tmp_path, monkeypatch):
    from napari_colorgan.io.atomic import atomic_write

    old = os.umask(0o027)
    set_to = []
    real_umask = os.umask
    monkeypatch.setattr(os, "umask", lambda mask: set_to.append(mask) or real_umask(mask))
    try:
        with atomic_write(tmp_path / "settings.json") as tmp:
            os.chmod(tmp, 0o600)  # a writer that makes owner-only files (safetensors)
            tmp.write_text("{}")
    finally:
        real_umask(old)
    assert set_to == []  # the umask is process-wide: another thread's files would change
    assert (tmp_path / "settings.json").stat().st_mode & 0o777 == 0o640


def test_two_writers_of_one_file_have_their_own_temporaries(tmp_path):
    from napari_colorgan.io.atomic import atomic_write

    path = tmp_path / "weights.safetensors"
    with atomic_write(path) as first, atomic_write(path) as second:
        assert first != second
        first.write_bytes(b"first" * 1000)
        second.write_bytes(b"second" * 1000)
    assert path.read_bytes() == b"first" * 1000  # the last to finish wins, whole
    assert _files(tmp_path) == [Path("weights.safetensors")]


# ---------------------------------------------------------------- formats and colour models


def _png16(path, image):
    import imagecodecs

    path.write_bytes(imagecodecs.png_encode(image))
    return path


def _read_png(path):
    import imagecodecs

    return imagecodecs.png_decode(path.read_bytes())


def _write_input(tmp_path, kind, gray):
    """``gray`` stored as a user might: 16-bit PNG, uint16 zarr, FITS BITPIX 64, int TIFFs."""
    wide = gray.astype(np.uint16) * 257
    if kind == "png16":
        return _png16(tmp_path / "g16.png", wide)
    if kind == "zarr16":
        zarr.save_array(tmp_path / "g16.zarr", wide)
        return tmp_path / "g16.zarr"
    if kind == "fits64":
        fits = pytest.importorskip("astropy.io.fits")
        fits.PrimaryHDU(gray.astype(np.int64) * 10**9).writeto(tmp_path / "g64.fits")
        return tmp_path / "g64.fits"
    dtype = {"tif-int32": np.int32, "tif-float64": np.float64, "tif-int8": np.int8}[kind]
    tifffile.imwrite(tmp_path / f"{kind}.tif", (gray.astype(np.float64) - 128).astype(dtype))
    return tmp_path / f"{kind}.tif"


@pytest.mark.parametrize("kind", ["png16", "zarr16", "fits64", "tif-int32", "tif-float64"])
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_every_readable_image_into_every_flat_format(tmp_path, gray, kind, suffix, capsys):
    src = _write_input(tmp_path, kind, gray[:64, :96])
    out = tmp_path / f"out{suffix}"
    code, err = _cli(capsys, "colorize", src, out, "--tile-size", 96, "--quiet")
    assert code == 0, err
    wide = kind != "tif-float64" and suffix != ".jpg"  # integers of more than 8 bits
    read = _read_png(out) if suffix == ".png" else iio.imread(out)
    assert read.shape == (64, 96, 3) and read.dtype == (np.uint16 if wide else np.uint8)
    assert read.max() > (1000 if wide else 10)  # samples across the range, not 8 bits in 16


@pytest.mark.parametrize("kind", ["png16", "zarr16", "fits64", "tif-int32", "tif-float64"])
@pytest.mark.parametrize("suffix", [".zarr", ".ome.zarr", ".ome.tif"])
def test_every_readable_image_into_every_streamed_format(tmp_path, gray, kind, suffix, capsys):
    src = _write_input(tmp_path, kind, gray[:64, :96])
    out = tmp_path / f"out{suffix}"
    code, err = _cli(capsys, "colorize", src, out, "--tile-size", 96, "--quiet")
    assert code == 0, err
    read = tifffile.imread(out) if suffix == ".ome.tif" else zarr.open_group(out, mode="r")["0"]
    assert read.dtype == (np.uint8 if kind == "tif-float64" else np.uint16)
    assert sorted(read.shape) == [3, 64, 96]


def test_output_path_that_is_a_folder_is_refused_before_any_work(tmp_path, gray, capsys):
    tifffile.imwrite(tmp_path / "in.tif", np.stack([gray[:64, :64]] * 2))
    for name in ("out.tif", "out.mp4", "out.ome.tif"):
        (tmp_path / name).mkdir()
        code, err = _cli(capsys, "colorize", tmp_path / "in.tif", tmp_path / name, "--quiet")
        assert code == 1 and "is a folder" in err and len(err.strip().splitlines()) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def _lightness(rgb):
    return skimage.color.rgb2lab(rgb)[..., 0]


@pytest.fixture(scope="module")
def colour_photo():
    return skimage.data.astronaut()[40:168, 160:288]


def _from_rgb_lightness(src, tmp_path, capsys):
    out = tmp_path / "out.png"
    code, err = _cli(capsys, "colorize", src, out, "--from-rgb", "--tile-size", 128, "--quiet")
    assert code == 0, err
    return _lightness(_read_png(out))


@pytest.mark.parametrize("kind", ["cmyk-jpeg", "cmyk-tiff", "ycbcr-tiff", "palette-png",
                                  "rgb16-png", "rgba-png", "la-png"])  # fmt: skip
def test_colour_models_keep_the_images_lightness(tmp_path, colour_photo, kind, capsys):
    from PIL import Image

    photo = Image.fromarray(colour_photo)
    src = tmp_path / f"{kind}.{kind.split('-')[1].replace('jpeg', 'jpg').replace('tiff', 'tif')}"
    truth = _lightness(colour_photo)
    if kind == "cmyk-jpeg":
        photo.convert("CMYK").save(src, quality=95)
    elif kind == "cmyk-tiff":
        rgb = colour_photo.astype(np.float32) / 255
        k = 1 - rgb.max(-1, keepdims=True)
        cmy = (1 - rgb - k) / np.maximum(1 - k, 1e-6)
        ink = np.rint(np.concatenate([cmy, k], -1) * 255).astype(np.uint8)
        tifffile.imwrite(src, ink, photometric="separated")
    elif kind == "ycbcr-tiff":
        r, g, b = (colour_photo[..., i].astype(np.float32) for i in range(3))
        y = 0.299 * r + 0.587 * g + 0.114 * b
        ycc = np.stack([y, (b - y) / 1.772 + 128, (r - y) / 1.402 + 128], -1)
        tifffile.imwrite(src, np.clip(np.rint(ycc), 0, 255).astype(np.uint8),
                         photometric="ycbcr", subsampling=(1, 1))  # fmt: skip
    elif kind == "palette-png":
        photo.quantize(256).save(src)
        truth = _lightness(np.asarray(Image.open(src).convert("RGB")))
    elif kind == "rgb16-png":
        _png16(src, colour_photo.astype(np.uint16) * 257)
    elif kind == "rgba-png":
        photo.convert("RGBA").save(src)
    else:  # gray + alpha, colourised without --from-rgb
        Image.fromarray(colour_photo[..., 1]).convert("LA").save(src)
        out = tmp_path / "out.png"
        assert _cli(capsys, "colorize", src, out, "--tile-size", 128, "--quiet")[0] == 0
        kept, truth = _lightness(_read_png(out)), _lightness(np.dstack([colour_photo[..., 1]] * 3))
        assert np.corrcoef(kept.ravel(), truth.ravel())[0, 1] > 0.99
        return
    kept = _from_rgb_lightness(src, tmp_path, capsys)
    assert np.corrcoef(kept.ravel(), truth.ravel())[0, 1] > 0.99
    assert np.abs(kept - truth).mean() < 2.5


def test_a_16_bit_gray_and_alpha_png_is_16_bit_gray(tmp_path, gray):
    wide = gray.astype(np.uint16) * 257
    _png16(tmp_path / "la16.png", np.dstack([wide, np.full_like(wide, 65535)]))
    with pytest.warns(UserWarning, match="the alpha is dropped"):
        image, _ = open_image(tmp_path / "la16.png")
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, wide)


def test_white_is_zero_and_gray_palette_tiffs_are_gray(tmp_path, gray):
    tifffile.imwrite(tmp_path / "white.tif", 255 - gray, photometric="miniswhite")
    ramp = np.tile(np.arange(256, dtype=np.uint16) * 257, (3, 1))
    tifffile.imwrite(tmp_path / "palette.tif", gray, photometric="palette", colormap=ramp)
    for name in ("white.tif", "palette.tif"):
        image, _ = open_image(tmp_path / name)
        read = np.asarray(image).astype(np.float64)
        assert np.corrcoef(read.ravel(), gray.ravel())[0, 1] > 0.999, name


def test_a_bilevel_tiff_is_named_as_boolean(tmp_path, gray, capsys):
    tifffile.imwrite(tmp_path / "mask.tif", gray > 128)  # tifffile stores bits white-is-zero
    code, err = _cli(capsys, "colorize", tmp_path / "mask.tif", tmp_path / "o.png")
    assert code == 1 and "cannot colorize a boolean image" in err


def test_colour_models_without_lightness_are_one_line(tmp_path, gray, capsys):
    lab = np.dstack([gray, gray, gray])
    tifffile.imwrite(tmp_path / "lab.tif", lab, photometric="cielab")
    code, err = _cli(capsys, "colorize", tmp_path / "lab.tif", tmp_path / "o.png", "--from-rgb")
    assert code == 1 and "lab.tif holds CIELAB" in err and len(err.strip().splitlines()) == 1


def test_a_rewritten_tiff_is_read_as_it_is_now(tmp_path, gray):
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, gray, tile=(64, 64))
    np.testing.assert_array_equal(np.asarray(open_image(path)[0]), gray)
    other = gray[::-1].astype(np.uint16) * 200
    tifffile.imwrite(path, other, tile=(64, 64))
    image = open_image(path)[0]
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(image), other)



# ---------------------------------------------------------------- resume: what a chunk depends on


def _store_pixels(path):
    group = zarr.open_group(path, mode="r")
    return {name: np.asarray(group[name]) for name in sorted(group.array_keys())}


def test_resume_after_a_change_in_a_finished_chunks_halo_is_refused(tmp_path, gray):
    out = tmp_path / "out.ome.zarr"
    steps = iter_colorize_to_file(gray, out, "general", tile_size=96)
    for _unit, done, _total in steps:
        if done >= 1:
            break
    steps.close()
    (first,) = [json.loads(line)[0] for line in (out / f"{LEDGER}-0").read_text().splitlines()]
    assert first == [0, 0, 0]  # the chunk over columns 0..95 is done
    changed = gray.copy()
    changed[:, 100:104] = 255 - changed[:, 100:104]  # beside it, within its halo
    with pytest.raises(OutputMismatchError, match="its pixels at .* differ"):
        colorize_to_file(changed, out, "general", tile_size=96)


def test_a_store_made_with_another_overlap_is_not_returned(tmp_path, gray):
    out = tmp_path / "out.ome.zarr"
    colorize_to_file(gray, out, "general", tile_size=96)
    with pytest.raises(OutputMismatchError, match="halo"):
        colorize_to_file(gray, out, "general", tile_size=96, overlap=0)
    colorize_to_file(gray, out, "general", tile_size=96, overlap=0, resume=False)
    np.testing.assert_array_equal(
        np.moveaxis(_store_pixels(out)["0"], 0, -1),
        np.rint(ncg.colorize(gray, "general", tile_size=96, overlap=0) * 255),
    )


@pytest.mark.parametrize("damage", ["missing", "garbage", "derived"])
def test_a_damaged_finished_store_is_repaired_on_rerun(tmp_path, gray, damage, capsys):
    reference, out = tmp_path / "reference.ome.zarr", tmp_path / "out.ome.zarr"
    src = tmp_path / "in.png"
    iio.imwrite(src, skimage.data.camera())  # 512 x 512: two pyramid levels
    for path in (reference, out):
        assert _cli(capsys, "colorize", src, path, "--tile-size", 96, "--quiet")[0] == 0
    level = "1" if damage == "derived" else "0"
    chunk = sorted((out / level / "c").rglob("*"))[-1]
    assert chunk.is_file()
    if damage == "missing":
        chunk.unlink()
    else:
        chunk.write_bytes(os.urandom(chunk.stat().st_size))
    assert _cli(capsys, "colorize", src, out, "--tile-size", 96, "--quiet")[0] == 0
    assert chunk.is_file()
    expected, got = _store_pixels(reference), _store_pixels(out)
    assert list(got) == list(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    assert zarr.open_group(out, mode="r").attrs["colorgan"] == dict(
        zarr.open_group(reference, mode="r").attrs["colorgan"]
    )


def test_a_black_chunk_is_stored_and_the_store_verifies(tmp_path):
    from napari_colorgan.io.zarr_sink import damaged_chunks

    black = np.zeros((160, 192), np.uint8)
    out = tmp_path / "black.zarr"
    colorize_to_file(black, out, "general", tile_size=96)
    assert damaged_chunks(out) == {}


# ---------------------------------------------------------------- metadata that lie


def _ome_tiff_with(path, stack, edit):
    import re

    sizes = {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0}
    tifffile.imwrite(path, stack, metadata={"axes": "ZYX", **sizes})
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    tifffile.tiffcomment(path, edit(xml, re).encode())
    return path


def _impossible(tmp_path, kind, stack):
    if kind.startswith("ome-"):
        value = kind.split("-", 1)[1]
        return _ome_tiff_with(
            tmp_path / "in.ome.tif",
            stack,
            lambda xml, re: re.sub(r'PhysicalSizeX="[^"]*"', f'PhysicalSizeX="{value}"', xml),
        )
    if kind == "resolution-1/0":
        path = tmp_path / "in.tif"
        tifffile.imwrite(path, stack[0], resolution=(5, 5))
        with tifffile.TiffFile(path, mode="r+b") as tif:
            for name in ("XResolution", "YResolution"):
                tif.pages[0].tags[name].overwrite((1, 0))
        return path
    path = tmp_path / "in.tif"
    metadata = {"spacing": -2, "unit": "um", "axes": "ZYX"}
    tifffile.imwrite(path, stack, imagej=True, metadata=metadata)
    return path


@pytest.mark.parametrize(
    "kind", ["ome-0", "ome-NaN", "ome--1", "ome-inf", "resolution-1/0", "imagej-spacing--2"]
)
def test_impossible_pixel_sizes_are_dropped_and_the_output_reads(tmp_path, gray, kind, capsys):
    from napari_colorgan._reader import read_zarr

    stack = np.stack([gray[:64, :96], gray[64:128, :96]])
    src = _impossible(tmp_path, kind, stack)
    out = tmp_path / "out.ome.zarr"
    code, err = _cli(capsys, "colorize", src, out, "--tile-size", 96, "--quiet")
    assert code == 0, err
    assert err.count("warning") == 1 and "not a positive size" in err
    from napari_colorgan.io.ome_zarr import read_multiscale

    multiscale = read_multiscale(zarr.open_group(out, mode="r"), out)
    assert multiscale.arrays[0].shape[-2:] == (64, 96)
    assert all(scale is None or min(scale) > 0 for scale in multiscale.scales)
    assert read_zarr(str(out))  # napari's reader takes it


def test_ome_xml_describing_fewer_planes_than_pages_is_refused(tmp_path, gray, capsys):
    stack = np.stack([gray[:64, :96]] * 3)
    src = _ome_tiff_with(tmp_path / "three.ome.tif", stack,
                         lambda xml, re: xml.replace('SizeZ="3"', 'SizeZ="2"'))  # fmt: skip
    code, err = _cli(capsys, "colorize", src, tmp_path / "out.tif", "--quiet")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "describes 2 plane(s) but the file holds 3 of that size" in err
    assert not (tmp_path / "out.tif").exists()
    tifffile.imwrite(tmp_path / "two.ome.tif", stack[:2], metadata={"axes": "ZYX"})
    with tifffile.TiffFile(tmp_path / "two.ome.tif") as tif:
        xml = tif.ome_metadata
    thumbnailed = tmp_path / "thumb.ome.tif"  # two planes the XML names, and a thumbnail
    with tifffile.TiffWriter(thumbnailed, ome=False) as tif:
        tif.write(stack[0], description=xml, metadata=None)
        tif.write(stack[1], metadata=None)
        tif.write(stack[0, ::4, ::4], metadata=None)
    assert open_image(thumbnailed)[0].shape == (2, 64, 96)  # a page of another size is not a plane


def test_an_ome_zarr_input_with_a_zero_scale_is_read_without_sizes(tmp_path, gray):
    group = zarr.open_group(tmp_path / "gray.ome.zarr", mode="w")
    group.create_array("0", data=gray)
    scale = [{"type": "scale", "scale": [0.0, float("nan")]}]
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    datasets = [{"path": "0", "coordinateTransformations": scale}]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}
    with pytest.warns(UserWarning, match="is not positive sizes"):
        image, read_scale = open_image(tmp_path / "gray.ome.zarr")
    assert read_scale is None and image.shape == gray.shape


def _unknown_unit_input(tmp_path, kind, plane):
    """``plane`` with a pixel size of 0.5 furlong, as OME-XML, ImageJ or OME-Zarr say it."""
    if kind == "ome":
        path = tmp_path / "in.ome.tif"
        sizes = {"PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5}
        units = {"PhysicalSizeXUnit": "furlong", "PhysicalSizeYUnit": "furlong"}
        tifffile.imwrite(path, plane, metadata={"axes": "YX", **sizes, **units})
    elif kind == "imagej":
        path = tmp_path / "in.tif"
        tifffile.imwrite(path, plane, imagej=True, resolution=(2, 2), metadata={"unit": "furlong"})
    else:
        path = tmp_path / "in.ome.zarr"
        group = zarr.open_group(path, mode="w")
        group.create_array("0", data=plane)
        axes = [{"name": a, "type": "space", "unit": "furlong"} for a in "yx"]
        scale = [{"type": "scale", "scale": [0.5, 0.5]}]
        datasets = [{"path": "0", "coordinateTransformations": scale}]
        multiscales = [{"axes": axes, "datasets": datasets}]
        group.attrs["ome"] = {"version": "0.5", "multiscales": multiscales}
    return path


@pytest.mark.parametrize("kind", ["ome", "imagej", "ngff"])
def test_an_unknown_unit_is_dropped_with_one_warning_and_the_outputs_read(tmp_path, gray, kind,
                                                                           capsys):  # fmt: skip
    """A unit no OME-NGFF name stands for went away silently; an OME-TIFF output then
    claimed micrometres (OME-XML's unit of a size that names none)."""
    from napari_colorgan._reader import read_zarr
    from napari_colorgan.io.ome_zarr import read_multiscale
    from napari_colorgan.io.units import input_units

    src = _unknown_unit_input(tmp_path, kind, gray[:64, :96])
    for out in (tmp_path / "out.ome.zarr", tmp_path / "out.ome.tif"):
        code, err = _cli(capsys, "colorize", src, out, "--tile-size", 96, "--quiet")
        assert code == 0 and err.count("warning") == 1, err
        assert f"{src.name}: its unit 'furlong'" in err and "without a unit" in err
    multiscale = read_multiscale(zarr.open_group(tmp_path / "out.ome.zarr", mode="r"), "out")
    assert multiscale.scales[0][-2:] == [0.5, 0.5]  # the sizes are kept (c, y, x)
    axes = dict(zarr.open_group(tmp_path / "out.ome.zarr").attrs)["ome"]["multiscales"][0]["axes"]
    assert not [a for a in axes if "unit" in a]
    assert read_zarr(str(tmp_path / "out.ome.zarr"))
    with tifffile.TiffFile(tmp_path / "out.ome.tif") as tif:
        assert 'PhysicalSizeXUnit="reference frame"' in tif.ome_metadata
    assert not any(input_units(tmp_path / "out.ome.tif"))  # no µm, and no warning
    assert open_image(tmp_path / "out.ome.tif")[1][-2:] == (0.5, 0.5)
    assert "warning" not in capsys.readouterr().err


def test_pixel_sizes_without_any_unit_make_an_ome_zarr(tmp_path, gray, capsys):
    """TIFF resolution tags with ResolutionUnit NONE: sizes, no unit (a TypeError in the
    OME-Zarr sink; an OME-TIFF output claimed micrometres)."""
    from napari_colorgan.io.ome_zarr import read_multiscale

    src = tmp_path / "res.tif"
    tifffile.imwrite(src, gray[:64, :96], resolution=(2, 2), resolutionunit=1)
    for out in (tmp_path / "o.ome.zarr", tmp_path / "o.ome.tif"):
        code, err = _cli(capsys, "colorize", src, out, "--tile-size", 96, "--quiet")
        assert code == 0 and not err, err
    multiscale = read_multiscale(zarr.open_group(tmp_path / "o.ome.zarr", mode="r"), "o")
    assert multiscale.scales[0][-2:] == [0.5, 0.5]
    with tifffile.TiffFile(tmp_path / "o.ome.tif") as tif:
        assert 'PhysicalSizeX="0.5" PhysicalSizeXUnit="reference frame"' in tif.ome_metadata


# ---------------------------------------------------------------- training recipes


def _recipe(train: str = "", entry: str = "") -> str:
    """A tiny recipe; ``train`` and ``entry`` (``key = value``) replace or add a line."""
    settings = {"steps": "2", "batch": "2", "patch": "32", "warmup": "0"}
    data = {"source": '"skimage:astronaut"', "rows": "[0.0, 0.5]"}
    for line, table in ((train, settings), (entry, data)):
        if line:
            key, _, value = line.partition(" = ")
            table[key] = value
    lines = ["[train]", *(f"{k} = {v}" for k, v in settings.items()), "", "[[data]]"]
    lines += [f"{k} = {v}" for k, v in data.items()]
    return "\n".join([*lines, "", "[[heldout]]", 'source = "skimage:astronaut"', ""])


@pytest.mark.parametrize(
    "extra, data, message",
    [
        ("steps = -5", "", "steps must be an integer of at least 1, got -5"),
        ("steps = 0", "", "steps must be an integer of at least 1, got 0"),
        ("steps = 2.5", "", "steps must be an integer of at least 1, got 2.5"),
        ('steps = "abc"', "", "steps must be an integer of at least 1, got 'abc'"),
        ('size = "huge"', "", "size must be one of 'lite', 'medium', 'standard', got 'huge'"),
        ("checkpoint_every = 0", "", "checkpoint_every must be an integer of at least 1"),
        ("log_every = 0", "", "log_every must be an integer of at least 1"),
        ("ema = 2.0", "", "ema must be a number of at least 0 and below 1, got 2.0"),
        ("lr_g = nan", "", "lr_g must be a number above 0, got nan"),
        ("guided = 1", "", "guided must be true or false, got 1"),
        ('device = "gpu"', "", "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        ("learning_rate = 3", "", "unknown setting 'learning_rate'"),
        ("augment = { sharpen = 2 }", "", "unknown augment option 'sharpen'"),
        ("augment = { bits = 3 }", "", "augment.bits must be 0 (off) or an integer in 6..16"),
        ('base = "nosuchmodel"', "", "base 'nosuchmodel' is neither a shipped model"),
        ("", 'source = "skimage:nosuch"', "skimage:nosuch is not one of scikit-image's images"),
        ("", 'source = "missing.png"', "source missing.png does not exist"),
        ("", "rows = [0.5, 0.2]", "rows must be [start, stop] with 0 <= start < stop <= 1"),
        ("", "weight = -1", "weight must be a number above 0, got -1"),
        ("", "colour = 3", "unknown key 'colour'"),
        ("steps = = 2", "", "bad.toml: not valid TOML"),
    ],
)
def test_a_bad_recipe_is_one_line_naming_file_and_key(tmp_path, capsys, extra, data, message):
    recipe = tmp_path / "bad.toml"
    recipe.write_text(_recipe(extra, data))
    code, err = _cli(capsys, "train", recipe, "--out", tmp_path / "w.safetensors")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "bad.toml" in err and message in err
    assert not (tmp_path / "logs").exists()  # refused before anything ran


@pytest.mark.parametrize(
    "extra, data, message",
    [
        ("steps = -5", "", "steps must be an integer of at least 1, got -5"),
        ("ema = 2.0", "", "ema must be a number of at least 0 and below 1, got 2.0"),
        ("augment = { sharpen = 2 }", "", "unknown augment option 'sharpen'"),
        ("", 'source = "missing.png"', "source missing.png does not exist"),
        ("steps = = 2", "", "bad.toml: not valid TOML"),
    ],
)
def test_every_reader_of_a_recipe_checks_it_the_same(tmp_path, extra, data, message):
    """``TrainConfig.from_toml`` (scripts, benchmarks) is ``read_recipe``: it accepted
    ``steps = -5`` and ``ema = 2.0``, and its TOML errors did not name the file."""
    from napari_colorgan.train.recipe import read_recipe
    from napari_colorgan.train.trainer import TrainConfig
    from napari_colorgan.train.validate import RecipeError

    recipe = tmp_path / "bad.toml"
    recipe.write_text(_recipe(extra, data))
    for read in (TrainConfig.from_toml, read_recipe):
        with pytest.raises(RecipeError) as refused:
            read(recipe)
        assert str(refused.value).startswith(str(recipe)) and message in str(refused.value)
    recipe.write_text(_recipe())
    assert TrainConfig.from_toml(recipe) == read_recipe(recipe)


def test_training_into_a_missing_folder_is_refused_before_training(tmp_path, capsys):
    recipe = tmp_path / "ok.toml"
    recipe.write_text(_recipe())
    out = tmp_path / "no" / "such" / "w.safetensors"
    code, err = _cli(capsys, "train", recipe, "--out", out)
    assert code == 1 and "output folder does not exist" in err
    assert not (tmp_path / "logs").exists()


def test_a_checkpoint_continues_after_harmless_changes(tmp_path):
    import dataclasses

    from napari_colorgan.train.checkpoint import load_checkpoint, save_checkpoint
    from napari_colorgan.train.trainer import TrainConfig

    net = torch.nn.Conv2d(1, 2, 3)
    config = TrainConfig(steps=10, device="cpu", log_every=50)
    path = save_checkpoint(tmp_path / "c.safetensors", 5, config, {"G": net}, {})
    later = dataclasses.replace(config, steps=20, device="auto", log_every=10, checkpoint_every=5)
    step, _ = load_checkpoint(path, later, {"G": torch.nn.Conv2d(1, 2, 3)})
    assert step == 5
    with pytest.raises(ValueError, match=r"other settings \(lr_g\)"):
        load_checkpoint(path, dataclasses.replace(config, lr_g=1e-3), {"G": net})


@pytest.mark.parametrize(
    "arch, message",
    [
        ({"context": 3.5}, "context must be an integer in 0..256, got 3.5"),
        ({"context": -1}, "context must be an integer in 0..256, got -1"),
        ({"dropout": 0.5}, "unknown key 'dropout'"),
    ],
)
def test_generator_metadata_is_checked_key_by_key(tmp_path, arch, message):
    path = _variant(tmp_path, "odd", arch=arch)
    with pytest.raises(WeightsError, match=message):
        ncg.load_model(path, device="cpu")


def test_weights_whose_activations_explode_are_refused(tmp_path, capsys):
    tensors = {
        k: v * 1e30 if k.startswith("generator.") and v.is_floating_point() else v
        for k, v in load_file(resolve("general")).items()
    }
    assert all(bool(torch.isfinite(v).all()) for v in tensors.values())
    path = _variant(tmp_path, "exploding", tensors=tensors)
    with pytest.raises(WeightsError, match="exploding.safetensors: its generator gives NaN"):
        ncg.load_model(path, device="cpu")
    iio.imwrite(tmp_path / "in.png", skimage.data.camera()[:64, :64])
    code, err = _cli(capsys, "colorize", tmp_path / "in.png", tmp_path / "o.png", "--model", path)
    assert code == 1 and len(err.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()


def test_every_shipped_model_passes_the_probe():
    from napari_colorgan.models.registry import WEIGHTS_DIR, load_generator

    for path in sorted(WEIGHTS_DIR.rglob("*.safetensors")):
        assert load_generator(path)[0] is not None


# ---------------------------------------------------------------- one line to see, a log to keep


def test_a_user_error_is_one_line_and_its_traceback_goes_to_the_log_file(tmp_path, capsys):
    log = tmp_path / "run.log"
    code, err = _cli(capsys, "colorize", tmp_path / "missing.png", tmp_path / "o.png",
                     "--log-file", log)  # fmt: skip
    assert code == 1 and err.strip().splitlines() == [err.strip()] and "missing.png" in err
    assert "Traceback" in log.read_text() and "FileNotFoundError" in log.read_text()


def test_a_fault_of_ours_is_one_line_with_its_traceback_under_verbose(tmp_path, gray, capsys,
                                                                       monkeypatch):  # fmt: skip
    import napari_colorgan.engine.pipeline as pipeline

    def broken(*args, **kwargs):
        return {}["frames"]  # a programming error, as the first attack met one

    monkeypatch.setattr(pipeline, "colorize_to_file", broken)
    iio.imwrite(tmp_path / "in.png", gray)
    code, err = _cli(capsys, "colorize", tmp_path / "in.png", tmp_path / "o.png")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "internal error KeyError" in err
    code, err = _cli(capsys, "colorize", tmp_path / "in.png", tmp_path / "o.png", "--verbose")
    assert code == 2 and "Traceback" in err and "in broken" in err


def test_a_16_bit_stack_becomes_an_8_bit_film_by_default(tmp_path, gray, capsys):
    pytest.importorskip("av")
    stack = np.stack([np.roll(gray[:64, :96], 5 * k, axis=1) for k in range(4)]).astype(np.uint16)
    tifffile.imwrite(tmp_path / "s16.tif", stack * 200, photometric="minisblack")
    out = tmp_path / "s16.mp4"
    code, err = _cli(capsys, "colorize", tmp_path / "s16.tif", out, "--tile-size", 96, "--quiet")
    assert code == 0, err
    from napari_colorgan.io.video import video_info

    assert video_info(out)["frames"] == 4


def test_tiffs_read_from_many_threads_stay_open_while_read(tmp_path, gray):
    import dask

    from napari_colorgan.io.readers import _TIFFS

    images = []
    for i in range(_TIFFS.limit + 4):  # more files than handles: some are dropped mid-read
        tifffile.imwrite(tmp_path / f"t{i}.tif", np.roll(gray, i, axis=1), tile=(32, 32))
        images.append(open_image(tmp_path / f"t{i}.tif")[0])
    with dask.config.set(scheduler="threads", num_workers=8):
        total = dask.compute(*[image.sum() for image in images])
    assert [int(t) for t in total] == [int(gray.sum())] * len(images)
    assert len(_TIFFS) <= _TIFFS.limit and not _TIFFS._retired and not _TIFFS._busy


@pytest.mark.parametrize("side", [10_000, 60_000])
def test_a_png_claiming_a_huge_size_is_one_line(tmp_path, side, capsys):
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0)  # 16-bit RGB
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    (tmp_path / "bomb.png").write_bytes(png + chunk(b"IEND", b""))
    code, err = _cli(capsys, "colorize", tmp_path / "bomb.png", tmp_path / "o.png", "--from-rgb")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "bomb.png" in err


def test_finetuning_into_a_missing_folder_is_refused_before_training(tmp_path, capsys):
    iio.imwrite(tmp_path / "he.png", skimage.data.immunohistochemistry()[:96, :96])
    out = tmp_path / "no" / "such" / "new.safetensors"
    code, err = _cli(capsys, "finetune", "--base", "general", "--images", tmp_path / "he.png",
                     "--out", out, "--steps", 2)  # fmt: skip
    assert code == 1 and "output folder does not exist" in err
    assert len(err.strip().splitlines()) == 1


def test_a_store_read_another_way_is_not_returned(tmp_path, gray):
    out = tmp_path / "out.ome.zarr"
    counts = gray.astype(np.uint16) * 200
    colorize_to_file(counts, out, "general", tile_size=96, normalize="percentiles")
    with pytest.raises(OutputMismatchError, match="linear_light"):
        colorize_to_file(counts, out, "general", tile_size=96, normalize="linear")
    colorize_to_file(counts, out, "general", tile_size=96, normalize="linear", resume=False)
    np.testing.assert_array_equal(
        np.moveaxis(_store_pixels(out)["0"], 0, -1),
        np.rint(ncg.colorize(counts, "general", normalize="linear") * 65535),
    )
