"""Training images opened lazily and read by regions: arrays, files, folders, globs and pairs.

A :class:`Source` is one image seen through a window (the ``rows``/``cols``
fractions a recipe keeps for training): it knows its shape and reads any region as
float32 in [0, 1], so a whole slide, a store or a folder of thousands of tiles
trains without being held in memory. Files open through
:mod:`napari_colorgan.io.readers` (TIFF, BigTIFF, OME-TIFF and SVS, zarr and
OME-Zarr as chunked stores, FITS by sections); PNG and JPEG are decoded when read,
a few at a time. A :class:`Pair` is a colour target with its gray input on the same
pixel grid, the input scaled by the global range ``colorize`` would use.
"""

from __future__ import annotations

import glob
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.scaling import Intensity, intensity_range, to_unit_float, to_unit_range

OVERVIEW_SIDE = 1024
"""Longest side of a source's low-resolution view (masks, mean chroma, context)."""
FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".svs", ".zarr", ".fits", ".fit", ".fz")
"""The files a folder or glob entry trains on."""


def _span(n: int, fraction) -> tuple[int, int]:
    return int(fraction[0] * n), int(fraction[1] * n)


def _read(array: Any, key: tuple) -> np.ndarray:
    block = array[key]
    if hasattr(block, "compute"):  # dask: one region, without a thread pool
        block = block.compute(scheduler="synchronous")
    return np.asarray(block)


@dataclass
class Source:
    """One image, colour ``(Y, X, 3+)`` or gray ``(Y, X)``, read by regions through a window.

    Parameters
    ----------
    array : array-like
        numpy, dask or zarr (anything sliceable with ``shape``); sliced only for the
        regions asked for.
    name : str
        What errors and logs call it (a file name, ``skimage:NAME``, ``array``).
    rows, cols : (float, float)
        The fractions of rows and columns kept, e.g. ``rows=(0, 0.5)``: the top half;
        how training and held-out parts of one image are kept apart.
    levels : tuple of array-like
        Lower-resolution copies of ``array`` (a pyramid), finest first; the overview
        is read from the coarsest one that is still :data:`OVERVIEW_SIDE` long.
    intensity : Intensity or None
        A gray input's global range, mapped to [0, 1] as ``colorize`` maps it; None
        divides integers by their type's maximum and keeps floats (colour targets).
    """

    array: Any
    name: str
    rows: tuple[float, float] = (0.0, 1.0)
    cols: tuple[float, float] = (0.0, 1.0)
    levels: tuple = ()
    intensity: Intensity | None = None
    shape: tuple[int, int] = field(init=False)

    def __post_init__(self):
        if self.array.ndim not in (2, 3):
            raise ValueError(
                f"{self.name}: a training image is (Y, X) or (Y, X, C), got shape "
                f"{tuple(self.array.shape)}"
            )
        (y0, y1), (x0, x1) = _span(self.array.shape[0], self.rows), _span(
            self.array.shape[1], self.cols
        )
        self.origin, self.shape = (y0, x0), (y1 - y0, x1 - x0)
        if min(self.shape) <= 0:
            raise ValueError(f"{self.name}: rows {self.rows} and cols {self.cols} keep no pixels")

    @property
    def colour(self) -> bool:
        """True for a colour image (three channels or more; an alpha is ignored)."""
        return self.array.ndim == 3 and self.array.shape[2] >= 3

    def read(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """Region ``[y, y + h) x [x, x + w)`` of the window: float32 ``(h, w, 3)`` or ``(h, w)``."""
        y0, x0 = self.origin
        return self._scaled(self.array, (slice(y0 + y, y0 + y + h), slice(x0 + x, x0 + x + w)))

    def _scaled(self, array: Any, key: tuple) -> np.ndarray:
        if self.colour:
            key = (*key, slice(0, 3))
        if _small(array):  # scaled once, whole; regions are then views
            return _WHOLE.get(array, self.intensity, self._scale)[key]
        return self._scale(_read(array, key))

    def _scale(self, block: np.ndarray) -> np.ndarray:
        if self.intensity is not None:
            return to_unit_range(block, *self.intensity)
        return to_unit_float(block)

    def overview(self) -> tuple[np.ndarray, int]:
        """A low-resolution view of the window and its stride, in full-resolution pixels.

        An image of at most :data:`OVERVIEW_SIDE` a side is its own view (stride 1);
        a larger one is read from a pyramid level or with a stride, never whole.
        """
        h, w = self.shape
        if max(h, w) <= OVERVIEW_SIDE:
            return self.read(0, 0, h, w), 1
        array, factor = self.array, 1
        for level in self.levels:
            f = round(self.array.shape[0] / level.shape[0])
            if max(h, w) // f < OVERVIEW_SIDE // 2:  # coarser than needed: stop
                break
            array, factor = level, f
        step = -(-max(h, w) // factor // OVERVIEW_SIDE)
        y0, x0 = (o // factor for o in self.origin)
        rows, cols = slice(y0, y0 + h // factor, step), slice(x0, x0 + w // factor, step)
        return self._scaled(array, (rows, cols)), factor * step


@dataclass
class Pair:
    """A colour target and the gray input on its pixel grid: a real (input, truth) pair.

    Both are read through the same window, a patch from the same region of each.
    """

    target: Source
    input: Source

    def __post_init__(self):
        a, b = tuple(self.target.array.shape[:2]), tuple(self.input.array.shape[:2])
        if a != b:
            raise ValueError(
                f"the input {self.input.name} has {b[0]} x {b[1]} pixels but its target "
                f"{self.target.name} has {a[0]} x {a[1]}: a pair needs the same pixel grid; "
                "resample one onto the other"
            )
        if not self.target.colour:
            raise ValueError(
                f"{self.target.name} (shape {tuple(self.target.array.shape)}) is the colour "
                "target of a pair but is not a colour image"
            )
        if self.input.colour or self.input.array.ndim != 2:
            raise ValueError(
                f"{self.input.name} (shape {tuple(self.input.array.shape)}) is the input of a "
                "pair but is not one gray channel: save the channel to learn from on its own"
            )

    @property
    def name(self) -> str:
        return f"{self.input.name} -> {self.target.name}"

    @property
    def shape(self) -> tuple[int, int]:
        return self.target.shape

    def overview(self) -> tuple[np.ndarray, int]:
        return self.target.overview()


class _Whole:
    """Small images held whole and scaled, least recently read dropped first, in a budget.

    Reading a region of a small compressed file costs more than decoding it once;
    one budget per process bounds what a folder of thousands of tiles keeps.
    """

    BUDGET = 384 << 20
    """Bytes of scaled (float32) pixels a process keeps."""
    LARGEST = 32 << 20
    """A lazy image of at most this many stored bytes is read whole on its first read."""

    def __init__(self):
        self.held: OrderedDict[tuple, tuple[Any, np.ndarray]] = OrderedDict()
        self.bytes = 0

    def get(self, array: Any, tag: Any, scale) -> np.ndarray:
        """``scale(pixels)`` of all of ``array``, read the first time it is asked for with
        ``tag`` (the scaling's parameters), then kept while within the budget."""
        key = (id(array), tag)
        if key in self.held and self.held[key][0] is array:
            self.held.move_to_end(key)
            return self.held[key][1]
        index = (slice(None), slice(None), slice(0, 3)) if array.ndim == 3 else (slice(None),) * 2
        pixels = scale(_read(array, index))
        self.held[key] = (array, pixels)
        self.bytes += pixels.nbytes
        while self.bytes > self.BUDGET and len(self.held) > 1:
            _, (_, dropped) = self.held.popitem(last=False)
            self.bytes -= dropped.nbytes
        return pixels


_WHOLE = _Whole()


def _small(array: Any) -> bool:
    if isinstance(array, np.ndarray):
        return False  # already in memory
    nbytes = int(np.prod(array.shape)) * np.dtype(array.dtype).itemsize
    return isinstance(array, _Decoded) or nbytes <= _Whole.LARGEST


class _Decoded:
    """A PNG or JPEG whose pixels are decoded when first read (only its header before).

    So a folder of thousands of tiles opens in a moment; decoded images are held
    within :class:`_Whole`'s budget.
    """

    def __init__(self, path: str):
        from PIL import Image

        self.path = path
        try:
            with Image.open(path) as im:
                bands = len(im.getbands())
                self.shape = (im.height, im.width, *((bands,) if bands > 1 else ()))
                self.dtype = np.dtype(np.uint16 if im.mode.startswith("I;16") else np.uint8)
        except OSError as err:
            raise ValueError(f"cannot decode {path}: {err}") from None
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        from ..io.readers import read_image

        return read_image(self.path)[key]


def open_array(path: str | os.PathLike) -> tuple[Any, tuple]:
    """A file as a lazy array, ``(Y, X)`` or ``(Y, X, C)``, and its coarser pyramid levels.

    TIFF (BigTIFF, OME-TIFF, SVS) and zarr/OME-Zarr open as chunked stores through
    :mod:`napari_colorgan.io.readers`, FITS by sections, PNG and JPEG are decoded when
    first read. The channel axis of an OME-Zarr (or a FITS colour cube) is moved last.
    """
    from ..io.readers import open_image

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"training image not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg"):
        return _Decoded(str(path)), ()
    if suffix == ".zarr":
        return _open_zarr(path)
    if suffix in (".tif", ".tiff", ".svs"):
        return _open_tiff_levels(path)
    array, _ = open_image(path)
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] > 4:
        array = array.transpose(1, 2, 0)
    return array, ()


def _open_tiff_levels(path: Path) -> tuple[Any, tuple]:
    """A TIFF's levels as the readers open and check them, read without dask's overhead."""
    from ..io.readers import TiffLevel, _open_tiff  # .svs is a TIFF too

    arrays = []
    for level in range(_tiff_levels(path)):
        array = _open_tiff(path, level)[0]
        direct = TiffLevel(str(path.resolve()), level)
        arrays.append(direct if direct.shape == array.shape else array)  # (Y, X, 1): dask's
    return arrays[0], tuple(arrays[1:])


def _tiff_levels(path: Path) -> int:
    import tifffile

    from ..io.readers import tiff_errors

    with tiff_errors(path), tifffile.TiffFile(path) as tif:
        return len(tif.series[0].levels) if tif.series else 1


def _open_zarr(path: Path) -> tuple[Any, tuple]:
    """A zarr array, or an OME-Zarr's levels with its channel axis (if any) last."""
    import zarr

    from ..io.ome_zarr import CheckedArray, as_dask, read_multiscale
    from ..io.readers import open_image

    try:
        node = zarr.open(path, mode="r")
    except Exception as err:  # zarr raises several types for a folder that is not a store
        raise ValueError(f"cannot open {path} as zarr: {err}") from None
    if isinstance(node, zarr.Array) and (node.ndim == 2 or node.shape[-1] > 1):
        return CheckedArray(node, path), ()  # read as regions without dask's graph
    multiscale = None if isinstance(node, zarr.Array) else read_multiscale(node, path)
    if multiscale is None or "c" not in multiscale.axes:
        return open_image(path)[0], ()
    axes = multiscale.axes
    key = tuple(slice(None) if a in "cyx" else 0 for a in axes)  # the first plane of t or z
    kept = [a for a in axes if a in "cyx"]
    order = [kept.index(a) for a in "yxc"]
    arrays = []
    for level in multiscale.arrays:
        array = as_dask(level, path)[key].transpose(order)
        arrays.append(array[..., 0] if array.shape[2] == 1 else array)
    return arrays[0], tuple(arrays[1:])


def expand(source: str | os.PathLike, base: Path | None = None) -> list[Path]:
    """The files a path, a folder (searched recursively) or a glob names, sorted.

    A relative path is taken relative to ``base``.

    Raises
    ------
    FileNotFoundError
        When a folder or glob holds no image, naming it and the suffixes looked for.
    """
    raw = Path(os.path.expandvars(os.path.expanduser(os.fspath(source))))
    path = base / raw if base and not raw.is_absolute() else raw
    if glob.has_magic(str(path)):
        found = [Path(p) for p in sorted(glob.glob(str(path), recursive=True))]
    elif path.is_dir() and path.suffix.lower() != ".zarr":
        found = sorted(path.rglob("*"))
    else:
        return [path]
    files = [
        p
        for p in found
        if p.suffix.lower() in FILE_SUFFIXES
        and not any(q.suffix.lower() == ".zarr" for q in p.parents)  # chunks of a store
    ]
    if not files:
        raise FileNotFoundError(
            f"no training images in {source} (looked for {', '.join(FILE_SUFFIXES)})"
        )
    return files


def gray_source(
    array: Any, name: str, rows=(0.0, 1.0), cols=(0.0, 1.0), levels=(), linear_cameras=False
) -> Source:
    """A gray input scaled as ``colorize(normalize="auto")`` scales it for a model that
    reads cameras as ``linear_cameras`` says: one global range."""
    import dask.array as da

    whole = array if isinstance(array, (np.ndarray, da.Array)) else da.from_array(array)
    intensity = intensity_range(whole, "auto", linear_cameras=linear_cameras)
    return Source(array, name, tuple(rows), tuple(cols), tuple(levels), intensity)


def read_as_light(image: Any) -> Any:
    """A real pair's gray read as a model with ``linear_cameras`` reads it; other images
    as they are."""
    if not isinstance(image, Pair):
        return image
    gray = image.input
    light = gray_source(gray.array, gray.name, gray.rows, gray.cols, gray.levels, True)
    return Pair(image.target, light)


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


def named_image(source: str, base: Path | None = None) -> np.ndarray:
    """The pixels of ``"skimage:NAME"`` (for stereo pairs the left view), ``"sklearn:NAME.jpg"``
    or a small image file (read whole, as stored)."""
    kind, _, name = source.partition(":")
    if kind == "skimage":
        import skimage.data

        image = getattr(skimage.data, name)()
        return image[0] if isinstance(image, tuple) else image
    if kind == "sklearn":
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)
    import skimage.io

    path = Path(os.path.expandvars(source))
    return skimage.io.imread(base / path if base and not path.is_absolute() else path)


def video_frames(path: Path, every: int = 1, frames=(0.0, 1.0)) -> list[np.ndarray]:
    """The RGB frames (uint8) of a short colour clip, every ``every``-th of a fraction of it."""
    try:
        import av
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"reading {path} needs PyAV: pip install 'napari-colorgan[train]'"
        ) from err
    with av.open(str(path)) as container:
        clip = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    n = len(clip)
    return clip[int(frames[0] * n) : int(frames[1] * n) : every]


def open_entry(spec: dict, base: Path | None = None) -> tuple[list, list[float]]:
    """The sources of one ``[[data]]`` entry and the weight each is drawn with.

    Parameters
    ----------
    spec : dict
        ``source``: ``skimage:NAME``, ``sklearn:NAME``, ``video:PATH``, a file, a
        folder or a glob of files, or an array (numpy, dask, zarr; ``(Y, X, 3)``);
        optional ``input`` (the gray input of a pair: a file, folder or glob matching
        ``source`` file by file, or a ``(Y, X)`` array), ``rows``/``cols`` (the
        window), ``weight``, and for a video ``every`` and ``frames``.
    base : Path, optional
        What relative paths are relative to (a recipe's folder).

    Returns
    -------
    sources : list of Source or Pair
    weights : list of float
        The square root of each image's area times the entry's ``weight``, shared
        among an entry's images (a folder or a video counts as one image of its
        average size, and gains weight only through ``weight``).
    """
    source = spec["source"]
    window = {k: tuple(spec.get(k, (0.0, 1.0))) for k in ("rows", "cols")}
    if not isinstance(source, (str, os.PathLike)):
        array, levels = _levels(source)
        name = spec.get("name", f"array{tuple(array.shape)}")
        targets = [Source(array, name, levels=levels, **window)]
    elif str(source).startswith("video:"):
        path = _resolve(str(source).partition(":")[2], base)
        clip = video_frames(path, spec.get("every", 1), spec.get("frames", (0.0, 1.0)))
        targets = [Source(f, f"{source}[{i}]", **window) for i, f in enumerate(clip)]
    elif str(source).partition(":")[0] in ("skimage", "sklearn"):
        targets = [Source(named_image(str(source)), str(source), **window)]
    else:
        targets = [_file_source(p, spec, window) for p in expand(source, base)]
    if "input" in spec:
        targets = _pairs(targets, spec["input"], base, window)
    for t in targets:
        target = t.target if isinstance(t, Pair) else t
        if not target.colour:
            raise ValueError(
                f"{target.name} is not a colour image (shape {tuple(target.array.shape)}): "
                "training learns colour from RGB targets; a gray image is the input of a "
                "pair (input = ... beside its colour source)"
            )
    share = spec.get("weight", 1.0) / len(targets)
    return targets, [share * (t.shape[0] * t.shape[1]) ** 0.5 for t in targets]


def _levels(data: Any) -> tuple[Any, tuple]:
    """An array, or a multiscale sequence of arrays (finest first), as (array, coarser levels)."""
    if isinstance(data, Sequence) and not isinstance(data, str):
        if not data:
            raise ValueError("a multiscale image needs at least one level")
        return data[0], tuple(data[1:])
    return data, ()


def _resolve(path: str, base: Path | None) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(path)))
    return base / p if base and not p.is_absolute() else p


def _file_source(path: Path, spec: dict, window: dict) -> Source:
    if path.suffix.lower() in VIDEO_SUFFIXES:
        raise ValueError(f"{path} is a video: name it as source = \"video:{path}\"")
    array, levels = open_array(path)
    return Source(array, path.name, levels=levels, **window)


def _pairs(targets: list, inputs: Any, base: Path | None, window: dict) -> list:
    if isinstance(inputs, (str, os.PathLike)):
        files = expand(inputs, base)
        if len(files) != len(targets):
            raise ValueError(
                f"input {inputs} names {len(files)} image(s) for {len(targets)} colour "
                "target(s): a pair needs one gray input per colour image, in the same order"
            )
        grays = []
        for f in files:
            array, levels = open_array(f)
            grays.append(gray_source(array, f.name, levels=levels, **window))
    else:
        if len(targets) != 1:
            raise ValueError("an input array pairs with one colour target")
        array, levels = _levels(inputs)
        grays = [gray_source(array, f"array{tuple(array.shape)}", levels=levels, **window)]
    return [Pair(t, g) for t, g in zip(targets, grays)]


def load_images(specs: list[dict], base: Path | None = None):
    """Load the ``[[data]]`` or ``[[heldout]]`` entries of a config whole, into memory.

    For held-out truths (of any source kind, a pair's colour target); training opens
    its entries lazily with :func:`open_images`.

    Returns
    -------
    images : list of ndarray
        Float RGB in [0, 1]; a ``"video:"`` entry gives several frames, a folder or
        glob its files.
    weights : list of float
        Sampling weight of each image: the square root of an entry's area (times its
        ``weight`` key, if any), shared evenly among a video's frames.
    """
    sources, weights = open_images(specs, base)
    targets = [s.target if isinstance(s, Pair) else s for s in sources]
    return [t.read(0, 0, *t.shape) for t in targets], weights


def open_images(specs: list[dict], base: Path | None = None) -> tuple[list, list[float]]:
    """Open the ``[[data]]`` entries of a config lazily: sources read by regions.

    See :func:`~.sources.open_entry` for what an entry may name (files, folders,
    globs, arrays, ``input`` for a real pair). Returns the sources and their weights.
    """
    sources, weights = [], []
    for spec in specs:
        s, w = open_entry(spec, base)
        sources += s
        weights += w
    return sources, weights
