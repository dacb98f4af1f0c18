"""Per-subject standardisation of features: calibration to a speaker or a face."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_array, check_is_fitted
from skorch.helper import SliceDict

from .._subjects import as_subject_array, plain, unique_in_order
from ..utils._calibration import (
    CALIBRATION_PARAMETER_CONSTRAINTS,
    calibration_clip_choice,
    calibration_description,
    check_enrollment_counts,
    describe_subjects,
    handle_uncalibrated,
)
from ._calibration import select_calibration_clips, subjects_of

__all__ = ["SubjectNormalizer", "subject_statistics"]

_FLOAT_DTYPES = [np.float64, np.float32]


def subject_statistics(
    features: np.ndarray, *, with_std: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of one subject's features over its clips (and frames).

    Parameters
    ----------
    features : ndarray of shape (n_clips, n_frames, n_features) or (n_clips, n_features)
        The clips whose statistics calibrate the subject.
    with_std : bool, default=True
        Also return the standard deviation as scale (population, ``ddof=0``); otherwise
        the scale is 1. Features constant over the clips get scale 1 (only centred).

    Returns
    -------
    mean, scale : ndarray of shape (n_features,), float64

    Examples
    --------
    >>> import numpy as np
    >>> mean, scale = subject_statistics(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> mean.tolist(), scale.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    """
    values = np.asarray(features).reshape(-1, np.asarray(features).shape[-1])
    mean = values.mean(axis=0, dtype=np.float64)
    scale = np.ones_like(mean)
    if with_std:
        std = values.std(axis=0, dtype=np.float64)
        # Constant within round-off (the test StandardScaler uses): centred only.
        n = values.shape[0]
        eps = np.finfo(np.float64).eps
        constant = std**2 <= n * eps * std**2 + (n * mean * eps) ** 2
        scale = np.where(constant, 1.0, std)
    return mean, scale


class SubjectNormalizer(TransformerMixin, BaseEstimator):
    """Standardise each subject's features with statistics of that subject's own clips.

    Speaker-independent emotion recognition loses much of its accuracy to *who* is
    speaking or moving: a low voice, a resting frown. Subtracting each subject's own mean
    (and dividing by its own standard deviation) over its clips, with no labels,
    removes much of it ("speaker normalisation"; the paper's neutral-reference key-point
    distances are one form of it). The statistics of a test subject are read from that
    subject's clips, so a result obtained with it is **transductive**: always report it
    beside the standard, inductive one, with the source and number of clips it used
    (:class:`~skemotion.model_selection.ActorCVReport` records both).

    Where the subjects come from: the normalizer reads them from the clip table, so they
    are never passed twice. Wrap the feature extractor, ``SubjectNormalizer(
    LogMelSpectrogram())``: ``fit``/``transform`` take the table (a DataFrame with a
    ``subject_column``, as :func:`~skemotion.datasets.load_ravdess` returns), extract the
    features with ``transformer`` and normalise them by the subjects of the table's rows.
    Inside a :class:`~sklearn.pipeline.Pipeline` the table's rows travel with the
    features this way through ``cross_val_score``, ``GridSearchCV`` and
    :func:`~skemotion.model_selection.evaluate_actor_cv` (scikit-learn slices the table,
    and the subject column with it), with no metadata routing to enable. For feature
    arrays already at hand, leave ``transformer`` as None and pass
    ``fit(X, subjects=...)`` / ``transform(X, subjects=...)``.

    Statistics, per subject:

    * subjects seen in ``fit`` keep the statistics of their clips in the fit data (the
      training fold: a training subject's statistics never come from the test fold);
    * subjects enrolled with :meth:`enroll` use their enrollment clips, always;
    * any other subject is calibrated from its own clips in the ``transform`` call
      (a test subject's statistics never come from another subject). With fewer than
      ``min_clips`` of them (one clip of an unknown speaker, say) it cannot be
      calibrated: ``on_uncalibrated="raise"`` refuses, ``"global"`` uses the statistics
      of all subjects of the fit data, with a warning.

    Parameters
    ----------
    transformer : estimator or None, default=None
        Feature extractor applied to the clip table (a skemotion feature transformer, a
        :class:`~skemotion.compose.ModalityUnion` — each of its modalities is normalised
        on its own — or a :class:`~sklearn.pipeline.Pipeline`). None: ``X`` already holds
        the features.
    subject_column : str, default="actor"
        Column of the clip table naming the subject of each clip.
    source : {"all", "neutral"}, default="all"
        Which of a subject's clips give its statistics: all of them, or only its neutral
        clips, found from the RAVDESS names of the table's ``clip_id`` column, or of the
        files in ``path_column`` (the recordings a subject makes for calibration; never
        read from ``y``).
    n_clips : int or None, default=None
        Use at most this many of the ``source`` clips per subject (an enrollment budget:
        the first ones in table order, or a seeded random draw, see ``selection``).
        None uses them all.
    selection : {"first", "random"}, default="first"
        How ``n_clips`` clips are chosen.
    with_std : bool, default=True
        Divide by the subject's standard deviation as well as subtracting its mean.
    min_clips_for_std : int, default=8
        Below this many clips the standard deviation is too noisy to divide by (measured
        on RAVDESS: mean-only shifts beat mean + std with 4 to 16 clips), so only the mean
        is used for that subject.
    min_clips : int, default=2
        Fewest clips that calibrate a subject; a subject with fewer is uncalibrated.
    on_uncalibrated : {"raise", "global"}, default="raise"
        What happens to a subject that is neither fitted nor enrolled and has fewer than
        ``min_clips`` clips in the call.
    path_column : str, default="path"
        Column holding the clip files, whose RAVDESS names ``source="neutral"`` reads.
    random_state : int, RandomState or None, default=None
        Seed of ``selection="random"``.

    Attributes
    ----------
    transformer_ : estimator or None
        The fitted clone of ``transformer``.
    subjects_ : ndarray of shape (n_subjects,)
        Subjects with stored statistics: those of the fit data, then enrolled ones.
    mean_ : ndarray of shape (n_subjects, n_features) or dict of str to such arrays
        Per-subject means (one array per modality when ``transformer`` outputs a dict).
    scale_ : same as ``mean_``
        Per-subject scales (1 where the standard deviation is not used).
    n_clips_ : ndarray of shape (n_subjects,)
        Clips behind each subject's statistics.
    enrolled_ : ndarray of bool, shape (n_subjects,)
        Which subjects were calibrated by :meth:`enroll`.
    global_mean_, global_scale_ : ndarray or dict
        Statistics of all the fit data, for ``on_uncalibrated="global"``.
    n_features_in_ : int
        Features per frame of the (extracted) input, when it is one array.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [2.0], [10.0], [14.0]])
    >>> subjects = np.array(["ann", "ann", "bob", "bob"])
    >>> SubjectNormalizer(with_std=False).fit_transform(X, subjects=subjects).ravel().tolist()
    [-1.0, 1.0, -2.0, 2.0]
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **CALIBRATION_PARAMETER_CONSTRAINTS,
        "transformer": [None, HasMethods(["fit", "transform"])],
        "with_std": ["boolean"],
        "min_clips_for_std": [Interval(Integral, 2, None, closed="left")],
    }

    def __init__(
        self,
        transformer: Any = None,
        *,
        subject_column: str = "actor",
        source: str = "all",
        n_clips: int | None = None,
        selection: str = "first",
        with_std: bool = True,
        min_clips_for_std: int = 8,
        min_clips: int = 2,
        on_uncalibrated: str = "raise",
        path_column: str = "path",
        random_state: Any = None,
    ) -> None:
        self.transformer = transformer
        self.subject_column = subject_column
        self.source = source
        self.n_clips = n_clips
        self.selection = selection
        self.with_std = with_std
        self.min_clips_for_std = min_clips_for_std
        self.min_clips = min_clips
        self.on_uncalibrated = on_uncalibrated
        self.path_column = path_column
        self.random_state = random_state

    # -- scikit-learn API ------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, *, subjects: Any = None) -> SubjectNormalizer:
        """Learn the statistics of every subject of ``X`` (and fit ``transformer``).

        Parameters
        ----------
        X : DataFrame (the clip table) or array-like
            With ``transformer``: the table it extracts features from, holding
            ``subject_column``. Without: features ``(n_clips, n_frames, n_features)`` or
            ``(n_clips, n_features)``.
        y : ignored
            Labels are never read.
        subjects : array-like of shape (n_clips,), default=None
            Subject of each clip; only needed when ``X`` has no ``subject_column``.

        Returns
        -------
        self : SubjectNormalizer
        """
        self.fit_transform(X, y, subjects=subjects)
        return self

    def fit_transform(
        self, X: Any, y: Any = None, *, subjects: Any = None, **fit_params: Any
    ) -> Any:
        """Fit, then normalise ``X`` with the statistics just learnt (one extraction)."""
        self._validate_params()
        if self.transformer is None:
            # The features first: a malformed array gets scikit-learn's own message.
            self.transformer_ = None
            features = self._check_features(X, reset=True)
            subjects = self._subjects(X, subjects)
        else:
            subjects = self._subjects(X, subjects)
            self.transformer_ = clone(self.transformer)
            features = _fit_transform(self.transformer_, X, y)
            features = self._check_features(features, reset=True)
        calibration = self._calibration_rows(X, subjects)
        names, (mean, scale), counts = self._statistics(features, subjects, calibration)
        # A subject with too few calibration clips keeps no statistics: on_uncalibrated
        # decides for it, in fit as in transform.
        calibrated = counts >= self.min_clips
        self.subjects_, self.n_clips_ = names[calibrated], counts[calibrated]
        self.mean_ = _map(mean, lambda stats: stats[calibrated])
        self.scale_ = _map(scale, lambda stats: stats[calibrated])
        self.enrolled_ = np.zeros(len(self.subjects_), dtype=bool)
        every_row = np.ones(len(subjects), dtype=bool)
        self.global_mean_, self.global_scale_ = _map(
            features, lambda array: subject_statistics(array[every_row], with_std=self.with_std)
        )
        return self._normalize(features, subjects, calibration)

    def transform(self, X: Any, *, subjects: Any = None) -> Any:
        """Normalise each clip with the statistics of its subject.

        Parameters
        ----------
        X : DataFrame or array-like
            As in :meth:`fit`.
        subjects : array-like of shape (n_clips,), default=None
            As in :meth:`fit`.

        Returns
        -------
        X_normalized : ndarray of the features' shape and dtype, or a dict of them
        """
        check_is_fitted(self, "subjects_")
        features = self._features(X, subjects)
        subjects = self._subjects(X, subjects)
        return self._normalize(features, subjects, self._calibration_rows(X, subjects))

    def enroll(self, X: Any, *, subjects: Any = None) -> SubjectNormalizer:
        """Calibrate subjects from enrollment clips; later calls use these statistics.

        All the given clips of each subject are used (``source`` and ``n_clips`` choose
        among a subject's clips in data being transformed; enrollment clips are chosen by
        the caller). Labels are never needed. A subject enrolled again gets the new
        statistics.

        Parameters
        ----------
        X : DataFrame or array-like
            The enrollment clips, as in :meth:`fit`.
        subjects : array-like of shape (n_clips,), default=None
            As in :meth:`fit`.

        Returns
        -------
        self : SubjectNormalizer
        """
        check_is_fitted(self, "subjects_")
        features = self._features(X, subjects)
        subjects = self._subjects(X, subjects)
        new, stats, counts = self._statistics(features, subjects, np.ones(len(subjects), bool))
        check_enrollment_counts(self, new.tolist(), counts.tolist())
        keep = ~np.isin(self.subjects_, new)
        self.subjects_ = np.concatenate([self.subjects_[keep], new])
        self.n_clips_ = np.concatenate([self.n_clips_[keep], counts])
        self.enrolled_ = np.concatenate([self.enrolled_[keep], np.ones(len(new), dtype=bool)])
        self.mean_ = _combine(self.mean_, stats[0], keep)
        self.scale_ = _combine(self.scale_, stats[1], keep)
        return self

    def subject_scaler(self, subject: Any, *, modality: str | None = None) -> Any:
        """The standardisation this normaliser applies to ``subject``, as its own scaler.

        For deploying a model calibrated to one known person (exported graphs fold it in
        as constants, :func:`skemotion.deploy.export_onnx` with ``subject=``).

        Parameters
        ----------
        subject : hashable
            A subject seen in ``fit`` or enrolled.
        modality : str or None, default=None
            The modality, when the normaliser's transformer outputs a dict.

        Returns
        -------
        TemporalStandardScaler
            Fitted, with the subject's ``mean_`` and ``scale_``.
        """
        from ._temporal_scaler import TemporalStandardScaler

        check_is_fitted(self, "subjects_")
        known = self.subjects_.tolist()
        if plain(subject) not in known:
            raise ValueError(
                f"No statistics for subject {subject!r}: fit or enroll it first (known: "
                f"{describe_subjects(known)})."
            )
        if isinstance(self.mean_, Mapping) != (modality is not None):
            raise ValueError(
                "modality must name one of the dict outputs' keys "
                f"{sorted(self.mean_) if isinstance(self.mean_, Mapping) else []}, or be None "
                "for a single array."
            )
        index = known.index(plain(subject))
        mean, scale = _pick(self.mean_, modality)[index], _pick(self.scale_, modality)[index]
        scaler = TemporalStandardScaler()
        scaler.mean_, scaler.scale_ = mean.copy(), scale.copy()
        scaler.var_ = scale**2
        scaler.n_features_in_ = len(mean)
        scaler.n_samples_seen_ = int(self.n_clips_[index])
        return scaler

    def describe(self) -> dict[str, Any]:
        """The protocol of this calibration, as results must report it.

        Returns
        -------
        dict
            ``protocol`` ("transductive": test subjects' statistics come from their own
            unlabeled clips), ``source``, ``n_clips`` (None: all), ``selection``,
            ``with_std`` and ``min_clips_for_std``.
        """
        return {
            **calibration_description(self, "per-subject standardisation (SubjectNormalizer)"),
            "with_std": self.with_std,
            "min_clips_for_std": self.min_clips_for_std,
        }

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        if self.transformer is not None:
            tags.input_tags.string = get_tags(self.transformer).input_tags.string
        return tags

    # -- internals -------------------------------------------------------------------------

    def _features(self, X: Any, subjects: Any) -> Any:
        """Checked features of ``X`` for transform and enroll (extracted when wrapping)."""
        if self.transformer_ is None:
            return self._check_features(X, reset=False)
        self._subjects(X, subjects)  # a table without subjects fails before extraction
        return self._check_features(self.transformer_.transform(X), reset=False)

    def _subjects(self, X: Any, subjects: Any) -> np.ndarray:
        return subjects_of(
            X, subjects, subject_column=self.subject_column, caller="SubjectNormalizer"
        )

    def _check_features(self, features: Any, *, reset: bool) -> Any:
        if sparse.issparse(features):  # before the Mapping test: some sparse types are one
            raise TypeError("SubjectNormalizer does not support sparse input: pass a dense array.")
        if isinstance(features, Mapping):
            return {
                str(key): self._check_array(value, reset=False) for key, value in features.items()
            }
        return self._check_array(features, reset=reset)

    def _check_array(self, X: Any, *, reset: bool) -> np.ndarray:
        X = check_array(X, dtype=_FLOAT_DTYPES, allow_nd=True, ensure_min_samples=1, input_name="X")
        if X.ndim not in (2, 3):
            raise ValueError(
                "SubjectNormalizer expects features (n_clips, n_frames, n_features) or "
                f"(n_clips, n_features), got shape {X.shape}."
            )
        if reset:
            self.n_features_in_ = X.shape[-1]
        elif hasattr(self, "n_features_in_") and X.shape[-1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[-1]} features, but SubjectNormalizer is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _calibration_rows(self, X: Any, subjects: np.ndarray) -> np.ndarray:
        return select_calibration_clips(X, subjects, **calibration_clip_choice(self))

    def _statistics(
        self, features: Any, subjects: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, tuple[Any, Any], np.ndarray]:
        """Per-subject (mean, scale) over the chosen rows, for every subject of the call."""
        names = unique_in_order(subjects)
        counts = np.array([np.sum((subjects == s) & rows) for s in names], dtype=np.int64)

        def per_subject(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            stats = [
                subject_statistics(
                    array[(subjects == s) & rows] if n else array[:0],
                    with_std=self.with_std and n >= self.min_clips_for_std,
                )
                if n
                else (np.zeros(array.shape[-1]), np.ones(array.shape[-1]))
                for s, n in zip(names, counts, strict=True)
            ]
            return np.stack([m for m, _ in stats]), np.stack([s for _, s in stats])

        return as_subject_array(names), _map(features, per_subject), counts

    def _normalize(self, features: Any, subjects: np.ndarray, rows: np.ndarray) -> Any:
        names = unique_in_order(subjects)
        known = {subject: i for i, subject in enumerate(self.subjects_.tolist())}
        new = [s for s in names if s not in known]
        fresh_stats: tuple[Any, Any] | None = None
        fresh_index: dict[Any, int] = {}
        if new:
            new_rows = np.isin(subjects, as_subject_array(new))
            fresh, fresh_stats, counts = self._statistics(
                _map(features, lambda a: a[new_rows]), subjects[new_rows], rows[new_rows]
            )
            fresh_index = {s: i for i, s in enumerate(fresh.tolist())}
            short = [s for s, n in zip(fresh.tolist(), counts, strict=True) if n < self.min_clips]
            handle_uncalibrated(
                self, short, fallback="the statistics of all fit subjects", stacklevel=4
            )
            for subject in short:
                fresh_index[subject] = -1

        def apply(array: np.ndarray, key: str | None) -> np.ndarray:
            out = np.array(array, copy=True)
            mean, scale = _pick(self.mean_, key), _pick(self.scale_, key)
            global_mean, global_scale = (
                _pick(self.global_mean_, key),
                _pick(self.global_scale_, key),
            )
            for subject in names:
                member = subjects == subject
                if subject in known:
                    m, s = mean[known[subject]], scale[known[subject]]
                elif fresh_index[subject] < 0:
                    m, s = global_mean, global_scale
                else:
                    assert fresh_stats is not None
                    i = fresh_index[subject]
                    m, s = _pick(fresh_stats[0], key)[i], _pick(fresh_stats[1], key)[i]
                out[member] = (out[member] - m.astype(out.dtype)) / s.astype(out.dtype)
            return out

        if isinstance(features, Mapping):
            return SliceDict(**{key: apply(value, key) for key, value in features.items()})
        return apply(features, None)


def _fit_transform(transformer: Any, X: Any, y: Any) -> Any:
    if get_tags(transformer).requires_fit:
        return transformer.fit_transform(X, y)
    # Stateless extractors learn nothing: one pass over the media is all the work.
    return transformer.fit(X, y).transform(X)


def _map(features: Any, function: Any) -> Any:
    """``function`` over one array, or over each modality's array (results transposed)."""
    if not isinstance(features, Mapping):
        return function(features)
    results = {key: function(value) for key, value in features.items()}
    first = next(iter(results.values()))
    if isinstance(first, tuple):
        return tuple({key: value[i] for key, value in results.items()} for i in range(len(first)))
    return results


def _pick(stats: Any, key: str | None) -> Any:
    return stats if key is None else stats[key]


def _combine(old: Any, new: Any, keep: np.ndarray) -> Any:
    if isinstance(old, Mapping):
        return {key: np.concatenate([old[key][keep], new[key]]) for key in old}
    return np.concatenate([old[keep], new])
