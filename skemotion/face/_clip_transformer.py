"""The face transformers' shared base: parameters, clip input, tags and feature names."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import HasMethods

from ..utils._clip_transformers import stateless_clip_tags
from ..utils._tables import clip_table_column
from ._landmarks import FaceLandmarks
from ._track import FaceTrack

__all__ = ["nan_rows"]

_NUMERIC_INPUT = (
    "{name} needs clips: video paths (or OpenFace CSVs), a DataFrame with a {column!r} "
    "column of them, or FaceTrack objects; got a numeric array, which holds no face. "
    "Landmarks from another tool can be wrapped in skemotion.face.FaceTrack."
)


class _ClipTransformer(  # type: ignore[call-arg]
    TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Shared input handling of the face transformers: parameters, clips, tags, names.

    It has no ``transform``: :class:`_FaceTransformer` computes features from tracks,
    while :class:`~skemotion.face.FaceRegions` reads the videos' pixels and cannot take
    tracks.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "landmarks": [HasMethods(["extract"]), None],
        "path_column": [str],
    }

    landmarks: FaceLandmarks | None
    path_column: str

    def fit(self, X: Any, y: Any = None) -> _ClipTransformer:
        """Validate the parameters and the clips; nothing is learned.

        Parameters
        ----------
        X : paths, DataFrame, Series or list of FaceTrack
            See the class Notes.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        self._parse(X)
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the last output axis.

        Parameters
        ----------
        input_features : ignored
            The outputs do not map onto input columns.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        return np.asarray(self._feature_names(), dtype=object)

    def __sklearn_tags__(self) -> Any:
        return stateless_clip_tags(super().__sklearn_tags__())

    # -- to implement ----------------------------------------------------------------
    def _feature_names(self) -> list[str]:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------
    def _extractor(self) -> FaceLandmarks:
        return FaceLandmarks() if self.landmarks is None else self.landmarks

    def _parse(self, X: Any) -> list[Any]:
        """The clips of ``X``: a list of path strings or of FaceTrack objects."""
        import pandas as pd

        if isinstance(X, str | bytes | os.PathLike | FaceTrack):
            raise TypeError(
                f"X must be a collection of clips, got the single clip {X!r}; wrap it in a list."
            )
        if isinstance(X, pd.DataFrame):
            items = clip_table_column(X, self.path_column)
        elif isinstance(X, pd.Series):
            items = X.tolist()
        elif isinstance(X, list | tuple) or (
            isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind in "OU"
        ):
            items = list(X)
        else:
            raise TypeError(
                _NUMERIC_INPUT.format(name=type(self).__name__, column=self.path_column)
            )
        if not items:
            raise ValueError("X holds no clips (0 samples); at least 1 is required.")
        if all(isinstance(item, FaceTrack) for item in items):
            return items
        for position, item in enumerate(items):
            if not isinstance(item, str | os.PathLike):
                raise TypeError(
                    f"Expected clip paths or FaceTrack objects, got {type(item).__name__} "
                    f"at position {position}."
                )
        return [os.fspath(item) for item in items]


class _FaceTransformer(_ClipTransformer, auto_wrap_output_keys=None):  # type: ignore[call-arg]
    """Features from landmark tracks: clips -> FaceTrack list -> (n_clips, n_frames, d)."""

    def transform(self, X: Any) -> np.ndarray:
        """Compute the features of every clip.

        Parameters
        ----------
        X : paths, DataFrame, Series or list of FaceTrack
            See the class Notes.

        Returns
        -------
        features : np.ndarray of float32, shape (n_clips, n_frames, n_features)
            NaN rows only for clips the landmark stage gave up on under
            ``on_error="warn"``.
        """
        import pandas as pd

        self._validate_params()
        clips, tracks = self._tracks(X)
        table = X if isinstance(X, pd.DataFrame) else None
        rows = self._compute(clips, tracks, table)
        return np.stack(rows).astype(np.float32, copy=False)

    # -- to implement ----------------------------------------------------------------
    def _compute(
        self, clips: list[Any], tracks: list[FaceTrack | None], table: Any
    ) -> list[np.ndarray]:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------
    def _tracks(self, X: Any) -> tuple[list[Any], list[FaceTrack | None]]:
        clips = self._parse(X)
        if isinstance(clips[0], FaceTrack):
            return clips, list(clips)
        return clips, self._extractor().extract(clips)

    def _n_frames(self, tracks: list[FaceTrack | None]) -> int:
        """Frames per clip: a found track's, else what the landmark stage selects."""
        return next((t.n_frames for t in tracks if t is not None), self._extractor().n_frames)


def nan_rows(n_frames: int, n_features: int) -> np.ndarray:
    """The features of a clip whose face was not found: all NaN."""
    return np.full((n_frames, n_features), np.nan)
