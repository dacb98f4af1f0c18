"""Batch iteration over in-memory arrays without per-sample Python work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from skorch.dataset import get_len
from torch.utils.data import Subset

__all__ = ["ArrayBatchLoader", "SubjectBatchLoader"]


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
        for batch in self._batches():
            Xb = _take(self._X, batch)
            yb = _take(self._y, batch) if self._y is not None else torch.zeros(len(batch))
            yield Xb, yb

    def _batches(self) -> Iterator[np.ndarray]:
        """Row indices of each batch of one epoch."""
        order = self._indices
        if self.shuffle:
            order = order[torch.randperm(len(order), generator=self.generator).numpy()]
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            if self.drop_last and len(batch) < self.batch_size:
                break
            yield batch


class SubjectBatchLoader(ArrayBatchLoader):
    """Training batches that each hold the clips of one subject only.

    A batch-norm layer trained on such batches normalises every subject by that subject's
    own statistics, which is what per-subject calibration
    (:class:`~skemotion.compose.SubjectAdaptiveClassifier`, AdaBN) does at prediction time:
    the network learns on features of the same kind it is calibrated with. Each subject's
    clips are split into ``ceil(n / batch_size)`` batches of near-equal size (60 clips at
    ``batch_size=64`` make one batch of 60, at 32 two of 30), so no batch is a remnant of
    a few clips; with ``shuffle`` the clips are dealt into batches at random every epoch
    and the batches come in random order.

    ``TIMNetClassifier(batching="subject")`` builds it with the ``groups`` passed to ``fit``.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch Subset of one
    groups : array-like of shape (n_rows,)
        Subject of every row of the underlying arrays (before any subset).
    batch_size : int, default=64
    shuffle : bool, default=False
    drop_last : bool, default=False
        Accepted for the loader interface; the even split leaves no short batch to drop.
    generator : torch.Generator or None, default=None
    **kwargs
        Other DataLoader options, ignored.
    """

    def __init__(
        self,
        dataset: Any,
        groups: Any,
        batch_size: int = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(dataset, batch_size, shuffle, drop_last, generator, **kwargs)
        groups = np.asarray(groups)
        if groups.ndim != 1 or len(groups) != get_len(self._X):
            raise ValueError(
                f"groups must give the subject of each of the {get_len(self._X)} rows, got "
                f"shape {groups.shape}."
            )
        _, codes = np.unique(groups[self._indices], return_inverse=True)
        self._members = [self._indices[codes == code] for code in range(codes.max(initial=-1) + 1)]

    def __len__(self) -> int:
        return sum(-(-len(rows) // self.batch_size) for rows in self._members)

    def _batches(self) -> Iterator[np.ndarray]:
        batches: list[np.ndarray] = []
        for rows in self._members:
            if self.shuffle:
                rows = rows[torch.randperm(len(rows), generator=self.generator).numpy()]
            batches.extend(np.array_split(rows, -(-len(rows) // self.batch_size)))
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator)]
        yield from batches
