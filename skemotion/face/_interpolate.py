"""Filling frames where no face was found."""

from __future__ import annotations

import numpy as np

__all__ = ["interpolate_missing"]


def interpolate_missing(values: np.ndarray, *, success: np.ndarray) -> np.ndarray:
    """Fill the frames where no face was found from their neighbours.

    Each missing frame gets the linear interpolation, in time, of the nearest frames
    before and after it that have a face; missing frames at either end repeat the
    nearest frame with a face.

    Parameters
    ----------
    values : np.ndarray, shape (n_frames, ...)
        Per-frame values; those of missing frames are ignored (they may be NaN).
    success : np.ndarray of bool, shape (n_frames,)
        Frames where the face was found.

    Returns
    -------
    filled : np.ndarray of float64, shape (n_frames, ...)
        A new array; frames with ``success`` keep their values.

    Raises
    ------
    ValueError
        If no frame has a face, or the shapes disagree.

    Examples
    --------
    >>> interpolate_missing(np.array([0.0, np.nan, 4.0, np.nan]),
    ...                     success=np.array([True, False, True, False]))
    array([0., 2., 4., 4.])
    """
    values = np.asarray(values, dtype=np.float64)
    success = np.asarray(success, dtype=bool)
    if success.shape != values.shape[:1]:
        raise ValueError(
            f"success has shape {success.shape}, expected ({values.shape[0]},) to match values"
        )
    if not success.any():
        raise ValueError("no frame has a face: nothing to interpolate from")
    filled = values.copy()
    if success.all():
        return filled
    frames = np.arange(len(values))
    known = frames[success]
    flat = filled.reshape(len(values), -1)
    known_values = flat[success]
    for column in range(flat.shape[1]):
        flat[~success, column] = np.interp(frames[~success], known, known_values[:, column])
    return filled
