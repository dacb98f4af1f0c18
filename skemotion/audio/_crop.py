"""Fixing the length of clips: the centred window the paper trains on."""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["PAD_MODES", "center_crop"]

PadMode = Literal["constant", "reflect", "edge", "error"]
PAD_MODES: tuple[str, ...] = ("constant", "reflect", "edge", "error")
"""The accepted values of ``pad_mode`` in :func:`center_crop`."""


def center_crop(
    y: np.ndarray,
    *,
    length: int = 140_800,
    pad_mode: PadMode = "constant",
) -> np.ndarray:
    """Cut or pad the last axis of ``y`` to ``length`` samples around its centre.

    The paper keeps the central 88 video frames of each RAVDESS clip (at 30 fps, the
    2.9 s of the shortest clip) and the matching audio: 140,800 samples at 48 kHz.

    Centring rule, with ``n = y.shape[-1]``:

    - ``n > length``: keep ``y[..., start:start + length]`` with
      ``start = (n - length) // 2``, so an odd surplus leaves the extra sample at
      the end.
    - ``n < length``: add ``left = (length - n) // 2`` samples before and
      ``length - n - left`` after, filled according to ``pad_mode``.
    - ``n == length``: ``y`` is returned unchanged.

    Parameters
    ----------
    y : np.ndarray, shape (..., n_samples)
        Signal, or a batch of equally long signals.
    length : int, default=140_800
        Number of samples to keep.
    pad_mode : {"constant", "reflect", "edge", "error"}, default="constant"
        How a clip shorter than ``length`` is extended: ``"constant"`` with zeros
        (silence), ``"reflect"`` by mirroring the clip about its end samples,
        ``"edge"`` by repeating them, ``"error"`` by raising :class:`ValueError`.

    Returns
    -------
    y_fixed : np.ndarray, shape (..., length)
        Same dtype as ``y``. A crop is a view of ``y``; a padded clip is a new array.

    Raises
    ------
    ValueError
        If a clip is too short and ``pad_mode="error"``, if it is empty and must be
        padded by ``"reflect"`` or ``"edge"``, or if an argument is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.audio import center_crop
    >>> center_crop(np.arange(7), length=4)
    array([1, 2, 3, 4])
    >>> center_crop(np.arange(1, 4), length=6)
    array([0, 1, 2, 3, 0, 0])
    >>> center_crop(np.arange(1, 4), length=6, pad_mode="edge")
    array([1, 1, 2, 3, 3, 3])
    """
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}.")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}.")
    y = np.asarray(y)
    if y.ndim == 0:
        raise ValueError("y must have at least one axis (the samples), got a scalar.")

    n = y.shape[-1]
    if n == length:
        return y
    if n > length:
        start = (n - length) // 2
        return y[..., start : start + length]

    if pad_mode == "error":
        raise ValueError(
            f"Clip has {n} samples, shorter than the required length of {length} "
            "samples (pad_mode='error')."
        )
    if n == 0 and pad_mode != "constant":
        raise ValueError(f"Cannot pad an empty clip with pad_mode={pad_mode!r}.")
    left = (length - n) // 2
    widths = [(0, 0)] * (y.ndim - 1) + [(left, length - n - left)]
    return np.pad(y, widths, mode=pad_mode)
