"""Precision of the generator's forward: detection, choice, and what reduced precision costs."""

from pathlib import Path

import numpy as np
import pytest
import torch

import napari_colorgan as ncg
from napari_colorgan.color import gray_to_lightness, lab_to_rgb_in_gamut
from napari_colorgan.engine.precision import (
    Precision,
    choose_precision,
    cpu_has_native_bf16,
    default_batch_size,
    default_tile_size,
    resolve_precision,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def general():
    return ncg.load_model("general", device="cpu")


@pytest.fixture(scope="module")
def L_camera(camera):
    """L of a 256 x 256 crop of the cameraman, ``(1, 1, 256, 256)``."""
    gray = torch.from_numpy(camera[128:384, 128:384].astype(np.float32) / 255)
    return gray_to_lightness(gray)[None, None]


@pytest.mark.parametrize(
    ("asked", "device", "native", "cuda_bf16", "expected"),
    [
        ("auto", "cpu", True, False, "bfloat16"),
        ("auto", "cpu", False, False, "float32"),
        ("auto", "cuda", False, True, "bfloat16"),
        ("auto", "cuda", False, False, "float16"),
        ("auto", "mps", False, False, "float32"),
        ("float32", "cpu", True, False, "float32"),
        ("float32", "cuda", False, True, "float32"),
        ("bfloat16", "cpu", True, False, "bfloat16"),
        ("bfloat16", "cuda", False, True, "bfloat16"),
    ],
)
def test_choice_per_capability(asked, device, native, cuda_bf16, expected):
    chosen = choose_precision(asked, device, native_bf16=native, cuda_bf16=cuda_bf16)
    assert chosen == Precision(expected, device)
    assert chosen.reduced == (expected != "float32")


@pytest.mark.parametrize(("device", "cuda_bf16"), [("cpu", False), ("mps", False), ("cuda", False)])
def test_forced_bfloat16_without_it_names_the_device(device, cuda_bf16):
    with pytest.raises(ValueError, match=f"not supported natively on this {device}"):
        choose_precision("bfloat16", device, native_bf16=False, cuda_bf16=cuda_bf16)


def test_unknown_precision_is_named():
    with pytest.raises(ValueError, match="got 'half'"):
        resolve_precision("half", "cpu")


def test_detection_matches_the_cpu_flags():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("CPU flags are read from /proc/cpuinfo (Linux)")
    flags = set(cpuinfo.read_text().split())
    native = bool({"avx512_bf16", "amx_bf16"} & flags)
    assert cpu_has_native_bf16() == native
    expected = "bfloat16" if native else "float32"
    assert resolve_precision("auto", "cpu") == Precision(expected, "cpu")


def test_float32_is_the_plain_forward_bit_for_bit(general, L_camera):
    with torch.inference_mode():
        plain = general(L_camera)
    before = L_camera.clone()
    out = resolve_precision("float32", "cpu").forward(general, L_camera)
    assert out.dtype == torch.float32
    assert torch.equal(out, plain)
    assert torch.equal(L_camera, before)  # the input is left as it was


def test_bfloat16_stays_close_to_float32(general, L_camera):
    with torch.inference_mode():
        plain = general(L_camera)
    out = Precision("bfloat16", "cpu").forward(general, L_camera)
    assert out.dtype == torch.float32
    diff = (out - plain).abs()
    assert 0 < diff.max() < 1.5  # a* b* units (range about -110..110): 1.39 for the shipped general
    assert diff.mean() < 0.12  # 0.107 for the shipped general (0.064 before training on varied grays)


@pytest.mark.parametrize("name", ["float32", "bfloat16"])
def test_tiles_equal_the_whole_image_within_each_precision(general, camera, name):
    """128 px tiles with the model's halo, stitched, against one forward of 512 x 512."""
    precision = Precision(name, "cpu")
    L = gray_to_lightness(torch.from_numpy(camera.astype(np.float32) / 255))[None, None]
    whole = precision.forward(general, L)
    tiled = torch.empty_like(whole)
    size, tile, halo = L.shape[-1], 128, general.halo()
    for y in range(0, size, tile):
        for x in range(0, size, tile):
            y0, x0 = max(0, y - halo), max(0, x - halo)
            window = L[..., y0 : min(size, y + tile + halo), x0 : min(size, x + tile + halo)]
            pred = precision.forward(general, window)
            tiled[..., y : y + tile, x : x + tile] = pred[
                ..., y - y0 : y - y0 + tile, x - x0 : x - x0 + tile
            ]
    rgb_whole, rgb_tiled = (lab_to_rgb_in_gamut(L[0], ab[0]) for ab in (whole, tiled))
    assert (rgb_tiled - rgb_whole).abs().max() <= 1 / 255
    if name == "float32":
        assert torch.equal(tiled, whole)


@pytest.mark.parametrize("name", ["float32", "bfloat16"])
def test_cpu_policy_is_the_measured_one(name):
    """docs/benchmarks.md: 512 px tiles peak at both precisions; batching never helps."""
    precision = Precision(name, "cpu")
    assert default_tile_size(precision) == 512
    assert default_batch_size(precision, (640, 640), "cpu") == 1


@pytest.mark.cuda
@cuda
def test_auto_on_cuda_is_amp():
    chosen = resolve_precision("auto", "cuda")
    assert chosen.reduced and chosen.device_type == "cuda"
    assert chosen.dtype == ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")


@pytest.mark.cuda
@cuda
def test_tiled_equals_whole_under_amp_on_cuda(camera):
    gray = camera.astype(np.float32) / 255
    tiled = ncg.colorize(gray, "general", tile_size=128, device="cuda", normalize="none")
    whole = ncg.colorize(gray, "general", tile_size=512, device="cuda", normalize="none")
    assert np.abs(tiled - whole).max() <= 1 / 255


@pytest.mark.cuda
@cuda
def test_amp_fits_at_least_the_float32_batch():
    full, amp = Precision("float32", "cuda"), resolve_precision("auto", "cuda")
    window = (default_tile_size(amp) + 128,) * 2
    assert default_batch_size(amp, window) >= default_batch_size(full, window) >= 1


@pytest.mark.cuda
@cuda
def test_amp_forward_close_to_float32_on_cuda(L_camera):
    model = ncg.load_model("general", device="cuda")
    L = L_camera.cuda()
    full = resolve_precision("float32", "cuda").forward(model, L)
    amp = resolve_precision("auto", "cuda").forward(model, L)
    assert (amp - full).abs().max() < 1.0


native = pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU emulates bf16")


@pytest.mark.parametrize(
    "name", ["float32", pytest.param("bfloat16", marks=native), pytest.param("auto")]
)
def test_colorize_tiled_equals_whole_within_each_precision(camera, name):
    """The engine at each precision: 128 px tiles against one 512 px window, to 1/255."""
    gray = camera.astype(np.float32) / 255
    tiled = ncg.colorize(gray, "general", tile_size=128, precision=name, normalize="none")
    whole = ncg.colorize(gray, "general", tile_size=512, precision=name, normalize="none")
    assert np.abs(tiled - whole).max() <= 1 / 255
    assert tiled.std() > 0.01  # real colour, so the agreement is not trivial


@native
def test_auto_runs_bf16_on_this_cpu_and_keeps_lightness(camera):
    """Precision auto is not float32 here, costs little colour, and L stays exact."""
    from napari_colorgan.color import rgb_to_lab

    gray = camera[:256, :256].astype(np.float32) / 255
    full = ncg.colorize(gray, "general", precision="float32", normalize="none")
    auto = ncg.colorize(gray, "general", normalize="none")  # the default is "auto"
    assert not np.array_equal(auto, full)
    assert np.abs(auto - full).mean() < 2 / 255
    L_in = gray_to_lightness(torch.from_numpy(gray))
    for rgb in (full, auto):
        L_out = rgb_to_lab(torch.from_numpy(rgb), channel_axis=-1)[..., 0]
        assert (L_out - L_in).abs().max() < 0.05


def test_default_tile_size_is_the_policy_and_large_tiles_still_work(camera):
    from napari_colorgan.engine.settings import TileSettings

    tiles = TileSettings()
    assert tiles.tile_size is None and tiles.precision == "auto"
    assert tiles.tile_size_on("cpu") == default_tile_size(resolve_precision("auto", "cpu"))
    assert TileSettings(tile_size=4096).tile_size_on("cpu") == 4096
    gray = camera[:300, :300].astype(np.float32) / 255
    big = ncg.colorize(gray, "general", tile_size=4096, precision="float32", normalize="none")
    policy = ncg.colorize(gray, "general", precision="float32", normalize="none")
    np.testing.assert_array_equal(big, policy)  # both one window over the whole 300 px


def test_unknown_precision_is_refused_by_colorize(camera):
    with pytest.raises(ValueError, match="precision must be one of .* got 'half'"):
        ncg.colorize(camera[:64, :64], "general", precision="half")
