"""Preprocessing of time series features of shape ``(n_clips, n_frames, n_features)``."""

from ._temporal_scaler import TemporalStandardScaler

__all__ = ["TemporalStandardScaler"]
