"""Reading the clips an audio transformer is given: file paths or waveforms."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn.utils.validation import validate_data

from ._tables import clip_table_column

__all__ = ["AudioClipInput"]


class AudioClipInput:
    """Input handling shared by the audio transformers (``path_column`` attribute).

    ``_parse`` classifies ``X`` as ("paths", list of str) or ("waves", a 2D float array
    or a list of 1D float arrays), with the errors users see for anything else. Mixed
    into :class:`~skemotion.audio.LogMelSpectrogram` and the Wav2Vec2 embedders, so that
    both read a clip table alike.
    """

    path_column: str

    def _parse(self, X: Any, *, reset: bool) -> tuple[str, Any]:
        """Classify ``X`` as ("paths", list of str) or ("waves", 2D array or list)."""
        import pandas as pd

        if isinstance(X, str | bytes | os.PathLike):
            raise TypeError(
                f"X must be a collection of clips, got the single path {X!r}; wrap it in a list."
            )
        if isinstance(X, pd.DataFrame):
            # An all-numeric table without the path column holds waveforms, one per row.
            if self.path_column in X.columns or not all(
                pd.api.types.is_numeric_dtype(t) for t in set(X.dtypes)
            ):
                items = clip_table_column(X, self.path_column, holds="file paths")
                return "paths", _as_paths(items, self.path_column)
            return "waves", self._validate_waves(X, reset=reset)
        if isinstance(X, pd.Series):
            return "paths", _as_paths(X.tolist(), "the Series")
        if issparse(X):
            return "waves", self._validate_waves(X, reset=reset)  # raises: dense only
        if isinstance(X, list | tuple):
            items = list(X)
        elif isinstance(X, np.ndarray) or hasattr(X, "__array__"):
            arr = np.asarray(X)
            if arr.ndim != 1 or arr.dtype.kind not in "USO":
                return "waves", self._validate_waves(X, reset=reset)
            items = list(arr)
        else:
            raise TypeError(
                "X must be paths (list, array, Series or DataFrame column) or waveforms "
                f"(2D float array or list of 1D arrays), got {type(X).__name__}."
            )
        if not items:
            raise ValueError("X holds no clips (0 samples); at least 1 is required.")
        if all(isinstance(item, str | os.PathLike) for item in items):
            return "paths", _as_paths(items, "X")
        if any(isinstance(item, str | bytes | os.PathLike) for item in items):
            raise TypeError("X mixes file paths with other items.")
        return "waves", _as_waveform_list(items)

    def _validate_waves(self, X: Any, *, reset: bool) -> np.ndarray:
        kinds = set(getattr(X, "dtypes", [getattr(X, "dtype", None)]))
        if any(getattr(k, "kind", "") in "iub" for k in kinds if k is not None):
            # Integer PCM has a format-dependent scale (int16: 32768 = full scale) that
            # would shift every dB value; demand floats rather than guess.
            raise TypeError(
                "Waveforms must be floating point in [-1, 1]; got integer samples. "
                "Scale them first (e.g. X / 32768 for int16 PCM)."
            )
        return validate_data(
            self, X, reset=reset, dtype=[np.float32, np.float64], ensure_min_samples=1
        )


def _as_paths(items: list[Any], where: str) -> list[str]:
    if not items:
        raise ValueError("X holds no clips (0 samples); at least 1 is required.")
    for i, item in enumerate(items):
        if not isinstance(item, str | os.PathLike):
            raise TypeError(
                f"Expected file paths in {where}, got {type(item).__name__} at position {i}."
            )
    return [os.fspath(item) for item in items]


def _as_waveform_list(items: list[Any]) -> list[np.ndarray]:
    waves = []
    for i, item in enumerate(items):
        y = np.asarray(item)
        if y.ndim != 1 or y.dtype.kind not in "fiu":
            raise ValueError(
                "A list of waveforms must hold 1D numeric arrays; item "
                f"{i} has shape {y.shape} and dtype {y.dtype}."
            )
        if y.dtype.kind != "f":
            raise TypeError(
                f"Waveform {i} has integer dtype {y.dtype}; scale integer PCM to [-1, 1] "
                "floats first (e.g. y / 32768 for int16)."
            )
        if not np.isfinite(y).all():
            raise ValueError(f"Waveform {i} contains NaN or infinity.")
        waves.append(y)
    return waves
