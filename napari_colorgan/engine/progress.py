"""The one shape of progress the engine reports, and the driver that runs it to the end."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any, NamedTuple


class Progress(NamedTuple):
    """One progress event: ``done`` of ``total`` steps of a ``stage``.

    ``stage`` names what is counted: ``"tile"``, ``"chunk (level 0)"``,
    ``"TIFF level 1"``... A consumer shows one bar per stage.
    """

    stage: str
    done: int
    total: int


def staged(steps: Iterator[tuple[int, int]], stage: str) -> Generator[Progress, None, Any]:
    """Relay ``(done, total)`` counts as :class:`Progress` of ``stage``; return the result."""
    while True:
        try:
            done, total = next(steps)
        except StopIteration as finished:
            return finished.value
        yield Progress(stage, done, total)


def drive(steps: Iterator[Progress], progress: bool) -> Any:
    """Run a :class:`Progress` generator to its end, with a tqdm bar per stage if asked."""
    from tqdm.auto import tqdm

    bar = None
    try:
        while True:
            try:
                stage, done, total = next(steps)
            except StopIteration as finished:
                return finished.value
            if progress and (bar is None or bar.unit != stage):
                if bar is not None:
                    bar.close()
                bar = tqdm(total=total, unit=stage)
            if bar is not None:
                bar.update(done - bar.n)
    finally:
        if bar is not None:
            bar.close()
