"""Open files kept for lazy reads: one per file version, a few at a time, closed when dropped."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def file_version(path: str) -> tuple:
    """What identifies one version of a file: a file rewritten or replaced has another."""
    stat = os.stat(path)
    return path, stat.st_ino, stat.st_size, stat.st_mtime_ns


class Handles:
    """A small cache of open files keyed on ``(version, extra)``, least recently used first.

    A file that changed on disk has another :func:`file_version`, so it is opened
    afresh (and the handle on its old version closed) instead of being read
    through a stale handle; beyond ``limit`` entries the oldest is closed.

    Parameters
    ----------
    opener : callable
        ``opener(path, *extra)`` returns an open object with a ``close()`` method.
    limit : int
        Entries kept open at once.
    """

    def __init__(self, opener: Callable[..., Any], limit: int):
        self.opener, self.limit = opener, limit
        self.lock = threading.RLock()  # callers may hold it across a seek and a read
        self._open: OrderedDict[tuple, Any] = OrderedDict()
        self._busy: dict[int, int] = {}  # id -> reads in flight (see using)
        self._retired: dict[int, Any] = {}  # dropped while read: closed by the last reader

    def _drop(self, key: tuple) -> None:
        handle = self._open.pop(key)
        if self._busy.get(id(handle)):
            self._retired[id(handle)] = handle
        else:
            handle.close()

    @contextmanager
    def using(self, version: tuple, *extra: Any) -> Iterator[Any]:
        """The open object for a read outside :attr:`lock`; it is not closed under it."""
        with self.lock:
            handle = self.get(version, *extra)
            self._busy[id(handle)] = self._busy.get(id(handle), 0) + 1
        try:
            yield handle
        finally:
            with self.lock:
                left = self._busy.pop(id(handle)) - 1
                if left:
                    self._busy[id(handle)] = left
                elif id(handle) in self._retired:
                    self._retired.pop(id(handle)).close()

    def get(self, version: tuple, *extra: Any) -> Any:
        """The open object for ``version`` (see :func:`file_version`) and ``extra``."""
        key = (version, extra)
        with self.lock:
            if key in self._open:
                self._open.move_to_end(key)
                return self._open[key]
            for stale in [k for k in self._open if k[0][0] == version[0] and k[0] != version]:
                self._drop(stale)  # an older version of the same file
            self._open[key] = self.opener(version[0], *extra)
            while len(self._open) > self.limit:
                self._drop(next(iter(self._open)))
            return self._open[key]

    def __len__(self) -> int:
        return len(self._open)
