"""Groups (actors): handing them to ``fit``, and splits that keep them apart."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn import get_config
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import get_routing_for_object

__all__ = ["check_group_splits", "check_no_group_overlap", "groups_fit_params"]


def check_no_group_overlap(train_groups: ArrayLike, test_groups: ArrayLike) -> None:
    """Raise if any group (actor) is in both the training and the test rows.

    Parameters
    ----------
    train_groups : array-like of shape (n_train,)
        Group of each training row.
    test_groups : array-like of shape (n_test,)
        Group of each test row.

    Raises
    ------
    ValueError
        Listing the groups found on both sides (speaker leakage).

    Examples
    --------
    >>> check_no_group_overlap([1, 1, 2], [3, 4])
    >>> check_no_group_overlap([1, 2], [2, 3])
    Traceback (most recent call last):
    ...
    ValueError: speaker leakage: group(s) [2] are in both train and test ...
    """
    train = np.unique(np.asarray(train_groups))
    test = np.unique(np.asarray(test_groups))
    shared = np.intersect1d(train, test)
    if shared.size:
        raise ValueError(
            f"speaker leakage: group(s) {shared.tolist()} are in both train and test "
            f"({shared.size} of {test.size} test groups); split by actor, e.g. with "
            "RavdessActorFolds or GroupKFold and groups=actors"
        )


def check_group_splits(
    cv: Any,
    rows: Any,
    y: Any,
    groups: np.ndarray | None,
    *,
    expected: np.ndarray,
    inner: bool = False,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The splits of ``cv``, refused unless they can give each row one out-of-fold prediction.

    Parameters
    ----------
    cv : cross-validator
        Anything with ``split(rows, y, groups)``.
    rows : array-like
        What ``cv.split`` counts the rows of.
    y : array-like of shape (n_rows,)
    groups : ndarray of shape (n_rows,) or None
        The actor of each row; None skips the leakage check.
    expected : ndarray of int
        The rows the test sets must cover, each exactly once, in increasing order.
    inner : bool, default=False
        Whether ``cv`` is a model's inner cross-validation, as the messages then say.

    Returns
    -------
    splits : list of (train, test) index arrays

    Raises
    ------
    ValueError
        If ``cv`` gives no split, a split has a group on both sides (the message names
        the split), or the test sets do not partition ``expected``.

    Examples
    --------
    >>> from sklearn.model_selection import GroupKFold
    >>> groups = np.array([1, 1, 2, 2])
    >>> splits = check_group_splits(
    ...     GroupKFold(2), np.zeros((4, 1)), [0, 1, 0, 1], groups, expected=np.arange(4)
    ... )
    >>> len(splits)
    2
    """
    prefix = "inner " if inner else ""
    what, split = f"{prefix}cross-validator", f"{prefix}split"
    splits = [(np.asarray(train), np.asarray(test)) for train, test in cv.split(rows, y, groups)]
    if not splits:
        raise ValueError(f"The {what} {cv!r} produced no split.")
    if groups is not None:
        for fold, (train, test) in enumerate(splits):
            try:
                check_no_group_overlap(groups[train], groups[test])
            except ValueError as exc:
                raise ValueError(f"{split} {fold} of {cv!r}: {exc}") from exc
    tested = np.sort(np.concatenate([test for _, test in splits]))
    if not np.array_equal(tested, expected):
        raise ValueError(
            f"The test sets of the {what} {cv!r} must partition the rows (each row tested "
            "exactly once) to give every row one out-of-fold prediction; some rows are "
            "tested twice or never."
        )
    return splits


def _fit_takes_groups(estimator: Any) -> bool:
    fit = getattr(estimator, "fit", None)
    if fit is None:
        return False
    try:
        parameters = inspect.signature(fit).parameters
    except (TypeError, ValueError):  # builtins and some C extensions have no signature
        return False
    return "groups" in parameters


def groups_fit_params(estimator: Any, groups: np.ndarray | None) -> dict[str, Any]:
    """Keyword arguments that hand ``groups`` (the actors) to ``estimator.fit``, if it takes them.

    An estimator whose ``fit`` has a ``groups`` parameter gets ``groups=...``; a
    :class:`~sklearn.pipeline.Pipeline` gets ``<last step>__groups=...`` when its final
    step's ``fit`` has one, or, with scikit-learn's metadata routing enabled (which refuses
    the ``step__param`` form), ``groups=...`` when one of its steps requested them with
    ``set_fit_request(groups=True)``. Anything else gets nothing.

    Parameters
    ----------
    estimator : estimator
    groups : ndarray of shape (n_rows,) or None
        None gives no arguments.

    Returns
    -------
    fit_params : dict

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> groups_fit_params(LogisticRegression(), np.array([1, 2]))
    {}
    """
    if groups is None:
        return {}
    if _fit_takes_groups(estimator) and not isinstance(estimator, Pipeline):
        return {"groups": groups}
    if isinstance(estimator, Pipeline) and estimator.steps:
        if get_config()["enable_metadata_routing"]:
            routing = get_routing_for_object(estimator)
            return {"groups": groups} if routing.consumes("fit", ["groups"]) else {}
        name, last = estimator.steps[-1]
        if last not in (None, "passthrough") and _fit_takes_groups(last):
            return {f"{name}__groups": groups}
    return {}
