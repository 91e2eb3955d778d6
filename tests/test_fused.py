"""The fused bf16 CPU forward: the generator's own function, on every architecture."""

import numpy as np
import pytest
import torch

import napari_colorgan as ncg
from napari_colorgan.color import gray_to_lightness
from napari_colorgan.engine.fused import FusedGenerator, fused_forward
from napari_colorgan.engine.precision import Precision
from napari_colorgan.engine.spread import HintSpread
from napari_colorgan.models.generator import Generator, GeneratorConfig

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="needs PyTorch's oneDNN kernels"
)


@pytest.fixture(scope="module")
def L_camera(camera):
    gray = torch.from_numpy(camera[64:256, 96:320].astype(np.float32) / 255)
    return gray_to_lightness(gray)[None, None]


def _autocast(model, L, *code):
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        return model(L, *code).float()


def _trained_like(config: GeneratorConfig) -> Generator:
    """A generator with weights of a trained model's scale (not the near-zero init)."""
    torch.manual_seed(0)
    model = Generator(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.6 / max(1, p[0].numel()) ** 0.5)
    return model


def test_shipped_model_is_as_close_to_float32_as_autocast(L_camera):
    model = ncg.load_model("general", device="cpu")
    with torch.inference_mode():
        full = model(L_camera)
    fused = fused_forward(model)
    assert isinstance(fused, FusedGenerator)
    with torch.inference_mode():
        out = fused(L_camera)
    fused_error = (out - full).abs().mean()
    assert 0 < fused_error <= (_autocast(model, L_camera) - full).abs().mean()
    assert (out - full).abs().max() < 1.5  # a* b* units (1.13 for the shipped general)


@pytest.mark.parametrize(
    "config",
    [
        GeneratorConfig(widths=(8, 16, 24), blocks=2),
        GeneratorConfig(widths=(8, 16), blocks=0, attention=False),
        GeneratorConfig(widths=(8, 16, 24), mode="translate"),
        GeneratorConfig(widths=(8, 16, 24), guided=True),
    ],
    ids=["two-blocks", "no-attention", "translate", "guided"],
)
def test_every_architecture_keeps_its_function(config, L_camera):
    model = _trained_like(config)
    L = L_camera
    code = ()
    if config.guided:  # a hint and a reference's colour code
        hints = torch.zeros(1, 3, *L.shape[-2:])
        hints[:, :, 40:48, 40:48] = torch.tensor([0.3, -0.2, 1.0])[None, :, None, None]
        L, code = torch.cat([L, hints], 1), (torch.tensor([0.1, 0.2, 0.05, 0.05, 1.0]),)
    fused = fused_forward(model)
    assert fused is not None
    with torch.inference_mode():
        full, out = model(L, *code), fused(L, *code)
    span = full.abs().max()
    assert span > 0.1  # the outputs are not trivially zero
    assert (out - full).abs().max() <= 0.02 * span
    assert (out - full).abs().max() <= 2 * (_autocast(model, L, *code) - full).abs().max()


def test_rebuilt_when_the_weights_change(L_camera):
    model = _trained_like(GeneratorConfig(widths=(8, 16)))
    first = fused_forward(model)
    assert fused_forward(model) is first  # built once
    with torch.no_grad():
        model.head.bias.add_(0.5)
    second = fused_forward(model)
    assert second is not first
    with torch.inference_mode():
        assert torch.allclose(second(L_camera), model(L_camera), atol=0.05 * 110)


def test_other_models_run_through_autocast():
    guided = ncg.load_model("guided", device="cpu")
    assert fused_forward(guided) is not None  # a Generator: fused
    assert fused_forward(HintSpread(guided, reach=8)) is None
    assert fused_forward(torch.nn.Conv2d(1, 2, 3)) is None


def test_precision_bfloat16_on_cpu_runs_the_fused_form(L_camera):
    model = ncg.load_model("general", device="cpu")
    out = Precision("bfloat16", "cpu").forward(model, L_camera)
    with torch.inference_mode():
        assert torch.equal(out, fused_forward(model)(L_camera))
