"""Reading clip tables, and taking rows of one input or of a dict of modalities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.utils import _safe_indexing

__all__ = ["clip_table_column", "take_rows"]


def clip_table_column(X: Any, column: str, *, holds: str = "clip paths") -> list[Any]:
    """The items of a clip table's path column, or the one error for a missing column.

    Parameters
    ----------
    X : DataFrame
        A clip table (one row per clip).
    column : str
        The column to read: the transformer's ``path_column``.
    holds : str, default="clip paths"
        What the column holds, as the error message says (``"video paths"``).

    Returns
    -------
    items : list

    Raises
    ------
    ValueError
        If ``X`` has no such column; the message lists the columns it has.

    Examples
    --------
    >>> import pandas as pd
    >>> clip_table_column(pd.DataFrame({"path": ["a.wav"]}), "path")
    ['a.wav']
    >>> clip_table_column(pd.DataFrame({"file": ["a.wav"]}), "path")
    Traceback (most recent call last):
    ...
    ValueError: DataFrame has no column 'path' with clip paths (columns: ['file']); set path_column.
    """
    if column not in X.columns:
        raise ValueError(
            f"DataFrame has no column {column!r} with {holds} "
            f"(columns: {list(X.columns)}); set path_column."
        )
    return list(X[column].tolist())


def take_rows(X: Any, indices: np.ndarray) -> Any:
    """The rows ``indices`` of ``X``, or of every modality of a dict of them alike.

    Parameters
    ----------
    X : array-like, DataFrame, list, or mapping of them (a dict, skorch's SliceDict)
    indices : ndarray of int

    Returns
    -------
    rows : same type as ``X``

    Examples
    --------
    >>> take_rows({"audio": np.arange(3), "face": np.arange(3) * 10}, np.array([0, 2]))
    {'audio': array([0, 2]), 'face': array([ 0, 20])}
    """
    if isinstance(X, Mapping):
        return type(X)(**{key: _safe_indexing(value, indices) for key, value in X.items()})
    return _safe_indexing(X, indices)
