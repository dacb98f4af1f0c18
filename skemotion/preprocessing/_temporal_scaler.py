"""Standardisation of time series features ``(n_clips, n_frames, n_features)``."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

__all__ = ["TemporalStandardScaler"]

_FLOAT_DTYPES = [np.float64, np.float32]


# A DataFrame cannot hold the 3D output: opt out of set_output's auto-wrapping.
class TemporalStandardScaler(  # type: ignore[call-arg]
    OneToOneFeatureMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Standardise each feature over all clips and all time steps.

    For ``X`` of shape ``(n_clips, n_frames, n_features)`` the mean and standard
    deviation of feature ``j`` are taken over ``X[:, :, j]``, i.e. over every frame
    of every training clip, and ``(X - mean_) / scale_`` is applied frame by frame.
    This is :class:`sklearn.preprocessing.StandardScaler` on
    ``X.reshape(-1, n_features)``, reshaped back; a 2D ``X`` of shape
    ``(n_samples, n_features)`` is treated as one frame per sample and gives
    exactly StandardScaler's result.

    Parameters
    ----------
    with_mean : bool, default=True
        Subtract the per-feature mean.
    with_std : bool, default=True
        Divide by the per-feature standard deviation (population, ``ddof=0``).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,) or None
        Per-feature mean, float64; ``None`` when ``with_mean=False``.
    var_ : ndarray of shape (n_features,) or None
        Per-feature variance, float64; ``None`` when ``with_std=False``.
    scale_ : ndarray of shape (n_features,) or None
        Per-feature standard deviation, with 1.0 for constant features so that
        they are only centred; ``None`` when ``with_std=False``.
    n_samples_seen_ : int
        Number of frames the statistics were computed from (``n_clips * n_frames``).
    n_features_in_ : int
        Number of features, the last axis of ``X``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when fitted on a 2D :class:`pandas.DataFrame`.

    Notes
    -----
    Input must be finite: NaN or infinity raise :class:`ValueError`. The output has
    the dtype of the input (float32 stays float32; other dtypes become float64).
    ``set_output`` is not available because 3D output has no DataFrame form.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.preprocessing import TemporalStandardScaler
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(5.0, 2.0, size=(10, 88, 24)).astype(np.float32)
    >>> Xt = TemporalStandardScaler().fit_transform(X)
    >>> Xt.shape, Xt.dtype
    ((10, 88, 24), dtype('float32'))
    >>> bool(np.allclose(Xt.mean(axis=(0, 1)), 0, atol=1e-5))
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
    }

    def __init__(self, *, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X: Any, y: Any = None) -> TemporalStandardScaler:
        """Compute the per-feature mean and standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_samples, n_features)
            Training features.
        y : None
            Ignored.

        Returns
        -------
        self : TemporalStandardScaler
        """
        self._validate_params()
        X2, _ = self._flatten(X, reset=True)
        n = X2.shape[0]
        mean = X2.mean(axis=0, dtype=np.float64)
        var = X2.var(axis=0, dtype=np.float64)
        self.n_samples_seen_ = int(n)
        self.mean_ = mean if self.with_mean else None
        if self.with_std:
            # Same constant-feature test as StandardScaler: a variance within the
            # round-off of computing it from equal values counts as zero.
            eps = np.finfo(np.float64).eps
            constant = var <= n * eps * var + (n * mean * eps) ** 2
            scale = np.sqrt(var)
            scale[constant] = 1.0
            self.var_: np.ndarray | None = var
            self.scale_: np.ndarray | None = scale
        else:
            self.var_ = None
            self.scale_ = None
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Standardise ``X`` with the fitted statistics.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_samples, n_features)

        Returns
        -------
        X_scaled : np.ndarray, same shape as ``X``
        """
        check_is_fitted(self, "n_samples_seen_")
        X2, shape = self._flatten(X, reset=False)
        out = np.array(X2, dtype=X2.dtype, copy=True)
        if self.mean_ is not None:
            out -= self.mean_.astype(out.dtype)
        if self.scale_ is not None:
            out /= self.scale_.astype(out.dtype)
        return out.reshape(shape)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo :meth:`transform`.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_frames, n_features) or (n_samples, n_features)

        Returns
        -------
        X_original : np.ndarray, same shape as ``X``
        """
        check_is_fitted(self, "n_samples_seen_")
        X2, shape = self._flatten(X, reset=False)
        out = np.array(X2, dtype=X2.dtype, copy=True)
        if self.scale_ is not None:
            out *= self.scale_.astype(out.dtype)
        if self.mean_ is not None:
            out += self.mean_.astype(out.dtype)
        return out.reshape(shape)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _flatten(self, X: Any, *, reset: bool) -> tuple[np.ndarray, tuple[int, ...]]:
        """Validate ``X`` and view it as ``(n_rows, n_features)``; return its shape too."""
        ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
        if ndim > 3:
            raise ValueError(
                f"Expected a 2D (n_samples, n_features) or 3D (n_clips, n_frames, "
                f"n_features) array, got {ndim} dimensions."
            )
        shape: tuple[int, ...] = ()
        if ndim == 3:
            X = check_array(X, dtype=_FLOAT_DTYPES, allow_nd=True, ensure_min_samples=1)
            shape = X.shape
            X = X.reshape(shape[0] * shape[1], shape[2])
        X2 = validate_data(self, X, reset=reset, dtype=_FLOAT_DTYPES)
        return X2, (shape or X2.shape)
