"""Subject calibration inside the network: batch-norm statistics per subject (AdaBN)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from .._subjects import as_subject_array, unique_in_order
from ..nets import TIMNetClassifier, batchnorm_statistics, using_batchnorm_statistics
from ..preprocessing import select_calibration_clips, subjects_of
from ..utils._calibration import (
    CALIBRATION_PARAMETER_CONSTRAINTS,
    calibration_clip_choice,
    calibration_description,
    check_enrollment_counts,
    handle_uncalibrated,
)
from ..utils._groups import groups_fit_params
from ..utils._tables import take_rows

__all__ = ["SubjectAdaptiveClassifier"]


class SubjectAdaptiveClassifier(ClassifierMixin, BaseEstimator):
    """A skemotion network that normalises every layer by the subject of the clip.

    A TIM-Net normalises the output of each of its convolutions with batch-norm
    statistics learnt over all training speakers. This meta-estimator gives each subject
    the statistics of its own clips instead ("AdaBN", Li et al. 2018, applied per
    speaker or face): the network then removes *who* is speaking at every layer, where
    :class:`~skemotion.preprocessing.SubjectNormalizer` acts on the input features only.
    No weight changes and no label is read; like any subject calibration, it reads the
    test subjects' own clips, so its results are **transductive** (reports say so).

    It wraps a model whose last step is a skemotion network
    (:class:`~skemotion.nets.TIMNetClassifier`, :class:`~skemotion.nets.FusionClassifier`),
    typically a pipeline from :func:`make_speech_pipeline`, and takes the same clip table,
    whose ``subject_column`` names each clip's subject. Statistics, per subject:

    * subjects seen in ``fit`` keep those of their training clips;
    * subjects calibrated with :meth:`enroll` use their enrollment clips;
    * any other subject is calibrated from its own clips in the ``predict`` call (chosen
      by ``source``, ``n_clips`` and ``selection``, as for ``SubjectNormalizer``); with
      fewer than ``min_clips`` of them, ``on_uncalibrated="raise"`` refuses and
      ``"global"`` uses the network's own statistics (all training subjects), with a
      warning.

    Parameters
    ----------
    estimator : estimator
        A skemotion network, or a :class:`~sklearn.pipeline.Pipeline` ending in one.
    subject_column : str, default="actor"
    source : {"all", "neutral"}, default="all"
    n_clips : int or None, default=None
    selection : {"first", "random"}, default="first"
    min_clips : int, default=2
    on_uncalibrated : {"raise", "global"}, default="raise"
    path_column : str, default="path"
    random_state : int, RandomState or None, default=None
        As for :class:`~skemotion.preprocessing.SubjectNormalizer`.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    classes_ : ndarray of shape (n_classes,)
    subjects_ : ndarray of shape (n_subjects,)
        Subjects with stored statistics: those of the fit data, then enrolled ones.
    statistics_ : list of dict
        Their batch-norm statistics (:func:`~skemotion.nets.batchnorm_statistics`).
    n_clips_ : ndarray of shape (n_subjects,)
    enrolled_ : ndarray of bool, shape (n_subjects,)

    Examples
    --------
    >>> from skemotion.compose import make_speech_pipeline
    >>> model = SubjectAdaptiveClassifier(make_speech_pipeline(max_epochs=100))
    >>> model.fit(data.frame, data.y)  # doctest: +SKIP
    >>> model.predict(new_speaker_clips)  # doctest: +SKIP
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **CALIBRATION_PARAMETER_CONSTRAINTS,
        "estimator": [HasMethods(["fit", "predict_proba"])],
    }

    def __init__(
        self,
        estimator: Any,
        *,
        subject_column: str = "actor",
        source: str = "all",
        n_clips: int | None = None,
        selection: str = "first",
        min_clips: int = 2,
        on_uncalibrated: str = "raise",
        path_column: str = "path",
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.subject_column = subject_column
        self.source = source
        self.n_clips = n_clips
        self.selection = selection
        self.min_clips = min_clips
        self.on_uncalibrated = on_uncalibrated
        self.path_column = path_column
        self.random_state = random_state

    def fit(
        self, X: Any, y: Any, *, subjects: Any = None, **fit_params: Any
    ) -> SubjectAdaptiveClassifier:
        """Fit ``estimator``, then store each training subject's statistics.

        Parameters
        ----------
        X : DataFrame or array-like
            What ``estimator`` takes; a table holds ``subject_column``.
        y : array-like of shape (n_clips,)
        subjects : array-like of shape (n_clips,), default=None
            Subject of each clip, when ``X`` has no ``subject_column``.
        **fit_params
            Passed to ``estimator.fit`` (``groups=...`` for instance). A network with
            ``batching="subject"`` gets ``subjects`` as its ``groups`` unless given.

        Returns
        -------
        self : SubjectAdaptiveClassifier
        """
        self._validate_params()
        subjects = self._subjects(X, subjects)
        last = self.estimator[-1] if isinstance(self.estimator, Pipeline) else self.estimator
        routed = any(key == "groups" or key.endswith("__groups") for key in fit_params)
        if getattr(last, "batching", "mixed") == "subject" and not routed:
            # A network trained on one subject per batch needs the subjects it calibrates.
            fit_params = {**fit_params, **groups_fit_params(self.estimator, subjects)}
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        network = self._network()
        self.classes_ = np.asarray(network.classes_)
        features = self._features(X)
        names, statistics, counts = self._calibrate(X, features, subjects)
        # Too few clips: no statistics; on_uncalibrated decides for them at predict.
        kept = [i for i, n in enumerate(counts) if n >= self.min_clips]
        self.subjects_ = as_subject_array([names[i] for i in kept])
        self.statistics_ = [statistics[i] for i in kept]
        self.n_clips_ = np.asarray([counts[i] for i in kept], dtype=np.int64)
        self.enrolled_ = np.zeros(len(kept), dtype=bool)
        return self

    def enroll(self, X: Any, *, subjects: Any = None) -> SubjectAdaptiveClassifier:
        """Calibrate subjects from their enrollment clips (all of them, unlabeled).

        Parameters
        ----------
        X : DataFrame or array-like
            The enrollment clips.
        subjects : array-like of shape (n_clips,), default=None

        Returns
        -------
        self : SubjectAdaptiveClassifier
        """
        check_is_fitted(self, "statistics_")
        subjects = self._subjects(X, subjects)
        features = self._features(X)
        every = np.ones(len(subjects), dtype=bool)
        names, statistics, counts = self._calibrate(X, features, subjects, rows=every)
        check_enrollment_counts(self, names, counts)
        keep = [i for i, s in enumerate(self.subjects_.tolist()) if s not in names]
        self.subjects_ = as_subject_array([*self.subjects_[keep].tolist(), *names])
        self.statistics_ = [*(self.statistics_[i] for i in keep), *statistics]
        self.n_clips_ = np.concatenate([self.n_clips_[keep], np.asarray(counts, np.int64)])
        self.enrolled_ = np.concatenate([self.enrolled_[keep], np.ones(len(names), bool)])
        return self

    def predict_proba(self, X: Any, *, subjects: Any = None) -> np.ndarray:
        """Class probabilities, each subject's clips through its own statistics.

        Parameters
        ----------
        X : DataFrame or array-like
        subjects : array-like of shape (n_clips,), default=None

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes)
        """
        check_is_fitted(self, "statistics_")
        subjects = self._subjects(X, subjects)
        features = self._features(X)
        network = self._network()
        stored = dict(zip(self.subjects_.tolist(), self.statistics_, strict=True))
        new = [s for s in unique_in_order(subjects) if s not in stored]
        if new:
            new_rows = np.isin(subjects, as_subject_array(new))
            names, statistics, counts = self._calibrate(
                _rows(X, new_rows), _rows(features, new_rows), subjects[new_rows]
            )
            short = [s for s, n in zip(names, counts, strict=True) if n < self.min_clips]
            handle_uncalibrated(
                self,
                short,
                fallback="the network's own statistics (all training subjects)",
                stacklevel=3,
            )
            stored.update(
                (s, stats)
                for s, stats, n in zip(names, statistics, counts, strict=True)
                if n >= self.min_clips
            )
        proba = np.zeros((len(subjects), len(self.classes_)))
        for subject in unique_in_order(subjects):
            rows = subjects == subject
            part = _rows(features, rows)
            if subject in stored:
                with using_batchnorm_statistics(network, stored[subject]):
                    proba[rows] = network.predict_proba(part)
            else:
                proba[rows] = network.predict_proba(part)
        return proba

    def predict(self, X: Any, *, subjects: Any = None) -> np.ndarray:
        """Most probable class of each clip."""
        check_is_fitted(self, "statistics_")
        return self.classes_[self.predict_proba(X, subjects=subjects).argmax(axis=1)]

    def describe(self) -> dict[str, Any]:
        """The protocol of this calibration, as results must report it."""
        method = "per-subject batch-norm statistics (SubjectAdaptiveClassifier, AdaBN)"
        return {**calibration_description(self, method), "with_std": True}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # -- internals -------------------------------------------------------------------------

    def _subjects(self, X: Any, subjects: Any) -> np.ndarray:
        return subjects_of(
            X, subjects, subject_column=self.subject_column, caller="SubjectAdaptiveClassifier"
        )

    def _network(self) -> TIMNetClassifier:
        network = self.estimator_[-1] if isinstance(self.estimator_, Pipeline) else self.estimator_
        if not isinstance(network, TIMNetClassifier):
            raise TypeError(
                "SubjectAdaptiveClassifier calibrates the batch-norm statistics of a skemotion "
                f"network; the estimator ends in a {type(network).__name__}."
            )
        return network

    def _features(self, X: Any) -> Any:
        if isinstance(self.estimator_, Pipeline):
            return self.estimator_[:-1].transform(X)
        return X

    def _calibrate(
        self, X: Any, features: Any, subjects: np.ndarray, *, rows: np.ndarray | None = None
    ) -> tuple[list[Hashable], list[dict[str, np.ndarray]], list[int]]:
        if rows is None:
            rows = select_calibration_clips(X, subjects, **calibration_clip_choice(self))
        names, statistics, counts = unique_in_order(subjects), [], []
        network = self._network()
        for subject in names:
            chosen = (subjects == subject) & rows
            counts.append(int(chosen.sum()))
            statistics.append(
                batchnorm_statistics(network, _rows(features, chosen))
                if chosen.sum() >= self.min_clips
                else {}
            )
        return names, statistics, counts


def _rows(data: Any, mask: np.ndarray) -> Any:
    return take_rows(data, np.flatnonzero(mask))
