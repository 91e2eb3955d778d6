"""What an output was made from: a fingerprint of the input under every chunk it holds.

A streaming sink appends one line per finished chunk to a ledger file inside its
store: the chunk's index and, for full-resolution chunks, a BLAKE2b digest of the
input pixels it was computed from (their bytes, dtype and shape; never a path).
A resumed run hashes the input under the chunks it skips and compares; a
finished store keeps one digest of all of them in its attributes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

LEDGER = ".colorgan-done"


class OutputMismatchError(ValueError):
    """An existing output was made from another input or with other settings.

    The message names the store and what differs, in the library's words; the
    command line prints :attr:`cli_message`, which names its own option.
    """

    def __init__(self, store: str | Path, what: str):
        self.store, self.what = str(store), what
        super().__init__(self._text("pass resume=False"))

    def _text(self, how: str) -> str:
        return f"{self.store} was made from {self.what}; {how} to replace it, or write elsewhere"

    @property
    def cli_message(self) -> str:
        """The same message for the ``colorgan`` command (``--no-resume``)."""
        return self._text("run with --no-resume")


def fingerprint(block: np.ndarray) -> str:
    """BLAKE2b digest (128 bits) of an array's dtype, shape and bytes."""
    block = np.ascontiguousarray(block)
    digest = hashlib.blake2b(f"{block.dtype.str}{block.shape}".encode(), digest_size=16)
    digest.update(block.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def combined(prints: dict[tuple[int, ...], str]) -> str:
    """One digest of every chunk's fingerprint, in chunk order."""
    digest = hashlib.blake2b(digest_size=16)
    for index in sorted(prints):
        digest.update(f"{list(index)}{prints[index]}\n".encode())
    return digest.hexdigest()


def lazy_print(source: Any, region: tuple[slice, ...]) -> Any:
    """The fingerprint of ``source[region]``: a dask task for a dask array, else a value.

    A task computed in the same ``dask.compute`` call as the colour chunk shares its
    input reads, so hashing costs no second read of a file.
    """
    import dask
    import dask.array as da

    if isinstance(source, da.Array):
        return dask.delayed(fingerprint, pure=True)(source[region])
    return fingerprint(np.asarray(source[region]))


def describe(region: Iterable[slice]) -> str:
    """``[0:256, 256:512]``: where in the input a chunk lies."""
    return "[" + ", ".join(f"{s.start}:{s.stop}" for s in region) + "]"


def read_ledger(
    ledger: Path, numblocks: tuple[int, ...] | None = None
) -> dict[tuple[int, ...], str | None]:
    """Finished chunk indices and their input fingerprints (None for derived levels).

    A line cut short by a kill, or any line that is not a chunk index of the
    grid ``numblocks`` (non-integers, another length, out of range, a fingerprint
    that is not one) is not counted: its chunk is written again.
    """
    done: dict[tuple[int, ...], str | None] = {}
    for line in ledger.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(entry, list) or not entry:
            continue  # not a line this package wrote
        index, print_ = entry, None
        if isinstance(entry[0], list) and len(entry) == 2:  # [index, fingerprint]
            index, print_ = entry[0], entry[1]
            if not (isinstance(print_, str) and len(print_) == 32):
                continue
        if _is_index(index, numblocks):
            done[tuple(index)] = print_
    return done


def _is_index(index: list, numblocks: tuple[int, ...] | None) -> bool:
    if not all(type(i) is int and i >= 0 for i in index):  # bool is not an index either
        return False
    if numblocks is None:
        return True
    return len(index) == len(numblocks) and all(i < n for i, n in zip(index, numblocks))


def ledger_line(index: tuple[int, ...], print_: str | None) -> str:
    """One ledger line: the chunk index, with its input fingerprint when it has one."""
    return json.dumps([list(index), print_] if print_ else list(index)) + "\n"
