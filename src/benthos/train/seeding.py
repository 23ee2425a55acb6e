"""Random streams that a resumed run replays exactly: training order and augmentations by epoch.

A run killed after a checkpoint and resumed must end with the weights the uninterrupted run
would have had. Lightning restores the weights, optimiser, scheduler and callback states; the
random streams are ours to keep:

- The order of the training items and each item's augmentation are drawn from ``(seed, epoch)``
  alone (:class:`EpochSampler`), and each item is transformed under its own seed
  (:class:`SeededDataset`). A DataLoader worker's random state, which persistent workers carry from
  one epoch to the next and a resumed run starts afresh, then plays no part; nor does the number
  of workers (a run resumed with another ``--num-workers`` sees the same images).
- The training process's own generators (dropout, mixup) are saved in each checkpoint and set back
  on resume (:func:`capture`, :func:`restore`); the loaders draw their worker seeds from their own
  generator (:func:`loader_generator`), not from the global one, so creating them leaves its stream alone.
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler


def _generator(*key: int) -> torch.Generator:
    seed = int(np.random.SeedSequence([int(k) & 0xFFFFFFFFFFFFFFFF for k in key]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(seed)


def loader_generator(seed: int) -> torch.Generator:
    """A DataLoader's own generator, so that starting its iterator draws nothing from torch's global one."""
    return _generator(seed, 0x10ADE5)


class EpochSampler(DistributedSampler):
    """Yields ``(index, item_seed)`` for one epoch: a permutation (or, with ``weights``, a weighted draw
    with replacement, as ``WeightedRandomSampler``) and a seed per item, both from ``(seed, epoch)``.

    A ``DistributedSampler`` so that Lightning leaves it in place under DDP instead of wrapping it
    (its wrapper would not pass the epoch on): with a process group each rank takes every
    ``world``-th item, padded as ``DistributedSampler`` pads, of the same epoch's draw.
    """

    def __init__(self, n: int, seed: int, weights: Sequence[float] | None = None, epoch: int = 0):
        # not DistributedSampler.__init__: it needs the process group, which Lightning starts later
        self.n, self.seed, self.epoch = int(n), int(seed), int(epoch)
        self.weights = None if weights is None else torch.as_tensor(np.asarray(weights, np.float64))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @staticmethod
    def _world() -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def __len__(self) -> int:
        return math.ceil(self.n / self._world()[0])

    def __iter__(self):
        g = _generator(self.seed, self.epoch)
        if self.weights is not None:
            order = torch.multinomial(self.weights, self.n, replacement=True, generator=g)
        else:
            order = torch.randperm(self.n, generator=g)
        seeds = torch.randint(0, 2**62, (self.n,), generator=g)
        items = list(zip(order.tolist(), seeds.tolist()))
        world, rank = self._world()
        if world > 1:
            total = len(self) * world
            items = (items * math.ceil(total / max(1, len(items))))[:total]
            items = items[rank::world]
        return iter(items)


class SeededDataset(Dataset):
    """``dataset[index]`` computed under torch's generator seeded with the item's seed (torchvision's
    transforms draw from it), the caller's generator state left as it was."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        state = torch.get_rng_state()
        # the CPU generator only: torch.manual_seed also visits every accelerator backend (~1 ms a call)
        torch.default_generator.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            torch.set_rng_state(state)


def capture() -> dict:
    """The training process's random state, in types a ``weights_only`` checkpoint load accepts."""
    version, mt, pos = random.getstate()
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": list(mt), "python_pos": pos,
             "numpy": torch.from_numpy(np_state[1].astype(np.int64)), "numpy_pos": int(np_state[2])}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict) -> None:
    """Set back what :func:`capture` saved."""
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], 0, 0.0))
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
