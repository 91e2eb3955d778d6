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
