"""What every subject calibration shares: its parameters, its refusals, its description.

:class:`~skemotion.preprocessing.SubjectNormalizer` (statistics of the input features)
and :class:`~skemotion.compose.SubjectAdaptiveClassifier` (batch-norm statistics of the
network) calibrate a model to each subject from that subject's own clips. They take the
same parameters for choosing those clips and for subjects with too few of them, and say
the same things about them; this module is the one place those live.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Integral
from typing import Any

from sklearn.utils._param_validation import Interval, StrOptions

__all__ = [
    "CALIBRATION_PARAMETER_CONSTRAINTS",
    "calibration_clip_choice",
    "calibration_description",
    "check_enrollment_counts",
    "describe_subjects",
    "handle_uncalibrated",
]

CALIBRATION_PARAMETER_CONSTRAINTS: dict[str, list[Any]] = {
    "subject_column": [str],
    "source": [StrOptions({"all", "neutral"})],
    "n_clips": [None, Interval(Integral, 1, None, closed="left")],
    "selection": [StrOptions({"first", "random"})],
    "min_clips": [Interval(Integral, 2, None, closed="left")],
    "on_uncalibrated": [StrOptions({"raise", "global"})],
    "path_column": [str],
    "random_state": ["random_state"],
}
"""``_parameter_constraints`` of the parameters every subject calibration has."""

# The parameters of a calibration that choose a subject's calibration clips: the keyword
# arguments of skemotion.preprocessing.select_calibration_clips.
_CLIP_CHOICE = ("source", "n_clips", "selection", "path_column", "random_state")


def calibration_clip_choice(calibration: Any) -> dict[str, Any]:
    """The ``select_calibration_clips`` keyword arguments a calibration's parameters set.

    Parameters
    ----------
    calibration : estimator
        A subject calibration (it has the parameters of
        :data:`CALIBRATION_PARAMETER_CONSTRAINTS`).

    Returns
    -------
    dict
        ``source``, ``n_clips``, ``selection``, ``path_column`` and ``random_state``.
    """
    return {name: getattr(calibration, name) for name in _CLIP_CHOICE}


def calibration_description(calibration: Any, method: str) -> dict[str, Any]:
    """The part of a calibration's ``describe()`` that every calibration reports.

    Parameters
    ----------
    calibration : estimator
        A subject calibration.
    method : str
        What it calibrates, in words (reported as ``subject_normalization``).

    Returns
    -------
    dict
        ``protocol`` ("transductive"), ``subject_normalization``, ``source``, ``n_clips``
        (None: all) and ``selection`` (None when ``n_clips`` chooses nothing).
    """
    return {
        "protocol": "transductive",
        "subject_normalization": method,
        "source": calibration.source,
        "n_clips": calibration.n_clips,
        "selection": calibration.selection if calibration.n_clips is not None else None,
    }


def describe_subjects(subjects: Sequence[Any]) -> str:
    """The first five subjects by their repr, and how many more there are."""
    shown = ", ".join(repr(s) for s in subjects[:5])
    return shown + (f" and {len(subjects) - 5} more" if len(subjects) > 5 else "")


def check_enrollment_counts(
    calibration: Any, subjects: Sequence[Any], counts: Sequence[int]
) -> None:
    """Refuse to enroll subjects with fewer than the calibration's ``min_clips`` clips.

    Parameters
    ----------
    calibration : estimator
        A subject calibration.
    subjects, counts : sequences
        The subjects to enroll and the number of enrollment clips of each.

    Raises
    ------
    ValueError
        Naming the subjects with too few clips.
    """
    short = [s for s, n in zip(subjects, counts, strict=True) if n < calibration.min_clips]
    if short:
        raise ValueError(
            f"Cannot enroll subject(s) {describe_subjects(short)}: fewer than min_clips="
            f"{calibration.min_clips} enrollment clips."
        )


def handle_uncalibrated(
    calibration: Any, subjects: Sequence[Any], *, fallback: str, stacklevel: int
) -> None:
    """Refuse, or warn about, subjects that can be calibrated neither now nor from storage.

    What happens is the calibration's ``on_uncalibrated``.

    Parameters
    ----------
    calibration : estimator
        A subject calibration.
    subjects : sequence
        Subjects of the call with fewer than ``min_clips`` calibration clips and no stored
        statistics; nothing happens when it is empty.
    fallback : str
        The statistics those subjects get instead, in words (for the warning).
    stacklevel : int
        Of the warning, counted from this function.

    Raises
    ------
    ValueError
        When ``on_uncalibrated="raise"``.
    """
    if not subjects:
        return
    message = (
        f"Subject(s) {describe_subjects(subjects)} have fewer than min_clips="
        f"{calibration.min_clips} calibration clips (source={calibration.source!r}) in the "
        "data and no stored statistics (not fitted with enough clips, not enrolled): they "
        "cannot be calibrated to themselves."
    )
    if calibration.on_uncalibrated == "raise":
        raise ValueError(
            message + " Enroll them first (enroll), pass more of their clips, or set "
            "on_uncalibrated='global'."
        )
    warnings.warn(message + f" They get {fallback} instead.", UserWarning, stacklevel=stacklevel)
