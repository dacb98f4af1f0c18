"""skorch callbacks: the paper's checkpoint rule and group-aware internal validation."""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np
from sklearn.model_selection import GroupShuffleSplit
from skorch.callbacks import Callback
from torch.utils.data import Subset

__all__ = [
    "LR_SCHEDULES",
    "GroupedValidSplit",
    "LearningRateSchedule",
    "RestoreBestCheckpoint",
    "lr_factor",
]


class RestoreBestCheckpoint(Callback):
    """Keep the weights of the epoch with the lowest ``monitor`` and restore them at the end.

    The paper reports "the checkpoint with the lowest training loss", which by construction
    never looks at held-out data. The copy is kept in memory (a TIM-Net is ~1 MB), so no
    files are written during cross-validation.

    Parameters
    ----------
    monitor : str, default="train_loss"
        History key to minimise. Only ``train_*`` keys, or ``valid_*`` keys computed on a
        :class:`GroupedValidSplit` of the training data, are meaningful: the test fold is
        never visible to the network.
    """

    def __init__(self, monitor: str = "train_loss") -> None:
        self.monitor = monitor

    def initialize(self) -> RestoreBestCheckpoint:
        self.best_score_ = np.inf
        self.best_epoch_: int | None = None
        self._best_state: dict[str, Any] | None = None
        self._history_seen = False
        return self

    def on_epoch_begin(self, net: Any, **kwargs: Any) -> None:
        # A run resumed with skorch's LoadInitState arrives with the epochs already trained
        # in its history (loaded in on_train_begin, after this callback's own hook, hence
        # here); the best of those still counts.
        if self._history_seen:
            return
        self._history_seen = True
        earlier = [row for row in net.history[:-1] if self.monitor in row]
        if not earlier:
            return
        best = min(earlier, key=lambda row: row[self.monitor])
        self.best_score_ = float(best[self.monitor])
        self.best_epoch_ = int(best["epoch"])
        if best is earlier[-1]:
            # The loaded weights are those of the last epoch trained.
            self._best_state = copy.deepcopy(net.module_.state_dict())
        else:
            warnings.warn(
                f"Resumed training: epoch {self.best_epoch_} had the lowest {self.monitor} "
                f"({self.best_score_:.4g}) but only the weights of epoch "
                f"{int(earlier[-1]['epoch'])} were loaded; unless a resumed epoch does better, "
                "the last epoch's weights are kept. Save the best weights too, e.g. "
                "Checkpoint(monitor='train_loss_best', fn_prefix='best_').",
                UserWarning,
                stacklevel=2,
            )

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        score = net.history[-1, self.monitor]
        improved = bool(score < self.best_score_)
        if improved:
            self.best_score_ = float(score)
            self.best_epoch_ = int(net.history[-1, "epoch"])
            self._best_state = copy.deepcopy(net.module_.state_dict())
        net.history.record("checkpoint", improved)

    def on_train_end(self, net: Any, **kwargs: Any) -> None:
        if self._best_state is not None:
            net.module_.load_state_dict(self._best_state)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # The weights live in the module once restored; no need to pickle them twice.
        state["_best_state"] = None
        return state


class GroupedValidSplit:
    """Internal validation split for skorch that keeps each speaker on one side.

    skorch's default ``ValidSplit`` stratifies on ``y`` and ignores speakers, so the same
    actor ends up in the internal train and validation parts. This split holds out whole
    groups (actors) instead; :class:`~skemotion.nets.TIMNetClassifier` passes it the
    ``groups`` given to ``fit``.

    Parameters
    ----------
    valid_size : float, default=0.2
        Fraction of the groups held out.
    random_state : int or None, default=None
        Seed of the group draw.
    """

    def __init__(self, valid_size: float = 0.2, random_state: int | None = None) -> None:
        self.valid_size = valid_size
        self.random_state = random_state

    def __call__(
        self, dataset: Any, y: Any = None, groups: Any = None
    ) -> tuple[Subset[Any], Subset[Any]]:
        if groups is None:
            raise ValueError(
                "GroupedValidSplit needs the speaker of every training clip: call "
                "fit(X, y, groups=actors) (in a Pipeline, enable metadata routing and "
                "set_fit_request(groups=True) on the classifier)."
            )
        groups = np.asarray(groups)
        if len(np.unique(groups)) < 2:
            raise ValueError("GroupedValidSplit needs at least two distinct groups.")
        splitter = GroupShuffleSplit(
            n_splits=1, test_size=self.valid_size, random_state=self.random_state
        )
        train_idx, valid_idx = next(splitter.split(np.zeros(len(groups)), groups=groups))
        return Subset(dataset, train_idx.tolist()), Subset(dataset, valid_idx.tolist())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(valid_size={self.valid_size}, random_state={self.random_state})"
        )


LR_SCHEDULES = ("onecycle", "cosine")
"""Learning-rate schedules of :class:`LearningRateSchedule` (``lr_schedule=`` of the
classifiers): ``"onecycle"`` (Smith & Topin 2019: from ``lr / 25`` up to ``lr`` over the
first 30 % of the steps, then down to ``lr / 25e4``, both halves cosine-shaped, as
``torch.optim.lr_scheduler.OneCycleLR`` without momentum cycling) and ``"cosine"``
(from ``lr`` down to 0 over all steps, Loshchilov & Hutter 2017, without restarts)."""


def _cosine(start: float, end: float, fraction: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)


def lr_factor(schedule: str, step: int, total_steps: int) -> float:
    """Multiple of the base learning rate for optimiser step ``step`` (0-based) of ``total_steps``.

    Parameters
    ----------
    schedule : {"onecycle", "cosine"}
    step : int
    total_steps : int

    Returns
    -------
    factor : float

    Examples
    --------
    >>> round(lr_factor("onecycle", 0, 100), 6), lr_factor("onecycle", 29, 100)
    (0.04, 1.0)
    >>> round(lr_factor("cosine", 50, 101), 3)
    0.5
    """
    last = max(total_steps - 1, 1)
    step = min(step, last)
    if schedule == "cosine":
        return _cosine(1.0, 0.0, step / last)
    if schedule == "onecycle":
        # OneCycleLR's defaults: pct_start 0.3, div_factor 25, final_div_factor 1e4.
        initial, final = 1.0 / 25.0, 1.0 / 25.0 / 1e4
        peak = max(0.3 * total_steps - 1, 1.0)
        if step <= peak:
            return _cosine(initial, 1.0, step / peak)
        return _cosine(1.0, final, (step - peak) / max(last - peak, 1.0))
    raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES} or None, got {schedule!r}.")


class LearningRateSchedule(Callback):
    """Set the optimiser's learning rate before every training step from a schedule.

    The schedule runs over the whole ``fit``: ``max_epochs`` times the number of training
    batches per epoch, from the learning rate the optimiser starts with. skemotion's
    classifiers add it as ``callbacks__lr_schedule`` when ``lr_schedule`` is set; their
    stacked training (:func:`skemotion.nets.fit_stacked`) reads the rate it sets, so both
    follow the same schedule. ``partial_fit`` starts the schedule again.

    Parameters
    ----------
    schedule : {"onecycle", "cosine"}
    """

    def __init__(self, schedule: str) -> None:
        self.schedule = schedule

    def on_train_begin(self, net: Any, X: Any = None, y: Any = None, **kwargs: Any) -> None:
        lr_factor(self.schedule, 0, 1)  # an unknown name fails here, before training
        self.base_lrs_ = [group["lr"] for group in net.optimizer_.param_groups]
        n_batches = 0
        if X is not None:
            n_batches = len(net.get_iterator(net.get_dataset(X, y), training=True))
        self.total_steps_ = net.max_epochs * n_batches
        self.step_ = 0

    def on_batch_begin(self, net: Any, training: bool = False, **kwargs: Any) -> None:
        if not training:
            return
        factor = lr_factor(self.schedule, self.step_, self.total_steps_)
        for group, base in zip(net.optimizer_.param_groups, self.base_lrs_, strict=True):
            group["lr"] = base * factor
        self.step_ += 1
