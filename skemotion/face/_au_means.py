"""Per-clip action-unit means read from a clip table (OpenFace summaries, no frames)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._track import ACTION_UNIT_NAMES

__all__ = ["ActionUnitMeans"]


class ActionUnitMeans(TransformerMixin, BaseEstimator):
    """OpenFace action units averaged over each clip, as a ``(n_clips, 35)`` float32 array.

    Some data sets publish only per-clip summaries of OpenFace's output, not its per-frame
    CSVs: the RAVDESS action-unit means loaded by
    :func:`skemotion.datasets.load_openface_au_means` give every clip the 17 mean
    intensities (0-5) and 18 presence fractions (0-1) of
    :data:`~skemotion.face.ACTION_UNIT_NAMES`. This transformer reads those columns of the
    clip table, so an action-unit model composes with the rest of skemotion: a
    :class:`~skemotion.preprocessing.SubjectNormalizer` around it, a classifier after it,
    :func:`~skemotion.model_selection.evaluate_actor_cv` and late fusion with the speech
    model on the same clips. It learns nothing (no fit needed); values are passed on as
    they are (no 0-1 rescaling, unlike :class:`ActionUnits`: a scaler follows).

    Parameters
    ----------
    columns : sequence of str, default=ACTION_UNIT_NAMES
        Columns of the clip table to read, in output order.
    id_column : str, default="clip_id"
        Column naming each clip in error messages (the row number is used without it).

    Attributes
    ----------
    n_features_in_ : int
        Columns of the table seen in fit.
    feature_names_in_ : ndarray of str
        Their names.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"AU12_r": [2.0, 0.1], "AU06_r": [1.5, 0.0]})
    >>> ActionUnitMeans(columns=["AU06_r", "AU12_r"]).fit_transform(table).tolist()
    [[1.5, 2.0], [0.0, 0.10000000149011612]]
    """

    def __init__(
        self, columns: Sequence[str] = ACTION_UNIT_NAMES, *, id_column: str = "clip_id"
    ) -> None:
        self.columns = columns
        self.id_column = id_column

    def fit(self, X: Any, y: Any = None) -> ActionUnitMeans:
        """Check that ``X`` is a clip table holding ``columns``; nothing is learnt."""
        self._check_table(X)
        self.n_features_in_ = len(X.columns)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The ``columns`` of each clip, shape ``(n_clips, len(columns))``, float32."""
        self._check_table(X)
        values = X[list(self.columns)].to_numpy(dtype=np.float32)
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            names = (
                X[self.id_column].to_numpy()[bad]
                if self.id_column in X.columns
                else np.flatnonzero(bad)
            )
            raise ValueError(
                f"{int(bad.sum())} clip(s) have missing or non-finite action-unit values, "
                f"e.g. {', '.join(str(n) for n in names[:3])}; drop them or fill them in."
            )
        return values

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The ``columns`` read."""
        return np.asarray(list(self.columns), dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def _check_table(self, X: Any) -> None:
        if not hasattr(X, "columns"):
            raise TypeError(
                "ActionUnitMeans reads action-unit columns of a clip table (a DataFrame, as "
                f"load_openface_au_means returns), got {type(X).__name__}."
            )
        missing = [column for column in self.columns if column not in X.columns]
        if missing:
            raise ValueError(
                f"The clip table has no action-unit column(s) {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}; load it with load_openface_au_means."
            )
