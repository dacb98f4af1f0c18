"""Reading an entry of an on-disk ``.npz`` cache that may have been damaged from outside."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = ["read_npz_entry"]

_T = TypeVar("_T")


def read_npz_entry(path: Path, read: Callable[[Any], _T], *, what: str, remedy: str) -> _T | None:
    """``read`` of a cache entry's arrays; None (a miss) when absent or unreadable.

    Entries are written atomically (:func:`~skemotion.utils._io.atomic_savez`), so a
    damaged one comes from outside (a full disk before atomic writes, a copy cut short,
    a hand edit): it is never trusted, only reported with a warning and rebuilt by the
    caller.

    Parameters
    ----------
    path : Path
        The ``.npz`` entry.
    read : callable
        Turns the open archive (read without pickles) into the cached value; any
        exception it raises means the entry is damaged.
    what : str
        The cache's name in the warning, e.g. ``"landmark"``.
    remedy : str
        What the caller does instead, e.g. ``"extracting the clip again and replacing it"``.

    Returns
    -------
    value : object or None
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return read(arrays)
    except Exception as error:  # BadZipFile, EOFError, KeyError...: all mean "rebuild"
        warnings.warn(
            f"{path}: damaged {what} cache entry ({type(error).__name__}: {error}); {remedy}",
            UserWarning,
            stacklevel=3,  # the caller's caller: where the cache was consulted
        )
        return None
