"""The hint spread: exact at hints, edge-aware, local."""

import numpy as np
import pytest
import skimage.data
import torch

from napari_colorgan.engine.spread import spread_hints
from napari_colorgan.models.generator import AB_SCALE


@pytest.fixture
def camera_L():
    """A real photograph as lightness: a dark coat against a bright sky, (1, 1, 256, 256)."""
    camera = skimage.data.camera()[:256, :256].astype(np.float32) / 2.55
    return torch.from_numpy(camera)[None, None]


def _hint(L, y, x, ab=(60.0, -40.0)):
    hints = torch.zeros(1, 3, *L.shape[-2:])
    hints[0, 0, y - 1 : y + 2, x - 1 : x + 2] = ab[0] / AB_SCALE
    hints[0, 1, y - 1 : y + 2, x - 1 : x + 2] = ab[1] / AB_SCALE
    hints[0, 2, y - 1 : y + 2, x - 1 : x + 2] = 1
    return hints


def test_hinted_pixels_take_the_hint_and_similar_neighbours_follow(camera_L):
    ab = torch.zeros(1, 2, 256, 256)
    y, x = 160, 120  # on the dark coat
    out = spread_hints(camera_L, _hint(camera_L, y, x), ab, reach=48)
    assert torch.allclose(out[0, :, y, x], torch.tensor([60.0, -40.0]))
    near = out[0, 0, y - 8 : y + 9, x - 8 : x + 9][
        (camera_L[0, 0, y - 8 : y + 9, x - 8 : x + 9] - camera_L[0, 0, y, x]).abs() < 3
    ]
    assert near.numel() > 20 and near.mean() > 40  # the coat around the hint turns with it


def test_colour_does_not_cross_into_other_lightness_or_beyond_reach(camera_L):
    ab = torch.randn(1, 2, 256, 256) * 5
    y, x = 160, 120
    L = camera_L[0, 0]
    out = spread_hints(camera_L, _hint(camera_L, y, x), ab, reach=48)
    changed = (out - ab).abs().amax(1)[0]
    assert not changed[(L - L[y, x]).abs() > 30].any()  # the sky is left alone
    yy, xx = torch.meshgrid(torch.arange(256), torch.arange(256), indexing="ij")
    far = (yy - y).abs().maximum((xx - x).abs()) > 48 + 8 + 1
    assert not changed[far].any()  # a local operator: nothing beyond its reach moves


def test_no_hints_or_no_reach_is_the_identity(camera_L):
    ab = torch.randn(1, 2, 256, 256)
    assert spread_hints(camera_L, torch.zeros(1, 3, 256, 256), ab, 48) is ab
    assert spread_hints(camera_L, _hint(camera_L, 50, 50), ab, 0) is ab
