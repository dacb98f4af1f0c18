"""Batch loaders over in-memory arrays: mixed batches and one-subject batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from torch.utils.data import Subset

from skemotion.nets import (
    ArrayBatchLoader,
    SubjectBatchLoader,
    TIMNetClassifier,
    stacking_unsupported_reason,
)


def _dataset(n: int = 50) -> Dataset:
    X = np.arange(n, dtype=np.float32)[:, None, None].repeat(3, axis=1)
    return Dataset(X, np.arange(n) % 2)


def _rows(batch: Any) -> np.ndarray:
    return batch[0][:, 0, 0].numpy().astype(int)


def test_subject_batches_hold_one_subject_each_and_cover_every_clip_once() -> None:
    groups = np.repeat([3, 1, 2], [23, 20, 7])
    loader = SubjectBatchLoader(
        _dataset(), groups=groups, batch_size=8, shuffle=True, generator=torch.Generator()
    )
    batches = [_rows(batch) for batch in loader]
    assert len(batches) == len(loader) == 3 + 3 + 1
    assert all(len(np.unique(groups[rows])) == 1 for rows in batches)
    assert sorted(np.concatenate(batches).tolist()) == list(range(50))
    # Split evenly: 23 clips at batch size 8 give 8, 8, 7, never a remnant of a few.
    sizes = sorted(len(rows) for rows in batches if groups[rows[0]] == 3)
    assert sizes == [7, 8, 8]


def test_subject_batches_are_reshuffled_every_epoch_and_seeded() -> None:
    groups = np.repeat([0, 1], 25)

    def epochs(seed: int) -> list[list[list[int]]]:
        generator = torch.Generator().manual_seed(seed)
        loader = SubjectBatchLoader(
            _dataset(), groups=groups, batch_size=10, shuffle=True, generator=generator
        )
        return [[_rows(b).tolist() for b in loader] for _ in range(2)]

    first, second = epochs(0)
    assert first != second
    assert epochs(0) == [first, second]


def test_subject_batches_of_a_subset_index_the_underlying_groups() -> None:
    groups = np.repeat([0, 1, 2, 3, 4], 10)
    subset = Subset(_dataset(), list(range(10, 50)))
    loader = SubjectBatchLoader(subset, groups=groups, batch_size=64)
    batches = [_rows(batch) for batch in loader]
    assert [sorted(set(groups[rows])) for rows in batches] == [[1], [2], [3], [4]]


def test_subject_batches_need_one_subject_per_row() -> None:
    with pytest.raises(ValueError, match="subject of each of the 50 rows"):
        SubjectBatchLoader(_dataset(), groups=np.zeros(49))


def test_mixed_batches_are_the_default_loader() -> None:
    loader = ArrayBatchLoader(_dataset(), batch_size=16)
    assert [len(_rows(b)) for b in loader] == [16, 16, 16, 2]


class _RecordBatches(Callback):
    def initialize(self) -> _RecordBatches:
        self.subjects_: list[np.ndarray] = []
        return self

    def on_batch_begin(self, net: Any, batch: Any = None, training: bool = False, **kw: Any):
        if training:
            self.subjects_.append(np.unique(batch[0][:, 0, 0].numpy()))


def _clips(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(5), 12)
    X = rng.normal(size=(60, 12, 4)).astype(np.float32)
    X[:, :, 0] = groups[:, None]  # the subject, readable from the batch
    y = np.where(X[:, :, 1].mean(axis=1) > 0, "up", "down")
    return X, y, groups


SMALL: dict[str, Any] = {"max_epochs": 3, "module__filters": 8, "module__n_scales": 2}


def test_a_network_with_subject_batching_trains_on_one_subject_per_batch() -> None:
    X, y, groups = _clips()
    recorder = _RecordBatches()
    net = TIMNetClassifier(
        batching="subject", batch_size=8, callbacks=[("rec", recorder)], random_state=0, **SMALL
    ).fit(X, y, groups=groups)
    seen = dict(net.callbacks_)["rec"].subjects_
    assert len(seen) == 3 * 5 * 2  # 3 epochs x 5 subjects x 2 batches of 6
    assert all(len(subjects) == 1 for subjects in seen)
    mixed = TIMNetClassifier(batch_size=8, callbacks=[("rec", _RecordBatches())], **SMALL)
    mixed.fit(X, y, groups=groups)
    assert max(len(s) for s in dict(mixed.callbacks_)["rec"].subjects_) > 1


def test_subject_batching_needs_groups_and_a_known_value() -> None:
    X, y, _ = _clips()
    with pytest.raises(ValueError, match=r"groups=subjects"):
        TIMNetClassifier(batching="subject", **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="batching must be"):
        TIMNetClassifier(batching="actor", **SMALL).fit(X, y)


def test_subject_batching_is_reproducible_and_not_stacked() -> None:
    X, y, groups = _clips()

    def proba() -> np.ndarray:
        net = TIMNetClassifier(batching="subject", random_state=3, **SMALL)
        return net.fit(X, y, groups=groups).predict_proba(X)

    np.testing.assert_array_equal(proba(), proba())
    reason = stacking_unsupported_reason(TIMNetClassifier(batching="subject"))
    assert reason == "its batches hold one subject each"


def test_the_learning_rate_schedule_spans_the_subject_batches() -> None:
    X, y, groups = _clips()
    net = TIMNetClassifier(batching="subject", batch_size=8, lr_schedule="cosine", **SMALL)
    net.fit(X, y, groups=groups)
    schedule = dict(net.callbacks_)["lr_schedule"]
    assert schedule.total_steps_ == schedule.step_ == 3 * 10
