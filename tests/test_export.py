"""Export: the ONNX graph against the library, and a bioimage.io package through bioimageio.core."""

import json
import socket
import zipfile
from importlib.resources import files

import imageio.v3 as iio
import numpy as np
import onnxruntime as ort
import pytest
import torch
from skimage.color import rgb2lab

import napari_colorgan as ncg
from napari_colorgan.cli import main
from napari_colorgan.color import gray_to_lightness
from napari_colorgan.models.generator import Generator, GeneratorConfig


@pytest.fixture(scope="module")
def ihc_gray() -> np.ndarray:
    """A held-out IHC crop whose sides (100 x 150) are not multiples of the stride."""
    image = iio.imread(files("napari_colorgan.sample_data") / "ihc_bottom.png")
    return (image[40:140, 200:350] / 255).astype(np.float32)


def _run_onnx(path, gray: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (rgb,) = session.run(["rgb"], {"gray": gray})
    return rgb


def test_onnx_matches_the_library_on_a_real_image(tmp_path, ihc_gray):
    path = ncg.export_model("histology", tmp_path / "histology.onnx", format="onnx")
    rgb = _run_onnx(path, ihc_gray[None, None])
    # the library tiles (tile 64 < image); the graph runs the whole plane at once
    expected = ncg.colorize(
        ihc_gray, "histology", normalize="none", precision="float32", tile_size=64
    )
    assert rgb.shape == (1, 3, 100, 150)
    np.testing.assert_allclose(rgb[0].transpose(1, 2, 0), expected, rtol=0, atol=1e-5)
    # colourful, and the input's lightness is kept inside the graph
    assert np.ptp(rgb, axis=1).mean() > 0.05
    L = rgb2lab(rgb[0].transpose(1, 2, 0))[..., 0]
    np.testing.assert_allclose(L, gray_to_lightness(torch.from_numpy(ihc_gray)), atol=0.05)


def test_onnx_has_dynamic_batch_and_size(tmp_path, ihc_gray):
    path = ncg.export_model("histology", tmp_path / "h.onnx", format="onnx")
    pair = np.stack([ihc_gray[:64, :88], ihc_gray[36:, 62:]])[:, None]  # any size, batch 2
    rgb = _run_onnx(path, pair)
    for i, gray in enumerate(pair[:, 0]):
        expected = ncg.colorize(gray, "histology", normalize="none", precision="float32")
        np.testing.assert_allclose(rgb[i].transpose(1, 2, 0), expected, rtol=0, atol=1e-5)


def test_translate_mode_exports_its_rgb(tmp_path, ihc_gray):
    torch.manual_seed(0)
    net = Generator(GeneratorConfig(mode="translate")).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    rgb = _run_onnx(ncg.export_model(net, tmp_path / "t.onnx", format="onnx"), ihc_gray[None, None])
    expected = ncg.colorize(ihc_gray, net, normalize="none", precision="float32")
    np.testing.assert_allclose(rgb[0].transpose(1, 2, 0), expected, rtol=0, atol=1e-5)
    assert np.abs(rgb2lab(expected)[..., 1:]).max() > 1  # not a gray image


def test_cli_writes_an_onnx_file(tmp_path, capsys, ihc_gray):
    out = tmp_path / "histology.onnx"
    assert main(["export", "histology", str(out), "--format", "onnx"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out.resolve()}"
    expected = ncg.colorize(ihc_gray, "histology", normalize="none", precision="float32")
    rgb = _run_onnx(out, ihc_gray[None, None])
    np.testing.assert_allclose(rgb[0].transpose(1, 2, 0), expected, rtol=0, atol=1e-5)


def test_cli_error_is_one_line(tmp_path, capsys):
    assert main(["export", "histology", str(tmp_path / "m.onnx")]) == 1  # default: bioimageio
    err = capsys.readouterr().err
    assert err.startswith("colorgan: error: a bioimageio export is written to a .zip file")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "tflite", "out": "m.zip"}, "format must be one of"),
        ({"format": "onnx", "out": "m.zip"}, "written to a .onnx file"),
        ({"format": "bioimageio", "out": "m.onnx"}, "written to a .zip file"),
    ],
)
def test_bad_settings_are_refused(tmp_path, kwargs, message):
    kwargs["out"] = tmp_path / kwargs["out"]
    with pytest.raises(ValueError, match=message):
        ncg.export_model("histology", **kwargs)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda g: g, r"at least 136x136, got \(100, 150\)"),  # smaller than a block
        (lambda g: np.tile(g * 65535, (2, 1)).astype(np.uint16), "uint8 or float in"),
    ],
)
def test_an_unfit_sample_is_refused(tmp_path, ihc_gray, cut, message):
    with pytest.raises(ValueError, match=message):
        ncg.export_model("histology", tmp_path / "m.zip", sample=cut(ihc_gray))
    assert not list(tmp_path.iterdir())


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a connection fails and is recorded."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_bioimageio_package_passes_bioimageio_test(tmp_path, no_network):
    from bioimageio.core import test_model

    path = ncg.export_model("histology", tmp_path / "histology.zip")
    assert [p.name for p in tmp_path.iterdir()] == ["histology.zip"]  # no partial file left
    summary = test_model(path)
    assert summary.status == "passed", summary.format()
    tested = {d.name for d in summary.details if d.status == "passed"}
    assert "Reproduce test outputs from test inputs (onnx)" in tested
    assert "Reproduce test outputs from test inputs (torchscript)" in tested
    assert no_network == []

    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        rdf = z.read("rdf.yaml").decode()
        expected = np.load(z.open("test_output.npy"))
        gray = np.load(z.open("test_input.npy"))
    assert {"cover.png", "sample_input.png", "README.md", "weights.onnx", "weights.pt"} <= names
    assert "license: BSD-3-Clause" in rdf and "halo: 64" in rdf
    # the expected output is the library's own colourisation of a real image
    np.testing.assert_array_equal(
        expected[0].transpose(1, 2, 0),
        ncg.colorize(gray[0, 0], "histology", normalize="none", precision="float32"),
    )
    provenance = ncg.load_model("histology").provenance
    assert f"steps: {provenance['steps']}" in rdf
    assert json.dumps(provenance["recipe"]).strip('"') in rdf
