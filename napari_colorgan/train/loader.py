"""Batches fed to the training loop, read ahead by worker processes when asked.

Batch ``i`` is a function of the sampler's seed and ``i`` alone
(:meth:`~.data.PatchSampler.batch`), so a :class:`torch.utils.data.DataLoader` over
the steps still to run gives the same batches with any number of workers, and a
resumed run the same as an uninterrupted one. Each data-parallel rank reads only its
own part of every batch: the ranks' patches are disjoint and together the batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .data import Batch, PatchSampler


class StepBatches(torch.utils.data.Dataset):
    """Item ``i``: one process's ``part`` of batch ``i`` (of ``n`` patches)."""

    def __init__(self, sampler: PatchSampler, n: int, part: slice, references: bool):
        self.sampler, self.n, self.part, self.references = sampler, n, part, references

    def __getitem__(self, index: int) -> Batch:
        return self.sampler.batch(index, self.n, self.part, self.references)


def _one_thread(_worker: int) -> None:
    # workers read and augment; the training process keeps the cores' threads
    torch.set_num_threads(1)


def _as_is(batch: Batch) -> Batch:
    return batch


def batches(
    sampler: PatchSampler,
    steps: range,
    n: int,
    part: slice = slice(None),
    *,
    references: bool = False,
    workers: int = 0,
    pin: bool = False,
    prefetch: int = 4,
) -> Iterator[Batch]:
    """The batches of ``steps``, in order.

    Parameters
    ----------
    sampler : PatchSampler
    steps : range
        The batch indices (training steps) to give.
    n : int
        Patches in a global batch.
    part : slice
        This process's share of each batch.
    references : bool
        Draw reference crops (guided training).
    workers : int
        Worker processes reading ahead (0: each batch read when asked, in this process).
    pin : bool
        Page-locked batches (for fast, asynchronous copies to a CUDA device).
    prefetch : int
        Batches each worker keeps ready.
    """
    dataset = StepBatches(sampler, n, part, references)
    if workers == 0:
        return (dataset[i] for i in steps)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=steps,
        num_workers=workers,
        collate_fn=_as_is,
        pin_memory=pin,
        prefetch_factor=prefetch,
        worker_init_fn=_one_thread,
        # the workers' own seeds come from this, not from the global stream
        generator=torch.Generator().manual_seed(0),
    )
    return iter(loader)
