"""Shared fixtures: real images from scikit-image, small enough for a 2-core CI."""

import numpy as np
import pytest
import skimage.data
import torch


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut().astype(np.float32) / 255


@pytest.fixture(scope="session")
def ihc_heldout() -> np.ndarray:
    """Bottom half of the IHC slide: never used for training."""
    return skimage.data.immunohistochemistry()[256:].astype(np.float32) / 255


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    return skimage.data.camera()


@pytest.fixture(scope="session")
def random_generator():
    """A lite generator with random (non-trivial) weights, for architecture properties only."""
    from napari_colorgan.models.generator import SIZES, Generator

    torch.manual_seed(0)
    net = Generator(SIZES["lite"]).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


class CountingArray:
    """A read-only array that records which leading-axis planes were read."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.planes_read = set()

    def __getitem__(self, key):
        planes = range(self.shape[0])[key[0]]
        self.planes_read.update([planes] if isinstance(planes, int) else planes)
        return self.data[key]


@pytest.fixture
def counting_array():
    """The :class:`CountingArray` class, for tests that count which planes are read."""
    return CountingArray
