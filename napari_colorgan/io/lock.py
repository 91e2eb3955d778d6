"""One writer per output: an advisory lock held beside the output for a whole run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputBusyError(RuntimeError):
    """Another run is writing the same output."""


def lock_path(path: str | os.PathLike) -> Path:
    """The hidden ``.<name>.lock`` file beside ``path`` that a writer holds."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the write lock of ``path`` for the block, or raise at once if another run has it.

    The lock is an OS file lock (:mod:`filelock`), so the kernel frees it when its
    process dies: a killed run never leaves an output locked, and the lock file
    goes when the run ends. Within one thread the lock is re-entrant (a sink
    called by :func:`colorize_to_file` under its lock).

    Raises
    ------
    OutputBusyError
        When another process or thread holds the lock of ``path``.
    """
    from filelock import FileLock, Timeout

    path = Path(path).resolve()
    lock = FileLock(lock_path(path), timeout=0, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        raise OutputBusyError(
            f"{path} is being written by another run (it holds {lock_path(path).name}); "
            "wait for it to finish or write to another path"
        ) from None
    try:
        yield
    finally:
        if lock.lock_counter == 1:  # the outermost hold: leave no lock file behind
            # unlinked while still held; filelock re-opens a path whose inode is gone
            lock_path(path).unlink(missing_ok=True)
        lock.release()
