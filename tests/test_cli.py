import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import napari_colorgan as ncg
from napari_colorgan.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def test_colorize_png_to_png(tmp_path, capsys):
    out = tmp_path / "ihc.png"
    assert main(["colorize", str(SAMPLES / "ihc_bottom.png"), str(out), "--quiet"]) == 0
    rgb = iio.imread(out)
    assert rgb.shape == (256, 512, 3) and rgb.dtype == np.uint8
    assert "wrote" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*partial*"))


def test_colorize_uint16_tiff_to_tiff(tmp_path):
    out = tmp_path / "hubble.tif"
    code = main(
        [
            "colorize",
            str(SAMPLES / "hubble_right_uint16.tif"),
            str(out),
            "--quiet",
            "--tile-size",
            "256",
            "--dtype",
            "uint16",
        ]
    )
    assert code == 0
    rgb = tifffile.imread(out)
    assert rgb.shape == (872, 400, 3) and rgb.dtype == np.uint16


def test_stack_to_tiff(tmp_path):
    out = tmp_path / "nuclei.tif"
    assert main(["colorize", str(SAMPLES / "nuclei3d.tif"), str(out), "--quiet"]) == 0
    assert tifffile.imread(out).shape == (32, 128, 128, 3)


def test_rgb_needs_from_rgb(tmp_path, capsys):
    src = tmp_path / "colour.png"
    iio.imwrite(src, iio.imread(SAMPLES / "he_crop_rgb.png"))
    assert main(["colorize", str(src), str(tmp_path / "o.png"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "looks like an RGB" in err and "--from-rgb" in err and len(err.strip().splitlines()) == 1
    assert main(["colorize", str(src), str(tmp_path / "o.png"), "--quiet", "--from-rgb"]) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["colorize", "missing.png", "out.png"], "not found"),
        (["colorize", "{samples}/moon.png", "out.bmp"], "supported outputs"),
        (["colorize", "{samples}/nuclei3d.tif", "{tmp}/o.png"], "PNG holds a single 2-D image"),
        (["colorize", "{samples}/moon.png", "{tmp}/o.png", "--model", "nope"], "unknown model"),
        (["colorize", "{samples}/moon.png", "{tmp}/o.png", "--normalize", "x"], "--normalize"),
        (["colorize", "{samples}/README.md", "{tmp}/o.png"], "supported inputs"),
    ],
)
def test_errors_are_one_line(tmp_path, capsys, args, message):
    args = [a.format(samples=SAMPLES, tmp=tmp_path) for a in args]
    assert main([*args, "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert main(["colorize", str(bad), str(tmp_path / "o.png"), "--quiet"]) == 1
    assert "cannot decode" in capsys.readouterr().err


def test_models_lists_general(capsys):
    assert main(["models"]) == 0
    assert "general" in capsys.readouterr().out


def test_console_script_help_and_exit_code():
    """The installed `colorgan` script: --help on each command, a clean failure."""
    exe = [sys.executable, "-m", "napari_colorgan.cli"]
    for sub in ([], ["colorize"], ["models"], ["evaluate"], ["train"]):
        out = subprocess.run([*exe, *sub, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "usage: colorgan" in out.stdout
    bad = subprocess.run([*exe, "colorize", "nope.png", "x.png"], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("colorgan: error:")


def test_evaluate_json(capsys):
    import json

    args = ["evaluate", str(SAMPLES / "he_crop_rgb.png"), "--model", "histology", "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)["he_crop_rgb.png"]
    assert set(result) == {"model", "gray", "mean-chroma", "l1-unet"}
    # on a held-out crop of its own stain the histology model beats the trivial baselines
    de = {method: m["delta_e2000"] for method, m in result.items()}
    assert de["model"] < de["gray"] and de["model"] < de["mean-chroma"]



def test_a_camera_gray_declared_linear_from_the_command_line(tmp_path, capsys):
    """``--normalize linear`` in colorize and evaluate is the API's normalize="linear"."""
    import json

    from napari_colorgan.grays import make_gray

    import skimage.data

    rgb = skimage.data.immunohistochemistry()[256:, :320]  # the held-out bottom half
    truth, src, out = tmp_path / "ihc.png", tmp_path / "cam.tif", tmp_path / "cam_rgb.tif"
    iio.imwrite(truth, rgb)
    tifffile.imwrite(src, make_gray(rgb, "linear16"))
    args = ["colorize", str(src), str(out), "--model", "histology", "--quiet", "--dtype", "uint16"]
    assert main([*args, "--normalize", "linear"]) == 0
    expected = ncg.colorize(tifffile.imread(src), "histology", normalize="linear")
    np.testing.assert_array_equal(tifffile.imread(out), np.rint(expected * 65535))
    capsys.readouterr()
    scores = {}
    for normalize in ("percentiles", "linear"):
        args = ["evaluate", str(truth), "--model", "histology", "--gray", "linear16",
                "--normalize", normalize, "--json", "--no-two-sample"]  # fmt: skip
        assert main(args) == 0
        scores[normalize] = json.loads(capsys.readouterr().out)["ihc.png"]["model"]
    # declared linear, the camera gray colours closer to the truth than read as encoded
    assert scores["linear"]["delta_e2000_chroma"] < scores["percentiles"]["delta_e2000_chroma"]

def _tiny_recipe(folder, steps: int):
    recipe = folder / "tiny.toml"
    recipe.write_text(
        f"[train]\nsteps = {steps}\nwarmup = 1\nbatch = 2\npatch = 32\nseed = 0\n"
        '[[data]]\nsource = "skimage:coffee"\n'
    )
    return recipe, folder / "tiny.safetensors"


def test_train_flags_override_the_recipe(tmp_path, capsys):
    recipe, out = _tiny_recipe(tmp_path, steps=50)
    flags = ["--steps", "3", "--seed", "7", "--precision", "float32", "--threads", "1"]
    assert main(["train", str(recipe), "--out", str(out), *flags]) == 0
    provenance = ncg.load_model(out).provenance
    assert provenance["steps"] == 3
    assert provenance["seed"] == 7
    assert provenance["precision"] == "float32"


def test_train_command_writes_weights(tmp_path, capsys):
    recipe, out = _tiny_recipe(tmp_path, steps=2)
    assert main(["train", str(recipe), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert (
        main(
            [
                "colorize",
                str(SAMPLES / "moon.png"),
                str(tmp_path / "m.png"),
                "--model",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )


def test_every_option_shows_its_default():
    """`--help` of every subcommand names each option's default (flags are off unless given)."""
    import argparse

    from napari_colorgan.cli import _HelpFormatter, _parser

    subcommands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    formatter = _HelpFormatter("colorgan")
    missing = [
        f"{name} {action.option_strings[-1]}"
        for name, sub in subcommands.choices.items()
        for action in sub._actions
        if action.option_strings
        and not (action.required or action.nargs == 0)  # required options, flags, --help
        and "default" not in formatter._get_help_string(action)
    ]
    assert not missing


def test_library_messages_in_command_line_terms(tmp_path, capsys):
    """A library error names the option (`--model guided`), not the keyword (model='guided')."""
    out = str(tmp_path / "o.png")
    moon = str(SAMPLES / "moon.png")
    assert main(["colorize", moon, out, "--model", "general", "--hint", "10,10,#ff0000"]) == 1
    err = capsys.readouterr().err
    assert "--model guided" in err and "model=" not in err
    assert main(["colorize", moon, out, "--tile-size", "7", "--quiet"]) == 1
    assert "--tile-size 7 is below this model's minimum of 8" in capsys.readouterr().err


@pytest.mark.parametrize("normalize", ["none", "auto"])
def test_normalize_none_refuses_integers(tmp_path, capsys, normalize):
    """normalize="none" on uint8 would be a white image: refused, in the API and the CLI."""
    moon = iio.imread(SAMPLES / "moon.png")
    if normalize == "none":
        with pytest.raises(ValueError, match=r'normalize="none" takes floats .* got uint8'):
            ncg.colorize(moon[:64, :64], "general", normalize="none")
        with pytest.raises(ValueError, match=r"takes values in \[0, 1\], got 0.2353 to 1.804"):
            ncg.colorize(moon[:64, :64] / 127.5, "general", normalize="none")
    out = tmp_path / "o.png"
    code = main(["colorize", str(SAMPLES / "moon.png"), str(out), "--normalize", normalize])
    assert code == (1 if normalize == "none" else 0)
    if normalize == "none":
        assert "--normalize none takes floats" in capsys.readouterr().err and not out.exists()


def test_tile_size_below_the_model_minimum_is_refused():
    moon = iio.imread(SAMPLES / "moon.png")[:64, :64]
    with pytest.raises(ValueError, match="tile_size=7 is below this model's minimum of 8"):
        ncg.colorize(moon, "general", tile_size=7)
    with pytest.raises(ValueError, match="minimum of 16"):
        ncg.colorize(moon, "general", tile_size=8, render_scale=2)
    assert ncg.colorize(moon, "general", tile_size=8).shape == (64, 64, 3)


def _two_inputs(folder: Path) -> Path:
    """A folder of two gray images: held-out IHC (histology's own) and a fluorescence plane."""
    folder.mkdir()
    iio.imwrite(folder / "ihc.png", iio.imread(SAMPLES / "ihc_bottom.png")[:, :256])
    tifffile.imwrite(folder / "nuclei.tif", tifffile.imread(SAMPLES / "nuclei3d.tif")[16])
    return folder


def test_batch_creates_its_folder_and_checks_the_format_first(tmp_path, capsys):
    """The API and the CLI alike: a missing output folder is made, a bad suffix refused at once."""
    src = _two_inputs(tmp_path / "in")
    report = ncg.colorize_batch(src, tmp_path / "out" / "api", suffix=".png")
    assert report.ok and len(report.written) == 2
    assert (tmp_path / "out" / "api" / "nuclei.png").is_file()
    assert main(["colorize", str(src), str(tmp_path / "out" / "cli"), "--suffix", ".png"]) == 0
    assert (tmp_path / "out" / "cli" / "ihc.png").is_file()
    capsys.readouterr()
    for suffix in (".bmp", "png"):
        with pytest.raises(ValueError, match="not an output format"):
            ncg.colorize_batch(src, tmp_path / "never", suffix=suffix)
        assert main(["colorize", str(src), str(tmp_path / "never"), "--suffix", suffix]) == 1
        err = capsys.readouterr().err.strip()
        assert f"--suffix {suffix} is not an output format" in err and len(err.splitlines()) == 1
    with pytest.raises(ValueError, match="JPEG holds 8-bit samples only"):
        ncg.colorize_batch(src, tmp_path / "never", suffix=".jpg", dtype="uint16")
    assert not (tmp_path / "never").exists() or not any((tmp_path / "never").iterdir())


def test_out_of_domain_warning_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    """One warning per event: no log line beside it, and in a batch the file's name."""
    from napari_colorgan.models import domain

    src = tmp_path / "in"  # astronomy's own field and a fluorescence plane
    src.mkdir()
    tifffile.imwrite(src / "hubble.tif", tifffile.imread(SAMPLES / "hubble_right_uint16.tif"))
    tifffile.imwrite(src / "nuclei.tif", tifffile.imread(SAMPLES / "nuclei3d.tif")[16])
    monkeypatch.setattr(domain, "_warned", set())
    out = tmp_path / "one.png"
    assert main(["colorize", str(src / "nuclei.tif"), str(out), "--model", "astronomy"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "far from" in line]
    assert len(err) == 1 and err[0].startswith("colorgan: warning: this image is far")
    assert "Plugins > ColorGAN > Fine-tune" in err[0]
    monkeypatch.setattr(domain, "_warned", set())
    args = ["colorize", str(src), str(tmp_path / "batch"), "--model", "astronomy", "--quiet"]
    assert main([*args, "--suffix", ".png"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "far from" in line]
    assert len(err) == 1 and err[0].startswith("colorgan: warning: nuclei.tif: this image")


def test_models_prints_a_table_of_heldout_scores(capsys):
    """Name, domain, size, and per held-out set the model's ΔE2000 beside its baselines'."""
    from napari_colorgan.models.catalogue import generator_parameters
    from napari_colorgan.models.registry import read_metadata, resolve, shipped_regression

    assert main(["models"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert "model  L1 U-Net    gray  mean chroma" in text
    prov = read_metadata(resolve("histology"))["provenance"]
    l1 = read_metadata(shipped_regression("histology"))["provenance"]["heldout_metrics"]
    heading = next(i for i, line in enumerate(lines) if line.startswith("histology ("))
    size = generator_parameters(resolve("histology")) / 1e6
    assert "H&E" in lines[heading] and f"{size:.2f} M parameters" in lines[heading]
    for line, (part, m) in zip(lines[heading + 1 :], prov["heldout_metrics"].items()):
        gray = prov["heldout_baselines"][part]["gray"]["delta_e2000"]
        numbers = [float(v) for v in line.split()[-4:]]
        assert numbers[:3] == [round(m["delta_e2000"], 2), round(l1[part]["delta_e2000"], 2),
                               round(gray, 2)]
    for name in ncg.list_models():
        assert any(line.startswith(f"{name} (") for line in lines)
