"""Shared fixtures: real images from scikit-image, small enough for a 2-core CI.

The suite arranges its own display. Without one (a server, a container, an SSH session) Qt
aborts the whole run when the first napari viewer opens, so before any test runs the suite
starts a private Xvfb when one is installed, or else asks Qt for its offscreen platform, where
napari's canvas has no OpenGL: the tests that open a viewer are then skipped with the reason.
A display that is there (CI's ``xvfb-run``, a desktop) or a platform the caller chose is used
as it is.
"""

import atexit
import os
import select
import shutil
import subprocess

import numpy as np
import pytest
import skimage.data
import torch

_VIEWER_FIXTURE = "make_napari_viewer"
_QT_FIXTURES = {"qtbot", "qapp", _VIEWER_FIXTURE}


def _start_xvfb(timeout: float = 20.0) -> str | None:
    """Start a private Xvfb and return its display (``":N"``), or None if there is none."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return None
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    number = b""
    while not number.endswith(b"\n") and select.select([read_end], [], [], timeout)[0]:
        chunk = os.read(read_end, 16)  # Xvfb writes its display number once it accepts clients
        if not chunk:
            break
        number += chunk
    os.close(read_end)
    if not number.strip().isdigit():
        server.kill()
        return None
    atexit.register(server.terminate)
    return f":{number.strip().decode()}"


def _arrange_display() -> str | None:
    """Give Qt a display; return why viewers cannot open, or None when they can."""
    if any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return None  # a display, or the platform the caller chose
    display = _start_xvfb()
    if display is not None:
        os.environ["DISPLAY"] = display
        return None
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    return (
        "no display and no Xvfb: napari's canvas needs OpenGL, which Qt's offscreen platform "
        "lacks; install Xvfb (apt install xvfb) or run under xvfb-run"
    )


def pytest_collection_modifyitems(config, items) -> None:
    """Arrange a display before the first Qt test, and only when a Qt test is collected."""
    if not any(_QT_FIXTURES & set(getattr(item, "fixturenames", ())) for item in items):
        return
    reason = _arrange_display()
    if reason is None:
        return
    for item in items:
        if _VIEWER_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=reason))




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
