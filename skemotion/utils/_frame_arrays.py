"""Feature arrays ``(n_clips, n_frames, n_features)``: the input of the networks and of
their exported graphs, where a 2-D array is one frame per clip."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_array

__all__ = ["as_clip_frames", "check_clip_frames"]


def as_clip_frames(array: np.ndarray, *, what: str) -> np.ndarray:
    """``array`` as ``(n_clips, n_frames, n_features)``; a 2-D array is one frame per clip.

    Parameters
    ----------
    array : np.ndarray
    what : str
        The input's name in the error, e.g. ``"X"`` or ``"Modality 'speech'"``.

    Returns
    -------
    array : np.ndarray of shape (n_clips, n_frames, n_features)
        A view of ``array``.
    """
    if array.ndim == 2:
        array = array[:, np.newaxis, :]
    if array.ndim != 3:
        raise ValueError(
            f"{what} must be (n_clips, n_frames, n_features), got shape {array.shape}."
        )
    return array


def check_clip_frames(X: Any, *, input_name: str, what: str) -> np.ndarray:
    """``X`` validated as a contiguous float32 ``(n_clips, n_frames, n_features)`` array.

    sklearn's ``validate_data`` would count frames as features, so the per-frame feature
    count is left to the caller; ``input_name`` names ``X`` in sklearn's own errors (NaN,
    no clips) and ``what`` in the shape error.
    """
    array = check_array(
        X, allow_nd=True, dtype=np.float32, ensure_min_samples=1, input_name=input_name
    )
    return np.ascontiguousarray(as_clip_frames(array, what=what))
