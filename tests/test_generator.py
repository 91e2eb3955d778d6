import numpy as np
import pytest
import torch

from napari_colorgan.models.discriminator import DiscriminatorConfig, PatchDiscriminator
from napari_colorgan.models.generator import SIZES, Generator, GeneratorConfig, count_parameters


def test_sizes():
    assert count_parameters(Generator(SIZES["lite"])) <= 500_000
    assert count_parameters(Generator(SIZES["standard"])) > 4 * count_parameters(
        Generator(SIZES["lite"])
    )


@pytest.mark.parametrize("mode, channels", [("colorize", 2), ("translate", 3)])
def test_modes_and_output_ranges(mode, channels):
    net = Generator(GeneratorConfig(widths=(8, 16, 24), mode=mode)).eval()
    L = torch.rand(2, 1, 32, 48) * 100
    out = net(L)
    assert out.shape == (2, channels, 32, 48)
    if mode == "translate":
        assert out.min() >= 0 and out.max() <= 1
    else:
        assert out.abs().max() < 110


def test_bad_config_and_input_shape():
    with pytest.raises(ValueError, match="mode must be one of"):
        GeneratorConfig(mode="paint")
    net = Generator(SIZES["lite"])
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.zeros(1, 1, 30, 32))


def test_no_spatial_statistics_layers():
    net = Generator(SIZES["standard"])
    forbidden = (
        torch.nn.modules.batchnorm._NormBase,
        torch.nn.GroupNorm,
        torch.nn.LayerNorm,
        torch.nn.AdaptiveAvgPool2d,
        torch.nn.AdaptiveMaxPool2d,
        torch.nn.MultiheadAttention,
    )
    assert not [m for m in net.modules() if isinstance(m, forbidden)]


def test_crop_with_halo_reproduces_whole_image(random_generator, camera):
    """The generator is a local operator: a stride-aligned crop plus halo is exact."""
    net = random_generator
    L = torch.from_numpy(camera[:256, :320].astype(np.float32) / 2.55)[None, None]
    whole = net(L)
    h, s = net.halo(), net.stride
    y0, x0, size = 96, 120, 40  # an interior crop, origin aligned to the stride
    assert y0 % s == 0 and x0 % s == 0
    window = L[..., y0 - h : y0 + size + h, x0 - h : x0 + size + h]
    part = net(window)[..., h : h + size, h : h + size]
    torch.testing.assert_close(part, whole[..., y0 : y0 + size, x0 : x0 + size], atol=1e-4, rtol=0)
    # and the halo is needed: a crop without it differs
    bare = net(L[..., y0 : y0 + size, x0 : x0 + size])
    assert (bare - whole[..., y0 : y0 + size, x0 : x0 + size]).abs().max() > 1e-2


def test_receptive_field_bound_holds(random_generator):
    """No input pixel farther than receptive_field / 2 moves the centre output."""
    net = random_generator
    size = 256
    L = (torch.rand(1, 1, size, size) * 100).requires_grad_(True)
    net(L)[0, :, size // 2, size // 2].sum().backward()
    ys, xs = torch.nonzero(L.grad[0, 0].abs() > 0, as_tuple=True)
    reach = max((ys - size // 2).abs().max(), (xs - size // 2).abs().max()).item()
    assert 0 < reach <= net.receptive_field() // 2
    assert reach > net.receptive_field() // 4  # the bound is not wildly loose


def test_discriminator_is_spectral_normalised_patchgan():
    disc = PatchDiscriminator()
    convs = [m for m in disc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(
        hasattr(m, "parametrizations") and "weight" in m.parametrizations for m in convs
    )
    assert disc.receptive_field() == 70
    feats = disc(torch.rand(2, 1, 128, 128) * 100, torch.zeros(2, 2, 128, 128))
    assert feats[-1].shape == (2, 1, 14, 14)
    deeper = PatchDiscriminator(DiscriminatorConfig(depth=4))
    assert deeper.receptive_field() > 70
