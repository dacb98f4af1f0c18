"""Which clips calibrate a subject, whose clips they are, and which protocol a model follows.

Shared by every subject calibration: :class:`SubjectNormalizer` here and
:class:`~skemotion.compose.SubjectAdaptiveClassifier` choose a subject's calibration clips
with :func:`select_calibration_clips` and read the subjects with :func:`subjects_of`;
:func:`calibration_protocol` finds them inside any model, so that results report it.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from .._subjects import unique_in_order

__all__ = [
    "INDUCTIVE_PROTOCOL",
    "calibration_protocol",
    "select_calibration_clips",
    "subjects_of",
]

INDUCTIVE_PROTOCOL: dict[str, Any] = {
    "protocol": "inductive",
    "description": "no statistics of the test subjects",
}
"""The protocol of a model that reads nothing of a test subject but the clip it predicts."""


def select_calibration_clips(
    table: Any,
    subjects: np.ndarray,
    *,
    source: str = "all",
    n_clips: int | None = None,
    selection: str = "first",
    path_column: str = "path",
    random_state: Any = None,
) -> np.ndarray:
    """Which clips of each subject may calibrate it: ``source``, then an ``n_clips`` budget.

    Parameters
    ----------
    table : DataFrame or array-like
        The clips; ``source="neutral"`` reads the RAVDESS names of its ``clip_id`` column
        (or of the files in ``path_column``).
    subjects : ndarray of shape (n_clips,)
        Subject of each clip.
    source : {"all", "neutral"}, default="all"
        All of a subject's clips, or its neutral ones (never read from labels).
    n_clips : int or None, default=None
        At most this many per subject; None keeps every ``source`` clip.
    selection : {"first", "random"}, default="first"
        The first ``n_clips`` in table order, or a draw seeded by ``random_state`` and the
        subject alone (the same clips whichever other subjects are in the table).
    path_column : str, default="path"
    random_state : int, RandomState or None, default=None

    Returns
    -------
    mask : ndarray of bool, shape (n_clips,)

    Examples
    --------
    >>> import numpy as np
    >>> select_calibration_clips(None, np.array([1, 1, 1, 2, 2]), n_clips=2).tolist()
    [True, True, False, True, True]
    """
    if source == "neutral":
        allowed = _neutral_rows(table, path_column)
    else:
        allowed = np.ones(len(subjects), dtype=bool)
    if n_clips is None:
        return allowed
    chosen = np.zeros(len(subjects), dtype=bool)
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    for subject in unique_in_order(subjects):
        rows = np.flatnonzero((subjects == subject) & allowed)
        if selection == "random" and len(rows) > n_clips:
            # A draw per subject that does not depend on which other subjects are in the
            # call, so a subject's calibration is the same in any batch.
            rng = np.random.default_rng([seed, zlib.crc32(repr(subject).encode())])
            rows = np.sort(rng.choice(rows, size=n_clips, replace=False))
        chosen[rows[:n_clips]] = True
    return chosen


def subjects_of(X: Any, subjects: Any, *, subject_column: str, caller: str) -> np.ndarray:
    """The subject of every clip: ``subjects`` when given, else the table's column.

    Raises a ``ValueError`` saying how to give them when neither is there.
    """
    if subjects is None:
        if hasattr(X, "columns") and subject_column in X.columns:
            subjects = X[subject_column]
        else:
            where = (
                f"the clip table has no {subject_column!r} column"
                if hasattr(X, "columns")
                else f"X is a {type(X).__name__}, not a clip table"
            )
            raise ValueError(
                f"{caller} needs the subject of every clip: {where}. Pass a table with a "
                f"subject_column ({subject_column!r}) or subjects=... ."
            )
    subjects = np.asarray(subjects)
    if subjects.ndim != 1 or len(subjects) != _n_rows(X):
        raise ValueError(
            f"subjects must give one subject per clip ({_n_rows(X)}), got shape {subjects.shape}."
        )
    return subjects


def calibration_protocol(estimator: Any) -> dict[str, Any]:
    """Whether ``estimator`` reads statistics of the test subjects, and which.

    Parameters
    ----------
    estimator : estimator
        A model, pipeline or any composite of them.

    Returns
    -------
    protocol : dict
        :data:`INDUCTIVE_PROTOCOL` (``{"protocol": "inductive", ...}``) when no subject
        calibration (:class:`SubjectNormalizer`,
        :class:`~skemotion.compose.SubjectAdaptiveClassifier`) is inside; otherwise
        ``{"protocol": "transductive", "calibrations": {path: calibration.describe()}}``,
        keyed by each calibration's parameter path (``""`` for the estimator itself).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skemotion.preprocessing import SubjectNormalizer
    >>> calibration_protocol(make_pipeline(LogisticRegression()))["protocol"]
    'inductive'
    >>> found = calibration_protocol(make_pipeline(SubjectNormalizer(n_clips=8),
    ...                                            LogisticRegression()))
    >>> found["protocol"], found["calibrations"]["subjectnormalizer"]["n_clips"]
    ('transductive', 8)
    """
    found = {path: normalizer.describe() for path, normalizer in _normalizers(estimator, "")}
    if not found:
        return dict(INDUCTIVE_PROTOCOL)
    return {"protocol": "transductive", "calibrations": found}


def _normalizers(estimator: Any, path: str) -> list[tuple[str, Any]]:
    found = [(path, estimator)] if _calibrates_subjects(estimator) else []
    if not hasattr(estimator, "get_params") or isinstance(estimator, type):
        return found
    # Deep parameters name every nested estimator the way GridSearchCV addresses it.
    return found + [
        (name, value)
        for name, value in estimator.get_params(deep=True).items()
        if _calibrates_subjects(value)
    ]


def _calibrates_subjects(estimator: Any) -> bool:
    """A subject calibration: it reads its subjects from a column, enrolls, describes."""
    return (
        not isinstance(estimator, type)
        and hasattr(estimator, "subject_column")
        and callable(getattr(estimator, "enroll", None))
        and callable(getattr(estimator, "describe", None))
    )


def _n_rows(X: Any) -> int:
    if isinstance(X, Mapping):
        return len(next(iter(X.values())))
    return len(X)


def _neutral_rows(X: Any, path_column: str) -> np.ndarray:
    """Neutral clips by their RAVDESS names (the calibration recordings), never by ``y``."""
    from ..datasets import parse_ravdess_name

    columns = getattr(X, "columns", ())
    # clip_id is the name itself; a table of per-clip summaries has no file per clip.
    column = "clip_id" if "clip_id" in columns else path_column
    if column not in columns:
        raise ValueError(
            "source='neutral' finds each subject's neutral clips from their RAVDESS "
            f"names: X must be a clip table with a 'clip_id' or {path_column!r} column."
        )
    return np.array(
        [parse_ravdess_name(f"{name}").emotion == "neutral" for name in X[column]], dtype=bool
    )
