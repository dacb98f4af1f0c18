"""Actor-grouped cross-validation: the paper's fixed RAVDESS actor folds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import indexable
from sklearn.utils.validation import _num_samples

from ..utils._groups import check_no_group_overlap

__all__ = [
    "PAPER_ACTOR_FOLDS",
    "ExcludeFromTest",
    "RavdessActorFolds",
    "check_no_group_overlap",
]

PAPER_ACTOR_FOLDS: tuple[tuple[int, ...], ...] = (
    (2, 5, 14, 15, 16),
    (3, 6, 7, 13, 18),
    (10, 11, 12, 19, 20),
    (8, 17, 21, 23, 24),
    (1, 4, 9, 22),
)
"""The five test folds of RAVDESS actors used by the paper (from Luna-Jiménez et al. 2022)."""


def _as_int_groups(groups: ArrayLike, *, what: str) -> NDArray[np.int64]:
    array = np.asarray(groups)
    if array.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one actor per row), got shape {array.shape}")
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    try:
        as_int = array.astype(np.int64)
        exact = bool(np.all(as_int == array))
    except (TypeError, ValueError):
        exact = False
    if not exact:
        raise ValueError(
            f"{what} must be integer actor numbers (e.g. load_ravdess(...).groups), "
            f"got dtype {array.dtype} with values like {array[:3].tolist()}"
        )
    return as_int


def _check_folds(folds: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    checked: list[tuple[int, ...]] = []
    seen: dict[int, int] = {}
    for k, fold in enumerate(folds):
        actors = tuple(int(a) for a in fold)
        if any(a != b for a, b in zip(actors, fold, strict=True)):
            raise ValueError(f"fold {k} must list integer actors, got {fold!r}")
        if not actors:
            raise ValueError(f"fold {k} is empty; every fold needs at least one actor")
        for actor in actors:
            if actor in seen:
                raise ValueError(
                    f"actor {actor} is in fold {seen[actor]} and fold {k}; "
                    "folds must be disjoint or its clips would be tested twice"
                )
            seen[actor] = k
        checked.append(actors)
    if len(checked) < 2:
        raise ValueError(f"need at least 2 folds to train on one and test on another, got {folds}")
    return tuple(checked)


class RavdessActorFolds(BaseCrossValidator):
    """Fixed actor folds: each fold's actors are the test set once.

    The speaker-independent protocol of the paper: with the default
    :data:`PAPER_ACTOR_FOLDS`, five splits each train on the clips of 19-20
    actors and test on the 4-5 others. Pass the actor of every row as ``groups``,
    e.g. ``cross_val_score(est, X, y, groups=data.groups, cv=RavdessActorFolds())``.
    Train and test never share an actor.

    Parameters
    ----------
    folds : sequence of sequences of int, default=PAPER_ACTOR_FOLDS
        The actors of each test fold; folds must be disjoint. Every actor present
        in the data must be in some fold, and every fold must have rows.

    See Also
    --------
    sklearn.model_selection.GroupKFold : For corpora with other actors, or a
        subset of the RAVDESS actors.
    check_no_group_overlap : Assert that a split has no speaker leakage.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.model_selection import RavdessActorFolds
    >>> actors = np.repeat(np.arange(1, 25), 60)
    >>> cv = RavdessActorFolds()
    >>> cv.get_n_splits()
    5
    >>> train, test = next(cv.split(np.zeros((1440, 1)), groups=actors))
    >>> len(train), len(test), np.unique(actors[test]).tolist()
    (1140, 300, [2, 5, 14, 15, 16])
    """

    # Ask metadata routing for ``groups`` in ``split``, as sklearn's group splitters
    # do through GroupsConsumerMixin (sklearn reads this attribute name mangled).
    __metadata_request__split = {"groups": True}

    def __init__(self, folds: Sequence[Sequence[int]] = PAPER_ACTOR_FOLDS) -> None:
        self.folds = _check_folds(folds)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Return the number of splits, the number of folds.

        Parameters
        ----------
        X, y, groups : object
            Ignored, present for API compatibility.

        Returns
        -------
        n_splits : int
        """
        return len(self.folds)

    def split(
        self, X: ArrayLike, y: ArrayLike | None = None, groups: ArrayLike | None = None
    ) -> Iterator[tuple[NDArray[np.intp], NDArray[np.intp]]]:
        """Generate train and test indices, one pair per fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Only its length is used.
        y : array-like of shape (n_samples,), default=None
            Ignored.
        groups : array-like of shape (n_samples,)
            Actor number of each row. Required.

        Yields
        ------
        train : ndarray of shape (n_train,)
            Indices of the rows whose actor is not in the fold.
        test : ndarray of shape (n_test,)
            Indices of the rows whose actor is in the fold.

        Raises
        ------
        ValueError
            ``groups`` is None or not integer actors, a row's actor is in no fold,
            or a fold has no rows.
        """
        if groups is None:
            raise ValueError(
                "RavdessActorFolds needs groups: the actor of each row "
                "(e.g. groups=load_ravdess(...).groups)"
            )
        # indexable checks that X, y and groups have the same length
        X, y, groups = indexable(X, y, groups)
        actors = _as_int_groups(groups, what="groups")
        fold_of = {actor: k for k, fold in enumerate(self.folds) for actor in fold}
        present = np.unique(actors)
        unassigned = [int(a) for a in present if int(a) not in fold_of]
        if unassigned:
            raise ValueError(
                f"actors {unassigned} are in the data but in no fold of {self.folds}; "
                "pass folds covering them, or use sklearn.model_selection.GroupKFold"
            )
        empty = [k for k, fold in enumerate(self.folds) if not np.isin(fold, present).any()]
        if empty:
            raise ValueError(
                f"fold(s) {empty} ({[self.folds[k] for k in empty]}) have no rows: the data "
                f"has only actors {present.tolist()}. For a subset of RAVDESS or another "
                "corpus use sklearn.model_selection.GroupKFold(n_splits) with groups=actors"
            )
        indices = np.arange(actors.shape[0])
        for fold in self.folds:
            in_test = np.isin(actors, fold)
            yield indices[~in_test], indices[in_test]


class ExcludeFromTest(BaseCrossValidator):
    """An actor splitter whose test sets leave some clips out; they are still trained on.

    Each split of ``cv`` is kept, minus the excluded clips in its test set: an excluded
    clip of a training actor is trained on as usual, and one of a test actor is neither
    trained on nor tested. Made for the paper's neutral reference recordings, which
    calibrate their actor's key-point distances and are also clips of the data set
    (:func:`~skemotion.datasets.is_ravdess_neutral_reference`); by default, as in the paper,
    they are tested like the others. Works wherever a splitter does
    (``cross_val_score(..., groups=actors, cv=...)``, ``GridSearchCV``,
    :func:`evaluate_actor_cv`, which then reports on the tested clips only).

    Parameters
    ----------
    cv : cross-validator
        The actor splitter to filter, e.g. :class:`RavdessActorFolds` or ``GroupKFold``.
    exclude : array-like of bool, shape (n_samples,)
        True for each clip to keep out of every test set, in the order of the rows that
        will be split (like ``PredefinedSplit``'s ``test_fold``, it belongs to one data
        set).

    See Also
    --------
    skemotion.datasets.is_ravdess_neutral_reference : The mask of the reference recordings.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.model_selection import ExcludeFromTest, RavdessActorFolds
    >>> actors = np.repeat(np.arange(1, 25), 60)
    >>> exclude = np.tile(np.arange(60) < 2, 24)  # two clips of each actor
    >>> cv = ExcludeFromTest(RavdessActorFolds(), exclude)
    >>> train, test = next(cv.split(np.zeros((1440, 1)), groups=actors))
    >>> len(train), len(test)
    (1140, 290)
    """

    # Groups are routed to split() as for RavdessActorFolds; the inner splitter reads them.
    __metadata_request__split = {"groups": True}

    def __init__(self, cv: Any, exclude: ArrayLike) -> None:
        self.cv = cv
        self.exclude = exclude

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Return the number of splits of ``cv``.

        Parameters
        ----------
        X, y, groups : object
            Passed on to ``cv.get_n_splits``.

        Returns
        -------
        n_splits : int
        """
        return int(self.cv.get_n_splits(X, y, groups))

    def split(
        self, X: ArrayLike, y: ArrayLike | None = None, groups: ArrayLike | None = None
    ) -> Iterator[tuple[NDArray[np.intp], NDArray[np.intp]]]:
        """Generate the splits of ``cv`` with the excluded clips taken out of each test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Passed on to ``cv.split``.
        y : array-like of shape (n_samples,), default=None
            Passed on to ``cv.split``.
        groups : array-like of shape (n_samples,)
            Actor number of each row, passed on to ``cv.split``.

        Yields
        ------
        train : ndarray of shape (n_train,)
            The training indices of ``cv``, unchanged.
        test : ndarray of shape (n_test,)
            The test indices of ``cv`` that are not excluded.

        Raises
        ------
        ValueError
            ``exclude`` is not one boolean per row of ``X``.
        """
        # groups first: X may be a dict of modalities, whose len() counts its keys.
        exclude = self._mask(_num_samples(X if groups is None else groups))
        for train, test in self.cv.split(X, y, groups):
            test = np.asarray(test)
            yield np.asarray(train), test[~exclude[test]]

    def _mask(self, n_samples: int) -> NDArray[np.bool_]:
        """The ``exclude`` mask, checked against the number of rows to split."""
        exclude = np.asarray(self.exclude)
        if exclude.dtype != bool or exclude.shape != (n_samples,):
            raise ValueError(
                f"ExcludeFromTest: exclude must be one boolean per row ({n_samples} rows), "
                f"got dtype {exclude.dtype} and shape {exclude.shape}"
            )
        return exclude

    def __repr__(self) -> str:
        # The mask is as long as the data: summarise it rather than print it.
        exclude = np.asarray(self.exclude)
        count = int(exclude.sum()) if exclude.dtype == bool else "?"
        return f"ExcludeFromTest(cv={self.cv!r}, exclude=<{count} of {exclude.size} clips>)"
