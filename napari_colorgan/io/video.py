"""Video files in (``.mp4 .avi .mov .mkv``, lazily, frames first) and H.264 MP4 out, via PyAV.

Reading: the frames' presentation times are listed once from the packets (no
decoding); a chunk of frames is then decoded by seeking to the key frame before
its first frame and decoding forward, so a film is never held in memory and a
chunk costs at most one group of pictures of extra decoding.

Writing: :class:`Mp4Sink` takes colour frames in order into a hidden, resumable
staging store beside the output (one zarr chunk per frame and a ledger of the
frames done, as :mod:`.zarr_sink`), then encodes the MP4 into a temporary file
renamed over the output when complete: a killed run resumes at its next frame
and never leaves a truncated film.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write, partial_path
from .errors import DamagedFileError
from .handles import file_version
from .ledger import OutputMismatchError, fingerprint

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
CHUNK_FRAMES = 16  # frames decoded per task
COLOUR_SPREAD = 12  # 8-bit levels of channel difference that make a frame colour
LEDGER = ".colorgan-frames"


def is_video(path: str | os.PathLike) -> bool:
    """True for a video file name that :func:`open_video` reads."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise ImportError("video files need PyAV: pip install 'napari-colorgan[video]'") from None
    return av


class VideoFrames:
    """A read-only, picklable ``(T, Y, X)`` view of a video's first video stream.

    Parameters
    ----------
    path : str
        The video file.
    from_rgb : bool
        Give each frame's CIELAB lightness as float32 gray in [0, 1] (see
        :func:`~napari_colorgan.engine.pipeline.to_gray`); otherwise the frames
        must be gray and come as uint8.

    Raises
    ------
    ValueError
        For a file without a video stream, or a colour video without ``from_rgb``.
    """

    def __init__(self, path: str, from_rgb: bool = False):
        from dask.base import tokenize

        av = _av()
        self.path, self.from_rgb = path, from_rgb
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise ValueError(f"{Path(path).name} has no video stream")
                stream = container.streams.video[0]
                self.fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
                self.pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
                container.seek(self.pts[0] if self.pts else 0, stream=stream, backward=True)
                first = next(container.decode(stream)).to_ndarray(format="rgb24")
        except av.error.FFmpegError as err:
            raise ValueError(f"cannot decode {path}: {err}") from None
        if not self.pts:
            raise ValueError(f"{Path(path).name} has no frames")
        if not from_rgb and _is_colour(first):
            raise ValueError(
                f"{Path(path).name} is a colour video: pass from_rgb=True (--from-rgb) to "
                "colourise its lightness"
            )
        self.shape = (len(self.pts), *first.shape[:2])
        self.ndim = 3
        self.dtype = np.dtype(np.float32 if from_rgb else np.uint8)
        self.version = file_version(path)
        self.token = tokenize(from_rgb, *self.version)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        frames = range(self.shape[0])[key[0]]
        wanted = [frames] if isinstance(frames, int) else list(frames)
        if not wanted:
            return np.empty((0, *self.shape[1:]), self.dtype)[(slice(None), *key[1:])]
        decoded = self.decode(min(wanted), max(wanted) + 1)
        block = decoded[[i - min(wanted) for i in wanted]]
        rest = key[1:]
        return block[0][rest] if isinstance(frames, int) else block[(slice(None), *rest)]

    def decode(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start`` to ``stop - 1``, decoded from the key frame before ``start``."""
        av = _av()
        out = np.empty((stop - start, *self.shape[1:]), self.dtype)
        if file_version(self.path) != self.version:
            raise DamagedFileError(f"{self.path} changed while it was being read; open it again")
        first, n = self.pts[start], 0
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                container.seek(first, stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    if frame.pts is None or frame.pts < first:
                        continue
                    out[n] = self._gray(frame)
                    n += 1
                    if n == len(out):
                        break
        except av.error.FFmpegError as err:  # a file damaged or changed since it was opened
            raise DamagedFileError(f"cannot decode {self.path}: {err}") from None
        if n != len(out):
            raise ValueError(f"{self.path}: decoded {n} of frames {start}..{stop - 1}")
        return out

    def _gray(self, frame: Any) -> np.ndarray:
        if not self.from_rgb:
            return frame.to_ndarray(format="gray")
        return rgb_lightness(frame.to_ndarray(format="rgb24"))


def _is_colour(rgb: np.ndarray) -> bool:
    """True when more than 1 % of a frame's pixels differ between channels noticeably."""
    spread = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1)
    return bool(np.mean(spread > COLOUR_SPREAD) > 0.01)


def rgb_lightness(rgb: np.ndarray) -> np.ndarray:
    """Gray in [0, 1] with the CIELAB lightness of 8-bit RGB frames."""
    import torch

    from ..color import lightness_to_gray, rgb_to_lab

    t = torch.from_numpy(np.ascontiguousarray(rgb, np.float32) / 255)
    with torch.inference_mode():
        return lightness_to_gray(rgb_to_lab(t, channel_axis=-1)[..., 0]).numpy()


def open_video(
    path: str | os.PathLike, *, from_rgb: bool = False, chunk_frames: int = CHUNK_FRAMES
) -> tuple[Any, Fraction]:
    """A video file as a lazy ``(T, Y, X)`` dask array of gray frames, and its frame rate.

    Parameters
    ----------
    path : path-like
        ``.mp4``, ``.avi``, ``.mov`` or ``.mkv`` (any codec FFmpeg decodes).
    from_rgb : bool, optional
        Read a colour video as its lightness (float32 in [0, 1]); a gray video
        is read as uint8 without it.
    chunk_frames : int, optional
        Frames per chunk; each chunk is decoded by one seek.

    Returns
    -------
    frames : dask.array.Array
    fps : fractions.Fraction
    """
    import dask.array as da

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    view = VideoFrames(str(path.resolve()), from_rgb)
    chunks = (min(chunk_frames, view.shape[0]), *view.shape[1:])
    frames = da.from_array(view, chunks=chunks, asarray=True, name=f"video-{view.token}")
    return frames, view.fps


class Mp4Sink:
    """Colour frames, written in order, into an H.264 MP4 that appears only when complete.

    Parameters
    ----------
    path : path-like
        The ``.mp4`` to write.
    shape : (int, int, int)
        Frames, height and width.
    fps : fractions.Fraction or float
        Frame rate of the output (the input's, for a video input).
    attrs : dict, optional
        What the frames are made from; a resumed staging store written from other
        ``attrs`` is an error.
    resume : bool, optional
        Continue after the frames an interrupted run finished; False starts again.
    source : array-like, shape (T, Y, X), optional
        The gray frames colourised. The ledger records a fingerprint of the input
        frames under every write, and a resumed run must find the same frames
        there: a rerun from another clip of the same size is refused.

    Notes
    -----
    Even sizes are encoded as yuv420p, which every player shows; an odd width or
    height as yuv444p (H.264 High 4:4:4), which keeps the size exact but which
    some browsers and QuickTime do not play.

    The staging store is made in an order a kill cannot break: the frames array,
    then the empty ledger, then the attributes, which mark it usable. A store
    without them is started again.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        shape: tuple[int, int, int],
        fps: Fraction | float,
        attrs: dict | None = None,
        *,
        resume: bool = True,
        source: Any = None,
    ):
        import json

        self.path = Path(path)
        self.shape, self.fps = tuple(int(s) for s in shape), Fraction(fps).limit_denominator(1001)
        self.staging = Path(f"{partial_path(self.path)}.zarr")
        self.ledger = self.staging / LEDGER
        self.source = source
        if source is not None and tuple(source.shape) != self.shape:
            raise ValueError(f"source frames {source.shape} do not match the film {self.shape}")
        attrs = {**(attrs or {}), "shape": list(self.shape), "fps": str(self.fps)}
        attrs = json.loads(json.dumps(attrs))
        group = self._open_staging(attrs) if resume else None
        if group is None:
            group = self._new_staging(attrs)
        self.frames = group["frames"]
        self.done = 0
        entries = [e for e in read_frame_ledger(self.ledger) if e[1] <= self.shape[0]]
        if source is not None:
            entries = entries[: next((k for k, e in enumerate(entries) if e[2] is None), None)]
            self._check_frames(entries)
        self.entries = entries
        self.done = entries[-1][1] if entries else 0

    def _open_staging(self, attrs: dict) -> Any:
        """The staging group of an earlier run with these ``attrs``; None if there is none."""
        import zarr

        try:
            group = zarr.open_group(self.staging, mode="r+")
            earlier, frames = group.attrs.get("colorgan"), group["frames"]
        except Exception:  # none, or made by a run killed before it was usable
            return None
        if not isinstance(earlier, dict) or not self.ledger.is_file():
            return None
        if frames.shape != (*self.shape, 3):
            return None
        if dict(earlier) != attrs:
            changed = sorted(k for k in {*earlier, *attrs} if earlier.get(k) != attrs.get(k))
            verb = "differs" if len(changed) == 1 else "differ"
            raise OutputMismatchError(self.path, f"other settings ({', '.join(changed)} {verb})")
        return group

    def _new_staging(self, attrs: dict) -> Any:
        import zarr

        shutil.rmtree(self.staging, ignore_errors=True)
        group = zarr.open_group(self.staging, mode="w")
        group.create_array(
            "frames", shape=(*self.shape, 3), chunks=(1, *self.shape[1:], 3), dtype="uint8"
        )
        self.ledger.write_text("")
        group.attrs["colorgan"] = attrs  # last: the store is usable from here on
        return group

    def _check_frames(self, entries: list[tuple[int, int, str | None]]) -> None:
        """Refuse to resume when the input frames under those already written differ.

        The input is read in chunks of :data:`CHUNK_FRAMES`, in order: one seek each.
        """
        chunk: tuple[int, np.ndarray | None] = (-1, None)
        for start, stop, print_ in entries:
            frames = []
            for i in range(start, stop):
                if chunk[0] != i // CHUNK_FRAMES:
                    first = i - i % CHUNK_FRAMES
                    block = np.asarray(self.source[first : first + CHUNK_FRAMES])
                    chunk = (i // CHUNK_FRAMES, block)
                frames.append(chunk[1][i % CHUNK_FRAMES])
            if fingerprint(np.stack(frames)) != print_:
                raise OutputMismatchError(
                    self.path, f"another input (its frames {start}..{stop - 1} differ)"
                )

    def previous(self) -> np.ndarray | None:
        """The last frame written, float32 RGB in [0, 1], or None before the first."""
        if self.done == 0:
            return None
        return self.frames[self.done - 1].astype(np.float32) / 255

    def write(self, rgb: np.ndarray, gray: np.ndarray | None = None) -> None:
        """Append colour frames ``(k, Y, X, 3)`` in [0, 1] after the ones done.

        ``gray`` are the input frames they were made from (read from ``source``
        when not given), fingerprinted in the ledger.
        """
        from .scaling import to_dtype

        stop = self.done + len(rgb)
        if stop > self.shape[0] or rgb.shape[1:] != (*self.shape[1:], 3):
            raise ValueError(f"frames of shape {rgb.shape} do not fit {self.path} at {self.done}")
        if gray is None and self.source is not None:
            gray = np.asarray(self.source[self.done : stop])
        self.frames[self.done : stop] = to_dtype(rgb, "uint8")
        print_ = fingerprint(np.asarray(gray)) if gray is not None else "-"
        with open(self.ledger, "a") as log:
            log.write(f"{stop} {print_}\n")
            log.flush()
            os.fsync(log.fileno())
        self.done = stop

    def finish(self) -> Iterator[tuple[int, int]]:
        """Encode the staged frames into the MP4; yield (frames encoded, frames)."""
        av = _av()
        total, height, width = self.shape
        if self.done != total:
            raise ValueError(f"{self.path}: {self.done} of {total} frames written")
        odd = height % 2 or width % 2
        with atomic_write(self.path) as tmp:
            with av.open(str(tmp), "w", format="mp4") as container:
                stream = container.add_stream("libx264", rate=self.fps, options={"crf": "18"})
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuv444p" if odd else "yuv420p"
                for i in range(total):
                    frame = av.VideoFrame.from_ndarray(self.frames[i], format="rgb24")
                    container.mux(stream.encode(frame))
                    yield i + 1, total
                container.mux(stream.encode())
        shutil.rmtree(self.staging)


def read_frame_ledger(ledger: Path) -> list[tuple[int, int, str | None]]:
    """``(first, stop, fingerprint)`` of each write the ledger records, in order.

    Reading stops at the first line that is not one this sink wrote after the
    previous one (cut short by a kill, or damaged): what follows is redone.
    """
    entries: list[tuple[int, int, str | None]] = []
    for line in ledger.read_text().split("\n")[:-1]:  # a line cut by a kill has no newline
        parts = line.split()
        start = entries[-1][1] if entries else 0
        if not parts or not parts[0].isdigit() or int(parts[0]) <= start or len(parts) > 2:
            break
        print_ = parts[1] if len(parts) == 2 and len(parts[1]) == 32 else None
        entries.append((start, int(parts[0]), print_))
    return entries


def video_info(path: str | os.PathLike) -> dict:
    """Frame count, size and rate of a video: ``{"frames", "height", "width", "fps"}``."""
    view = VideoFrames(str(Path(path).resolve()), from_rgb=True)
    return {
        "frames": view.shape[0],
        "height": view.shape[1],
        "width": view.shape[2],
        "fps": view.fps,
    }
