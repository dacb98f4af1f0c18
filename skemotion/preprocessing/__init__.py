"""Preprocessing of feature arrays: global and per-subject standardisation."""

from ._subject import (
    INDUCTIVE_PROTOCOL,
    SubjectNormalizer,
    calibration_protocol,
    select_calibration_clips,
    subject_statistics,
    subjects_of,
)
from ._temporal_scaler import TemporalStandardScaler

__all__ = [
    "INDUCTIVE_PROTOCOL",
    "SubjectNormalizer",
    "TemporalStandardScaler",
    "calibration_protocol",
    "select_calibration_clips",
    "subject_statistics",
    "subjects_of",
]
