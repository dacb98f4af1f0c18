"""Preprocessing of feature arrays: global and per-subject standardisation."""

from ._calibration import (
    INDUCTIVE_PROTOCOL,
    calibration_protocol,
    select_calibration_clips,
    subjects_of,
)
from ._subject import SubjectNormalizer, subject_statistics
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
