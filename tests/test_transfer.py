"""Fine-tuning the shipped model on one image of a new domain."""

from pathlib import Path

import pytest
import skimage.data
import torch

import napari_colorgan as ncg
from napari_colorgan.cli import main
from napari_colorgan.engine.pipeline import colorize, to_gray
from napari_colorgan.io.scaling import to_unit_float
from napari_colorgan.metrics import evaluate
from napari_colorgan.train.trainer import ENCODER
from napari_colorgan.train.transfer import finetune

HE = Path(__file__).resolve().parent.parent / "sample_data" / "he_crop_rgb.png"


def _params(module, prefixes):
    return {k: v.clone() for k, v in module.state_dict().items() if k.split(".")[0] in prefixes}


def test_frozen_phase_keeps_the_encoder(tmp_path):
    base = ncg.load_model("general", device="cpu")
    encoder = _params(base, ENCODER)
    trainer = finetune(
        "general",
        [HE],
        steps=3,
        frozen_fraction=1.0,
        batch=2,
        patch=64,
        progress=False,
        device="cpu",
    )
    after = _params(trainer.G, ENCODER)
    assert all(torch.equal(encoder[k], after[k]) for k in encoder)
    head_before = base.state_dict()["head.weight"]
    assert not torch.equal(head_before, trainer.G.state_dict()["head.weight"])


def test_cli_finetune_writes_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "he.safetensors"
    args = ["finetune", "--images", str(HE), "--out", str(out), "--steps", "4", "--patch", "64"]
    assert main(args) == 0
    model = ncg.load_model(out, device="cpu")
    prov = model.config["provenance"]
    assert prov["base"] == "general" and prov["data"] == ["he_crop_rgb.png"] and prov["steps"] == 4
    assert prov["train_config"]["freeze_encoder"] == 1 and prov["train_config"]["base"] == "general"


def test_finetune_needs_images():
    with pytest.raises(ValueError, match="at least one colour image"):
        finetune("general", [], steps=2)


def test_a_short_finetune_beats_its_base_on_the_rest_of_the_slide():
    """The README's minute: histology tuned on the IHC top half, scored below."""
    ihc = skimage.data.immunohistochemistry()
    top, bottom = ihc[:256], to_unit_float(ihc[256:])
    gray = to_gray(bottom)
    before = evaluate(colorize(gray, "histology", normalize="none"), bottom)["delta_e2000"]
    trainer = finetune("histology", [top], steps=150, progress=False, device="cpu")
    after = evaluate(colorize(gray, trainer.G_ema.eval(), normalize="none"), bottom)["delta_e2000"]
    assert after < before - 0.1, (before, after)
