"""Live mode's layer data: planes colourised on a worker thread as napari asks for them.

napari slices a layer on its event loop; a dask layer whose planes run the
generator would hold the loop for as long as a plane takes. :class:`LivePlanes`
answers at once instead: a plane already colourised, or black while it is
computed on a worker thread, after which the layer is refreshed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from typing import Any

import numpy as np

from .io.scaling import to_dtype

KEPT = 8  # planes kept in memory (a 4096 x 4096 colour plane is 50 MB)


class LivePlanes:
    """A lazy ``(..., Y, X, 3)`` uint8 colour stack that never makes its reader wait.

    Parameters
    ----------
    rgb : dask.array.Array
        The lazy float colourisation in [0, 1] (one chunk per plane on leading axes).
    on_ready : callable
        Called with no argument on napari's main thread when a plane is ready.
    on_error : callable
        Called with the exception on the main thread when a plane fails (once).
    """

    def __init__(self, rgb: Any, on_ready: Callable[[], None], on_error: Callable) -> None:
        from superqt.utils import ensure_main_thread

        self.rgb = rgb
        self.shape, self.dtype, self.ndim = tuple(rgb.shape), np.dtype(np.uint8), rgb.ndim
        self._blank = np.broadcast_to(np.uint8(0), self.shape[-3:])  # black, no memory
        self._ready: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._queued: set[tuple[int, ...]] = set()
        self._failed = False
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="colorgan-live")
        self._on_ready = ensure_main_thread(on_ready)
        self._on_error = ensure_main_thread(on_error)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = (*key, *(slice(None),) * (self.ndim - len(key)))
        lead, rest = key[: self.ndim - 3], key[self.ndim - 3 :]
        axes = [range(n)[k] if isinstance(k, slice) else [int(k)] for k, n in zip(lead, self.shape)]
        planes = [self.plane(index)[rest] for index in product(*axes)]
        sizes = [len(a) for a, k in zip(axes, lead) if isinstance(k, slice)]
        if len(planes) == 1:  # napari's usual request, a slice one plane thick: no copy
            return planes[0].reshape(*sizes, *planes[0].shape)
        return np.stack(planes).reshape(*sizes, *planes[0].shape)

    def plane(self, index: tuple[int, ...]) -> np.ndarray:
        """The colour of plane ``index``, or black while it is being computed."""
        with self._lock:
            if index in self._ready:
                self._ready.move_to_end(index)
                return self._ready[index]
            if self._failed or index in self._queued:
                return self._blank
            self._queued.add(index)
        self._pool.submit(self._compute, index)
        return self._blank

    def is_ready(self, index: tuple[int, ...]) -> bool:
        """True once plane ``index`` has been colourised (and is still kept)."""
        with self._lock:
            return index in self._ready

    def close(self) -> None:
        """Compute nothing more (the layer was removed)."""
        with self._lock:
            self._failed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _compute(self, index: tuple[int, ...]) -> None:
        try:
            # one thread, as a worker colourises a slice: dask threads beside torch's own
            # would leave napari's event loop no core to run on
            plane = to_dtype(self.rgb[index].compute(scheduler="synchronous"), "uint8")
        except Exception as err:  # shown once on the main thread; the layer stays black
            with self._lock:
                first, self._failed = not self._failed, True
            if first:
                self._on_error(err)
            return
        with self._lock:
            self._queued.discard(index)
            self._ready[index] = plane
            while len(self._ready) > KEPT:
                self._ready.popitem(last=False)
        self._on_ready()
