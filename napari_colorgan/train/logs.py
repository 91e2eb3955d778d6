"""Training logs: the losses of every ``log_every``-th step to CSV, and to TensorBoard."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, NamedTuple

LOG_COLUMNS = ("l1", "g", "d", "adv", "fm", "chroma", "hint", "perceptual", "foreground")


class TrainStep(NamedTuple):
    """One training step done: its number and the ``losses`` it measured.

    It unpacks as the ``(step, losses)`` pair that training yielded before.
    """

    step: int
    losses: dict[str, float]


class TrainLog:
    """Append rows of losses to a CSV file (a resumed run continues it).

    Parameters
    ----------
    path : path-like
        The CSV file; its TensorBoard events go to ``<path without suffix>_tensorboard``.
    tensorboard : bool
        Also write TensorBoard scalars (needs the ``tensorboard`` package).
    """

    def __init__(self, path: str | Path, tensorboard: bool = False):
        self.board = _summary_writer(path) if tensorboard else None
        self.file = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=["step", "seconds", *LOG_COLUMNS])
        if self.file.tell() == 0:
            self.writer.writeheader()

    def write(self, step: int, seconds: float, logs: dict[str, float]) -> None:
        """One row: the step, the seconds since the start, each loss (NaN if absent)."""
        row = {"step": step, "seconds": round(seconds, 1)}
        row.update({k: logs.get(k, math.nan) for k in LOG_COLUMNS})
        self.writer.writerow(row)
        self.file.flush()
        if self.board is not None:
            for k, v in logs.items():
                self.board.add_scalar(f"loss/{k}", v, step)

    def close(self) -> None:
        self.file.close()
        if self.board is not None:
            self.board.close()


def _summary_writer(log_path: str | Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ImportError(
            "tensorboard = true needs the tensorboard package: pip install tensorboard"
        ) from err
    return SummaryWriter(str(Path(log_path).with_suffix("")) + "_tensorboard")
