"""Colourising a film frame by frame into an MP4: bounded memory, resumable, temporal follow.

Frames are decoded a chunk at a time and colourised in order, one at a time, so
``temporal`` mode can carry each frame's colours to the next (the previous frame
is the last one the sink holds, also after a resume). Memory holds one decoded
chunk and one frame's result.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from ..io.scaling import Intensity
from ..io.video import Mp4Sink
from ..models.contract import ColorModel, is_guided
from .guided import _follow_previous, palette_code
from .planes import Follow, run_planes
from .progress import Progress
from .settings import Guidance, TileSettings


def colorize_frames(
    frames: Any,
    sink: Mp4Sink,
    net: ColorModel,
    intensity: Intensity,
    tiles: TileSettings,
    guidance: Guidance,
    context: Any = None,
) -> Generator[Progress, None, Any]:
    """Colourise ``(T, Y, X)`` frames after those ``sink`` holds, then encode the MP4.

    Parameters
    ----------
    frames : array-like, shape (T, Y, X)
        A lazy video (see :func:`~napari_colorgan.io.video.open_video`) or any
        stack; read one chunk of its first axis at a time.
    sink : Mp4Sink
        Where finished frames go; its ``done`` frames are skipped.
    net, intensity, tiles
        The model, the global intensity range and the tile settings.
    guidance : Guidance
        ``temporal`` and ``reference`` are used; hints and samples are refused.
    context : ndarray, optional
        A context model's image code, one for the whole film (no flicker).

    Yields
    ------
    Progress
        Stage ``"frame"`` (frames colourised), then ``"encoded frame"``.

    Returns
    -------
    pathlib.Path
        The MP4 written.
    """
    if guidance.hints is not None or guidance.samples is not None:
        raise ValueError("hints and samples are not available for MP4 output; write a .tif")
    if guidance.temporal and not is_guided(net):
        raise ValueError("temporal needs a guided model, e.g. model='guided'")
    code = palette_code(net, guidance.reference)
    total = frames.shape[0]
    chunk = max(frames.chunks[0]) if hasattr(frames, "chunks") else 16
    previous = sink.previous()
    yield Progress("frame", sink.done, total)
    for start in range(sink.done - sink.done % chunk, total, chunk):
        block = np.asarray(frames[start : start + chunk])
        for offset in range(max(sink.done - start, 0), len(block)):
            follow = _after(previous) if guidance.temporal else None
            steps = run_planes(
                block[offset : offset + 1],
                net,
                intensity,
                tiles,
                code=code,
                context=context,
                follow=follow,
                hint_reach=guidance.hint_reach,
            )
            rgb = _finish(steps)
            sink.write(rgb, block[offset : offset + 1])
            previous = rgb[0]
            yield Progress("frame", sink.done, total)
    for done, frames_total in sink.finish():
        yield Progress("encoded frame", done, frames_total)
    return sink.path


def _after(previous: np.ndarray | None) -> Follow:
    """A ``follow`` for one frame that carries the colours of ``previous`` (None: none)."""

    def follow(
        gray: np.ndarray, index: tuple[int, ...], out: np.ndarray, hints: np.ndarray | None
    ) -> np.ndarray | None:
        if previous is None:
            return hints
        return _follow_previous(gray, (1,), previous[None], hints)

    return follow


def _finish(steps: Generator[tuple[int, int], None, np.ndarray]) -> np.ndarray:
    """Run a tile-progress generator to its end and return its value."""
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            return finished.value
