"""The Colorize widget's job without a viewer: what a run reads and how it scales it."""

import numpy as np
import skimage.data

from napari_colorgan._geometry import CURRENT_SLICE, LIVE, WHOLE_LAYER, choose_plane, placement
from napari_colorgan._jobs import ColorizeRun, colorize_job
from napari_colorgan.engine.progress import drive
from napari_colorgan.engine.settings import TileSettings


def _stack() -> np.ndarray:
    moon = skimage.data.moon()[:64, :96].astype(np.uint16) * 200
    stack = np.stack([moon, moon // 3, moon])  # a dark middle plane
    stack[0, :8, :8] = 65535  # a bright corner elsewhere: the range is the stack's
    return stack


def _run(stack, scope, **guidance) -> ColorizeRun:
    shape, scale = stack.shape, (1.0, 1.0, 1.0)
    plane = choose_plane([shape], scale, (0, 0, 0), (1.0, 0, 0), scope)
    options = {"hints": None, "hint_reach": 0, "reference": None, "samples": None}
    options["normalize"] = "auto"
    options.update(guidance)
    return ColorizeRun(
        name="stack",
        image=stack,
        statistics=stack,
        plane=plane,
        scope=scope,
        model="general",
        tiles=TileSettings(device="cpu", precision="float32"),
        placed=placement(plane, scale, (0, 0, 0)),
        **options,
    )


def test_slice_whole_and_live_share_one_intensity_range():
    stack = _stack()
    steps = colorize_job(_run(stack, CURRENT_SLICE))
    assert [next(steps).stage for _ in range(3)] == ["reading", "model", "statistics"]
    sliced = drive(steps, False).rgb
    whole = drive(colorize_job(_run(stack, WHOLE_LAYER)), False).rgb
    live = drive(colorize_job(_run(stack, LIVE)), False).rgb
    assert sliced.shape == (1, 64, 96, 3) and whole.shape == (3, 64, 96, 3)
    np.testing.assert_allclose(sliced[0], whole[1], atol=1e-5)
    np.testing.assert_allclose(np.asarray(live[1]), whole[1], atol=1e-4)
    # the dark plane stays dark: it was scaled with the stack's range, not its own
    assert sliced.mean() < 0.6 * whole[0].mean()


def test_samples_of_a_slice_keep_its_axes():
    stack = _stack()
    run = _run(stack, CURRENT_SLICE, samples=2)
    result = drive(colorize_job(ColorizeRun(**{**run.__dict__, "model": "guided"})), False)
    assert result.rgb.shape == (2, 1, 64, 96, 3) and result.uncertainty.shape == (1, 64, 96)
