"""Preprocessing of feature arrays: global and per-subject standardisation."""

from ._subject import SubjectNormalizer, subject_statistics
from ._temporal_scaler import TemporalStandardScaler

__all__ = ["SubjectNormalizer", "TemporalStandardScaler", "subject_statistics"]
