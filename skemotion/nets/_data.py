"""Batch iteration over in-memory arrays without per-sample Python work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

__all__ = ["ArrayBatchLoader"]


def _arrays_and_indices(dataset: Any) -> tuple[Any, Any, np.ndarray]:
    indices: np.ndarray | None = None
    while isinstance(dataset, Subset):
        subset_indices = np.asarray(dataset.indices, dtype=np.int64)
        indices = subset_indices if indices is None else subset_indices[indices]
        dataset = dataset.dataset
    X, y = getattr(dataset, "X", None), getattr(dataset, "y", None)
    if X is None:
        raise TypeError(
            f"ArrayBatchLoader needs a skorch Dataset over arrays, got {type(dataset).__name__}."
        )
    if indices is None:
        indices = np.arange(len(dataset))
    return X, y, indices


def _take(data: Any, index: np.ndarray) -> Any:
    if isinstance(data, dict):
        return {key: _take(value, index) for key, value in data.items()}
    return torch.as_tensor(np.ascontiguousarray(data[index]))


class ArrayBatchLoader:
    """Drop-in for ``torch.utils.data.DataLoader`` over a skorch ``Dataset`` of arrays.

    skorch's default loader fetches and collates clip by clip; for a few thousand small
    feature arrays that per-sample work costs as much as the network itself. This loader
    gathers a whole batch with one fancy-indexing call. Shuffling draws from ``generator``,
    torch's global generator by default, so ``TIMNetClassifier(random_state=...)`` makes it
    reproducible.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch Subset of one
    batch_size : int
    shuffle : bool, default=False
    drop_last : bool, default=False
    generator : torch.Generator or None, default=None
        Source of the shuffling permutations (as DataLoader's ``generator``); None draws
        from torch's global generator.
    **kwargs
        Other DataLoader options (``num_workers``...) are accepted and ignored: the data
        is already in memory.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self._X, self._y, self._indices = _arrays_and_indices(dataset)

    def __len__(self) -> int:
        n_batches, remainder = divmod(len(self._indices), self.batch_size)
        return n_batches + (remainder > 0 and not self.drop_last)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        order = self._indices
        if self.shuffle:
            order = order[torch.randperm(len(order), generator=self.generator).numpy()]
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            if self.drop_last and len(batch) < self.batch_size:
                break
            Xb = _take(self._X, batch)
            yb = _take(self._y, batch) if self._y is not None else torch.zeros(len(batch))
            yield Xb, yb
