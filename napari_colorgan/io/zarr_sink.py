"""Streaming, resumable writing of a lazy colour result to zarr or OME-Zarr.

Chunks are computed a few at a time and written as they finish; memory is bounded
by the chunks in flight. Each finished chunk is appended to a ledger file inside
the store, after its data are written; a killed run, started again, skips the
chunks in the ledger and ends with the same bytes as an uninterrupted run. Until
the last chunk is written the group's attributes say ``"complete": false``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DamagedFileError
from .ledger import (
    LEDGER,
    OutputMismatchError,
    combined,
    describe,
    lazy_print,
    ledger_line,
    read_ledger,
)
from .lock import output_lock

OME_AXES = {0: ["c", "y", "x"], 1: ["c", "z", "y", "x"], 2: ["t", "c", "z", "y", "x"]}


def _regular(data: Any) -> Any:
    """Rechunk to a regular grid (zarr needs one) of the array's largest chunks."""
    return data.rechunk(tuple(max(c) for c in data.chunks))


def _block_slices(chunks: tuple[tuple[int, ...], ...], index: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(sum(c[:i]), sum(c[: i + 1])) for c, i in zip(chunks, index))


class _Inputs:
    """The input each full-resolution chunk was computed from, to fingerprint it.

    That is the chunk's own pixels grown by ``reach`` on Y and X (the halo its
    tiles saw, see :func:`~napari_colorgan.engine.runner.plane_halo`): a change
    next to a chunk changes its colours too (see :mod:`.ledger`).
    """

    def __init__(self, source: Any, data: Any, colour_axis: int, reach: int = 0):
        self.source, self.chunks, self.colour_axis = source, data.chunks, colour_axis
        self.reach = int(reach)

    def region(self, index: tuple[int, ...]) -> tuple[slice, ...]:
        where = _block_slices(self.chunks, index)
        where = where[: self.colour_axis] + where[self.colour_axis + 1 :]
        grown, shape = list(where), self.source.shape
        for axis in (len(where) - 2, len(where) - 1):
            start, stop = where[axis].start - self.reach, where[axis].stop + self.reach
            grown[axis] = slice(max(start, 0), min(stop, shape[axis]))
        return tuple(grown)

    def prints(self, indices: list[tuple[int, ...]]) -> list:
        return [lazy_print(self.source, self.region(i)) for i in indices]


def _write_level(
    data: Any,
    group: Any,
    name: str,
    folder: Path,
    resume: bool,
    workers: int,
    inputs: _Inputs | None = None,
    shown: str | Path = "",
    colour: int = -1,
) -> Generator[tuple[int, int], None, dict]:
    """Write one array of the store chunk by chunk; yield (chunks done, chunks total).

    ``colour`` is the array's colour axis. Returns the input fingerprint of every
    chunk (empty without ``inputs``).
    """
    import dask

    ledger = folder / f"{LEDGER}-{name}"
    done: dict[tuple[int, ...], str | None] = {}
    if resume and name in group and ledger.exists():
        array = group[name]
        if array.shape != data.shape or array.chunks != data.chunksize or array.dtype != data.dtype:
            what = (
                f"an input of another size or chunking, or another output type (level {name} "
                f"is {array.shape} {array.dtype})"
            )
            raise OutputMismatchError(shown or folder, what)
        array = array.with_config(_ARRAY_CONFIG)
        done = read_ledger(ledger, data.numblocks)
        if inputs is not None:
            done = {i: p for i, p in done.items() if p is not None}  # unproven: redo
            _check_skipped(done, inputs, workers, shown or folder)
    else:
        ledger.write_text("")  # before the array: an array without a ledger is restarted
        array = group.create_array(
            name,
            shape=data.shape,
            chunks=data.chunksize,
            dtype=data.dtype,
            **_codecs(data.ndim, colour),
            overwrite=True,
            config=_ARRAY_CONFIG,
        )
    todo = [i for i in np.ndindex(data.numblocks) if i not in done]
    total = int(np.prod(data.numblocks))
    prints = dict(done)
    yield total - len(todo), total

    def write(batch: list, values: tuple) -> None:
        for index, value in zip(batch, values):
            array[_block_slices(data.chunks, index)] = value

    def record(written: Future, batch: list, batch_prints: tuple) -> None:
        written.result()  # a chunk goes in the ledger only once its data are stored
        for index, print_ in zip(batch, batch_prints):
            log.write(ledger_line(index, print_))
            prints[index] = print_
        log.flush()
        os.fsync(log.fileno())

    # a pipeline: while one batch is encoded and written (zstd and file I/O release
    # the GIL), the next is read and colourised; at most two batches in memory
    pending = None
    with open(ledger, "a") as log, ThreadPoolExecutor(1, "colorgan-write") as writer:
        for start in range(0, len(todo), workers):
            batch = todo[start : start + workers]
            lazy = inputs.prints(batch) if inputs is not None else [None] * len(batch)
            values = dask.compute(*(data.blocks[i] for i in batch), *lazy)
            if pending is not None:
                record(*pending)
                yield total - len(todo) + start, total
            written = writer.submit(write, batch, values[: len(batch)])
            pending = (written, batch, values[len(batch) :])
        if pending is not None:
            record(*pending)
            yield total, total
    return prints if inputs is not None else {}


# every chunk is stored, black ones too, so that a missing chunk file is damage
_ARRAY_CONFIG = {"write_empty_chunks": True}


def _codecs(ndim: int, colour: int) -> dict:
    """zstd at level 5 over each chunk's pixels stored RGB-interleaved.

    The transpose codec (zarr v3's own) puts the colour axis last inside a chunk,
    so a pixel's three samples lie side by side: on a colourised retina 26 % fewer
    bytes than planar channels; level 5 another 5 % fewer than zarr's default.
    """
    from zarr.codecs import TransposeCodec, ZstdCodec

    colour %= ndim
    codecs: dict = {"compressors": [ZstdCodec(level=5)]}
    if colour != ndim - 1:
        order = tuple(i for i in range(ndim) if i != colour) + (colour,)
        codecs["filters"] = [TransposeCodec(order=order)]
    return codecs


def _check_skipped(
    done: dict[tuple[int, ...], str | None], inputs: _Inputs, workers: int, shown: str | Path
) -> None:
    """Refuse to resume when the input under a chunk already written has changed."""
    import dask

    indices = sorted(done)
    for start in range(0, len(indices), 4 * workers):
        batch = indices[start : start + 4 * workers]
        for index, now in zip(batch, dask.compute(*inputs.prints(batch))):
            if now != done[index]:
                where = describe(inputs.region(index))
                raise OutputMismatchError(shown, f"another input (its pixels at {where} differ)")


def pyramid_depth(shape_yx: tuple[int, int], min_level_size: int) -> int:
    """How many 2x reductions keep both sides at least ``min_level_size``."""
    levels = 0
    while min(shape_yx) // 2 ** (levels + 1) >= min_level_size:
        levels += 1
    return levels


def pyramid(level0: Any, levels: int) -> list:
    """Lazy 2x mean-downsampled copies over the last two axes (integers rounded)."""
    import dask.array as da

    out, current = [], level0
    for _ in range(levels):
        axes = {current.ndim - 2: 2, current.ndim - 1: 2}
        mean = da.coarsen(np.mean, current, axes, trim_excess=True)
        if np.dtype(level0.dtype).kind in "ui":
            mean = da.rint(mean)
        current = mean.astype(level0.dtype)
        out.append(current)
    return out


def write_zarr(
    rgb: Any,
    path: str | os.PathLike,
    *,
    source: Any = None,
    ome: bool = True,
    scale: tuple[float, ...] | None = None,
    units: tuple[str | None, ...] | None = None,
    attrs: dict | None = None,
    resume: bool = True,
    min_level_size: int = 256,
    workers: int | None = None,
    lock: bool = True,
    shown: str | os.PathLike | None = None,
    reach: int = 0,
) -> Iterator[tuple[str, int, int]]:
    """Stream a lazy ``(..., Y, X, 3)`` colour result into a zarr store.

    Parameters
    ----------
    rgb : dask.array.Array
        The lazy result of :func:`~napari_colorgan.colorize` (float32 in [0, 1]).
    path : path-like
        Destination folder (``.zarr`` or ``.ome.zarr``).
    source : array-like, shape (..., Y, X), optional
        The grayscale input ``rgb`` was computed from (numpy, dask or zarr). The
        store records a fingerprint of the input under every chunk, and a resumed
        or repeated run must find the same pixels there. Without it only ``attrs``
        identify the input.
    ome : bool
        Write OME-Zarr: colour as a channel axis ``(c, [z | t, z], y, x)``, a
        multiscale pyramid down to ``min_level_size`` pixels, the physical
        ``scale`` per input axis. Otherwise one plain array ``(..., y, x, 3)``.
    units : tuple of (str or None), optional
        The unit of each input axis (OME-NGFF names, e.g. ``"micrometer"``; see
        :mod:`.units`), written on the OME-Zarr axes.
    attrs : dict, optional
        Recorded under the ``colorgan`` attribute (model, normalisation range...).
    resume : bool
        Continue an unfinished store written from the same ``source`` and ``attrs``
        (a finished one is left as it is); a store made from another input or with
        other ``attrs`` is an error. With False, an earlier napari-colorgan store
        is replaced. A folder that is not a napari-colorgan store is never touched.
    workers : int, optional
        Chunks computed at once; default: the number of CPU cores.
    lock : bool
        Hold the output's lock for the run; False for a caller that already holds
        the lock of what the store is for (a TIFF whose chunks stage here).
    shown : path-like, optional
        The output named in errors; default ``path``.
    reach : int, optional
        How far beyond its own pixels a chunk's colours depend on the input (the
        halo of its tiles); the fingerprint of a chunk covers that much of ``source``.

    Yields
    ------
    (str, int, int)
        The array being written ("0", "1"...) and its chunks done and in all.

    Raises
    ------
    OutputMismatchError
        When resuming a store made from another input or with other settings.
    OutputBusyError
        When another run is writing ``path``.
    """
    with output_lock(path) if lock else contextlib.nullcontext():
        yield from _stream_zarr(
            rgb, path, shown, source, ome, scale, units, attrs, resume, min_level_size, workers,
            reach,
        )  # fmt: skip


def _stream_zarr(
    rgb: Any,
    path: str | os.PathLike,
    shown: str | os.PathLike | None,
    source: Any,
    ome: bool,
    scale: tuple[float, ...] | None,
    units: tuple[str | None, ...] | None,
    attrs: dict | None,
    resume: bool,
    min_level_size: int,
    workers: int | None,
    reach: int = 0,
) -> Iterator[tuple[str, int, int]]:
    import dask.array as da
    import zarr

    folder = Path(path)
    shown = shown or folder
    lead = rgb.ndim - 3
    if ome and lead not in OME_AXES:
        raise ValueError(
            f"OME-Zarr holds at most (t, z) leading axes, the result has {lead}; write a .zarr"
        )
    if source is not None and tuple(source.shape) != tuple(rgb.shape[:-1]):
        raise ValueError(f"source shape {source.shape} does not match the result {rgb.shape}")
    workers = workers or os.cpu_count() or 1
    attrs = dict(attrs or {})
    if source is not None:
        attrs["input"] = {"shape": list(source.shape), "dtype": str(np.dtype(source.dtype))}
        attrs["input"]["reach"] = int(reach)
    level0 = da.moveaxis(rgb, -1, OME_AXES[lead].index("c")) if ome else rgb
    level0 = _regular(level0)
    existing = _read_state(folder)
    if existing is not None and resume:  # the same input chunked otherwise: the store's grid
        level0 = _on_stored_grid(level0, folder)
    colour = OME_AXES[lead].index("c") if ome else rgb.ndim - 1
    inputs = _Inputs(source, level0, colour, reach) if source is not None else None
    if folder.exists() and existing is None:
        raise ValueError(
            f"{folder} exists and is not a napari-colorgan output; choose another path"
        )
    if existing is not None and resume:
        _check_same(existing, attrs, shown)
        if existing.get("complete"):
            prints = _check_finished_input(existing, inputs, level0, workers, shown)
            damaged = damaged_chunks(folder, workers, shown)
            if not damaged:
                return  # the same result is already there, whole
            _reopen(folder, damaged, prints, level0.numblocks)
        _remove_temporaries(folder)
    if existing is not None and not resume:
        shutil.rmtree(folder)
    created = existing is None or not resume
    group = zarr.open_group(folder, mode="a")
    group.attrs["colorgan"] = {**attrs, "complete": False}
    levels = pyramid_depth(level0.shape[-2:], min_level_size) if ome else 0
    try:
        prints = yield from _named(
            "0",
            _write_level(level0, group, "0", folder, resume, workers, inputs, shown, colour),
            shown,
        )
    except DamagedFileError:
        if created:  # nothing may stay that does not belong to a whole input
            shutil.rmtree(folder, ignore_errors=True)
        raise
    for k in range(1, levels + 1):  # each level from the one stored above it: one read
        (level,) = pyramid(da.from_zarr(group[str(k - 1)]), 1)
        steps = _write_level(_regular(level), group, str(k), folder, resume, workers, colour=colour)
        yield from _named(str(k), steps, shown)
    if ome:
        multiscale = _multiscales(lead, levels, scale, units)
        group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}
    if inputs is not None:
        attrs["input"].update(chunks=list(level0.chunksize), fingerprint=combined(prints))
    _remove_temporaries(folder)  # a finished store holds no half-written chunk file
    group.attrs["colorgan"] = {**attrs, "complete": True}
    for ledger in folder.glob(f"{LEDGER}-*"):
        ledger.unlink()


def _on_stored_grid(level0: Any, folder: Path) -> Any:
    """``level0`` rechunked to the grid of the store's level 0, when both have one shape.

    The chunks follow the input's, so the same pixels read another way (a copy of
    a TIFF in zarr, another dask chunking) would otherwise not match the store.
    """
    import zarr

    try:
        stored = zarr.open_group(folder, mode="r")["0"]
    except Exception:  # no level 0 yet, or not an array: nothing to match
        return level0
    if tuple(stored.shape) != tuple(level0.shape) or stored.chunks == level0.chunksize:
        return level0
    return level0.rechunk(stored.chunks)


def _named(
    name: str, steps: Generator[tuple[int, int], None, Any], shown: str | Path = ""
) -> Generator:
    """Relay a level's ``(done, total)`` as ``(name, done, total)``; return its result.

    An OSError while writing (a full disk) is raised again naming the store
    ``shown``, which stays resumable.
    """
    while True:
        try:
            done, total = next(steps)
        except StopIteration as finished:
            return finished.value
        except OSError as err:
            if err.errno is None or not shown:
                raise
            why = f"cannot write {shown}: {err.strerror} (a run started again resumes it)"
            raise OSError(err.errno, why) from None
        yield name, done, total


def _check_same(existing: dict, attrs: dict, shown: str | Path) -> None:
    """Refuse a store written with other settings or from an input of another kind."""
    import json

    earlier = {k: v for k, v in existing.items() if k not in ("complete", "input")}
    now = json.loads(json.dumps({k: v for k, v in attrs.items() if k != "input"}))
    if earlier != now:
        changed = sorted(k for k in {*earlier, *now} if earlier.get(k) != now.get(k))
        verb = "differs" if len(changed) == 1 else "differ"
        raise OutputMismatchError(shown, f"other settings ({', '.join(changed)} {verb})")
    before, after = existing.get("input"), attrs.get("input")
    if after is None:
        return
    if not isinstance(before, dict):
        raise OutputMismatchError(shown, "an input it did not fingerprint")
    for key, show in (("shape", tuple), ("dtype", str)):
        if before.get(key) != after[key]:
            was = show(before[key]) if key in before else "not recorded"
            now = show(after[key])
            raise OutputMismatchError(shown, f"another input ({key} {was}, now {now})")


def _check_finished_input(
    existing: dict, inputs: _Inputs | None, level0: Any, workers: int, shown: str | Path
) -> dict[tuple[int, ...], str] | None:
    """Refuse to return a finished store whose input fingerprint is not this input's.

    Returns the fingerprint of each chunk's input (None without ``inputs``).
    """
    import dask

    if inputs is None:
        return None
    record = existing["input"]
    if int(record.get("reach", 0)) != inputs.reach:
        raise OutputMismatchError(shown, "other settings (the halo of its tiles differs)")
    if record.get("chunks") != list(level0.chunksize) or "fingerprint" not in record:
        raise OutputMismatchError(shown, "an input it cannot compare (another chunk grid)")
    indices = list(np.ndindex(level0.numblocks))
    prints = {}
    for start in range(0, len(indices), 4 * workers):
        batch = indices[start : start + 4 * workers]
        prints.update(zip(batch, dask.compute(*inputs.prints(batch))))
    if combined(prints) != record["fingerprint"]:
        raise OutputMismatchError(shown, "another input (same size, other pixels)")
    return prints


def damaged_chunks(
    folder: Path, workers: int = 1, shown: str | Path = ""
) -> dict[str, list[tuple[int, ...]]]:
    """The chunks of each array of a store whose file is missing or does not decode.

    Every chunk file is read and decoded once (compressed output, in ``workers``
    threads): the cost of reading the result, not of computing it.

    Raises
    ------
    ValueError
        When an array's own metadata cannot be read (that store cannot be repaired).
    """
    import zarr

    group = zarr.open_group(folder, mode="r")
    found: dict[str, list[tuple[int, ...]]] = {}
    for name in sorted(group.array_keys()):
        try:
            array = group[name]
        except Exception as err:  # damaged array metadata
            text = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(
                f"{shown or folder} is damaged (array {name}: {text}); remove it or pass "
                "resume=False to write it again"
            ) from None
        grid = [range(-(-n // c)) for n, c in zip(array.shape, array.chunks)]

        def bad(index: tuple[int, ...], array: Any = array, name: str = name) -> bool:
            if not (folder / name / array.metadata.encode_chunk_key(index)).is_file():
                return True
            try:
                array[tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, array.chunks))]
            except Exception:  # a codec's error: the bytes are not a chunk
                return True
            return False

        indices = list(itertools.product(*grid))
        with ThreadPoolExecutor(max(1, workers)) as pool:
            broken = [i for i, b in zip(indices, pool.map(bad, indices)) if b]
        if broken:
            found[name] = broken
    return found


def _reopen(
    folder: Path,
    damaged: dict[str, list[tuple[int, ...]]],
    prints: dict[tuple[int, ...], str] | None,
    numblocks: tuple[int, ...],
) -> None:
    """Turn a finished store with damaged chunks back into a resumable one.

    Level 0 keeps every sound chunk (in a ledger, with the input fingerprints just
    verified); the damaged ones and every derived level are written again.
    """
    bad = set(damaged.get("0", []))
    lines = [
        ledger_line(index, prints.get(index) if prints else None)
        for index in np.ndindex(numblocks)
        if index not in bad
    ]
    (folder / f"{LEDGER}-0").write_text("".join(lines))


_ZARR_TEMPORARY = re.compile(r"\.[0-9a-f]{32}\.partial$")


def _remove_temporaries(folder: Path) -> None:
    """Delete the half-written chunk files a killed run left (zarr's ``*.<uuid>.partial``)."""
    for leftover in folder.rglob("*.partial"):
        if leftover.is_file() and _ZARR_TEMPORARY.search(leftover.name):
            leftover.unlink()


def _multiscales(
    lead: int, levels: int, scale: tuple[float, ...] | None, units: tuple | None = None
) -> dict:
    """OME-NGFF 0.5 ``multiscales`` metadata (zarr v3) with the input's scale and units."""
    names = OME_AXES[lead]
    axes = [{"name": n, "type": {"t": "time", "c": "channel"}.get(n, "space")} for n in names]
    for axis, unit in zip([a for a in axes if a["name"] != "c"], (scale and units) or ()):
        if unit:
            axis["unit"] = unit
    base = list(scale) if scale is not None else [1.0] * (lead + 2)
    datasets = []
    for k in range(levels + 1):
        per_axis = [*base[:-2], base[-2] * 2**k, base[-1] * 2**k]
        per_axis.insert(names.index("c"), 1.0)
        transform = [{"type": "scale", "scale": per_axis}]
        datasets.append({"path": str(k), "coordinateTransformations": transform})
    return {"name": "colorized", "axes": axes, "datasets": datasets}


def _read_state(folder: Path) -> dict | None:
    """The ``colorgan`` attributes of an existing store, or None."""
    import zarr

    if not folder.exists():
        return None
    try:
        state = zarr.open_group(folder, mode="r").attrs.get("colorgan")
    except Exception:  # not a zarr group
        return None
    return dict(state) if isinstance(state, dict) else None


def is_complete(path: str | os.PathLike) -> bool:
    """True only for a store whose writing finished."""
    state = _read_state(Path(path))
    return bool(state and state.get("complete"))
