"""Reading zarr and OME-Zarr stores defensively: metadata checked, read errors named.

A store's metadata is read by hand and may be wrong (a level deleted, a path
changed, axes that do not match the arrays); each such fault is one ValueError
naming the store and what is wrong, before any pixel is read.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DamagedFileError


@dataclass(frozen=True)
class Multiscale:
    """The checked first multiscale image of an OME-Zarr group.

    Attributes
    ----------
    axes : list of str
        Axis names, e.g. ``["c", "z", "y", "x"]``; every array has this many axes.
    arrays : list of zarr.Array
        The pyramid, finest first.
    scales : list of (list of float or None)
        The physical scale per axis of each level, when recorded.
    """

    axes: list[str]
    arrays: list[Any]
    scales: list[list[float] | None]


def _bad(path: str | os.PathLike, what: str) -> ValueError:
    return ValueError(f"{path} has invalid OME-Zarr metadata: {what}")


def read_multiscale(group: Any, path: str | os.PathLike) -> Multiscale | None:
    """The first multiscale of ``group`` with its arrays, checked; None when there is none.

    NGFF 0.5 nests the metadata under ``"ome"``, 0.4 keeps it at the top.

    Raises
    ------
    ValueError
        For metadata that do not describe the arrays in the store, naming the fault.
    """
    ome = group.attrs.get("ome", {})
    multiscales = (ome.get("multiscales") if isinstance(ome, dict) else None) or group.attrs.get(
        "multiscales"
    )
    if not multiscales:
        return None
    if not isinstance(multiscales, list) or not isinstance(multiscales[0], dict):
        raise _bad(path, f"multiscales must be a list of objects, got {str(multiscales)[:60]}")
    first = multiscales[0]
    axes = first.get("axes")
    if not isinstance(axes, list) or not axes:
        raise _bad(path, f"axes must be a list of names, got {axes!r}")
    names = [a.get("name") if isinstance(a, dict) else a for a in axes]
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise _bad(path, f"axes must be distinct names, got {names}")
    datasets = first.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise _bad(path, "it lists no datasets (pyramid levels)")
    arrays, scales = [], []
    for k, dataset in enumerate(datasets):
        key = dataset.get("path") if isinstance(dataset, dict) else None
        if not isinstance(key, str):
            raise _bad(path, f"level {k} has no path")
        array = _array(group, key, path, k)
        if array.ndim != len(names):
            raise _bad(
                path,
                f"level {k} ('{key}') is {array.ndim}-D but the axes are {', '.join(names)}",
            )
        arrays.append(array)
        scales.append(_scale(dataset, len(names), path, k))
    return Multiscale(names, arrays, scales)


def _array(group: Any, key: str, path: str | os.PathLike, k: int) -> Any:
    import zarr

    try:
        node = group[key]
    except KeyError:
        raise _bad(path, f"level {k}'s array '{key}' is missing") from None
    except Exception as err:  # zarr raises several types for damaged array metadata
        raise ValueError(f"cannot open level {k} ('{key}') of {path}: {err}") from None
    if not isinstance(node, zarr.Array):
        raise _bad(path, f"level {k}'s '{key}' is a group, not an array")
    return node


def _scale(dataset: dict, ndim: int, path: str | os.PathLike, k: int) -> list[float] | None:
    transforms = dataset.get("coordinateTransformations") or []
    scale = next(
        (t.get("scale") for t in transforms if isinstance(t, dict) and t.get("type") == "scale"),
        None,
    )
    if scale is None:
        return None
    if not isinstance(scale, list) or len(scale) != ndim:
        raise _bad(path, f"level {k}'s scale {scale!r} does not have one value per axis")
    try:
        values = [float(v) for v in scale]
    except (TypeError, ValueError):
        raise _bad(path, f"level {k}'s scale {scale!r} is not numbers") from None
    if not all(np.isfinite(v) and v > 0 for v in values):  # a size, not a structure fault
        warnings.warn(
            f"{Path(path).name}: level {k}'s scale {scale!r} is not positive sizes; "
            "it is read without physical pixel sizes",
            UserWarning,
            stacklevel=4,
        )
        return None
    return values


def check_finished(group: Any, path: str | os.PathLike) -> None:
    """Refuse a napari-colorgan output whose writing did not finish."""
    state = group.attrs.get("colorgan", {})
    if isinstance(state, dict) and state and not state.get("complete"):
        raise ValueError(f"{path} is an unfinished napari-colorgan output; finish or remove it")


class CheckedArray:
    """A zarr array whose read errors name the store (a damaged chunk is a ValueError)."""

    def __init__(self, array: Any, path: str | os.PathLike):
        self.array, self.path = array, str(path)
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return self.array[key]
        except Exception as err:  # codecs and stores raise many types
            text = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise DamagedFileError(f"cannot read {self.path} ({self.array.path}): {text}") from None


def as_dask(array: Any, path: str | os.PathLike) -> Any:
    """A dask view of a zarr array, chunk for chunk, whose read errors name ``path``."""
    import dask.array as da
    from dask.base import tokenize

    name = f"zarr-{tokenize(str(Path(path).resolve()), array.path, array.metadata.to_dict())}"
    return da.from_array(
        CheckedArray(array, path),
        chunks=array.chunks,
        name=name,
        asarray=True,
        meta=np.empty((0,) * array.ndim, array.dtype),
    )
