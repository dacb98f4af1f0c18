"""Speaker-independent cross-validation: the actor folds, fitted and pooled into a report."""

from __future__ import annotations

import numbers
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GroupKFold, check_cv
from sklearn.utils.validation import check_consistent_length
from tqdm.auto import tqdm

from .._parallel import fresh_loky_workers, streaming_return_as
from ..preprocessing import calibration_protocol
from ..utils._groups import check_group_splits, groups_fit_params
from ..utils._tables import take_rows
from ._extract import _extract_once
from ._report import ActorCVReport, _pool_probabilities, _to_builtin
from ._split import PAPER_ACTOR_FOLDS, ExcludeFromTest, RavdessActorFolds
from ._stacking import _fit_folds_stacked, _stacking_unsupported_reason

__all__ = [
    "default_actor_cv",
    "evaluate_actor_cv",
    "evaluate_actor_cv_many",
]

_FoldResult = tuple[np.ndarray, float, float, tuple[np.ndarray, np.ndarray] | None]
"""A fitted fold's test predictions, fit and score times, and (classes, posteriors)."""


@dataclass(frozen=True)
class _ActorFolds:
    """What every estimator of a run is cross-validated on: labels, actors and splits."""

    y: np.ndarray
    groups: np.ndarray
    cv: Any
    splits: list[tuple[np.ndarray, np.ndarray]]


def default_actor_cv(actors: set[Any]) -> Any:
    """The splitter :func:`evaluate_actor_cv` uses when given ``cv=None``.

    Parameters
    ----------
    actors : set
        The actors (groups) of the clips.

    Returns
    -------
    cv : RavdessActorFolds or GroupKFold
        The paper's five folds when every fold has test actors among ``actors`` and
        none of them is outside the folds; else ``GroupKFold`` with up to five folds.
    """
    folds = [set(fold) for fold in PAPER_ACTOR_FOLDS]
    # The paper's folds only make sense when each one has test actors and no actor is left out.
    if actors <= set().union(*folds) and all(actors & fold for fold in folds):
        return RavdessActorFolds()
    return GroupKFold(n_splits=min(5, len(actors)))


def _check_actor_splits(
    cv: Any, X: Any, y: np.ndarray, groups: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    # Splitters count rows with _num_samples, which takes a dict for its number of keys.
    rows = np.empty((len(y), 0)) if isinstance(X, Mapping) else X
    expected = np.arange(len(y))
    if isinstance(cv, ExcludeFromTest):
        # Only clips the caller asked to leave out may go untested.
        expected = expected[~cv._mask(len(y))]
    return check_group_splits(cv, rows, y, groups, expected=expected)


def _fit_and_predict(
    estimator: BaseEstimator,
    X: Any,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    groups: np.ndarray | None = None,
) -> _FoldResult:
    model: Any = clone(estimator)
    fit_params = groups_fit_params(model, None if groups is None else groups[train])
    start = time.perf_counter()
    model.fit(take_rows(X, train), y[train], **fit_params)
    fit_time = time.perf_counter() - start
    return (*_predict_fold(model, X, test, fit_time),)


def _predict_fold(model: Any, X: Any, test: np.ndarray, fit_time: float) -> _FoldResult:
    """Predictions, fit and score times, and posteriors of a fitted fold model."""
    start = time.perf_counter()
    X_test = take_rows(X, test)
    y_pred = np.asarray(model.predict(X_test))
    score_time = time.perf_counter() - start
    proba = None
    if hasattr(model, "predict_proba"):
        # Out-of-fold posteriors, kept for late fusion; not part of the timed scoring.
        proba = (np.asarray(model.classes_), np.asarray(model.predict_proba(X_test)))
    return y_pred, fit_time, score_time, proba


def _fit_and_predict_stacked(
    estimators: Sequence[BaseEstimator],
    inputs_of: Sequence[Any],
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    n_jobs: int | None,
    verbose: int,
) -> list[list[_FoldResult]]:
    """The fold results of each estimator (on its inputs), the networks trained stacked."""
    fitted = _fit_folds_stacked(estimators, inputs_of, y, splits, n_jobs=n_jobs, verbose=verbose)
    tests = [(X, test) for X in inputs_of for _, test in splits]
    results = [
        _predict_fold(model, X, test, fit_time)
        for (model, fit_time), (X, test) in zip(fitted, tests, strict=True)
    ]
    n_folds = len(splits)
    return [results[i : i + n_folds] for i in range(0, len(results), n_folds)]


def _fit_and_predict_parts(
    estimator: BaseEstimator,
    kind: type,
    keys: list[Any],
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    groups: np.ndarray | None,
    *values: Any,
) -> _FoldResult:
    """:func:`_fit_and_predict` of the mapping ``kind(zip(keys, values))``."""
    X = kind(**dict(zip(keys, values, strict=True)))
    return _fit_and_predict(estimator, X, y, train, test, groups)


def evaluate_actor_cv(
    estimator: BaseEstimator,
    X: Any,
    y: Any,
    groups: Any,
    *,
    cv: int | Any | Iterable[tuple[Any, Any]] | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    labels: Sequence[Any] | None = None,
    stack_folds: bool | str = False,
    extract_once: bool | str = "auto",
) -> ActorCVReport:
    """Cross-validate ``estimator`` with no actor in both the train and the test set.

    Each fold clones ``estimator``, fits it on the training actors and predicts the test
    actors; the test fold is used for scoring only, never for early stopping or choosing a
    checkpoint. Every split is checked for speaker leakage before anything is fitted.

    The training actors reach the estimator too, so that whatever it splits internally (an
    inner cross-validation, a validation set) can be split by actor as well: when
    ``estimator.fit`` has a ``groups`` parameter (:class:`~skemotion.nets.TIMNetClassifier`,
    :class:`~skemotion.compose.LateFusionClassifier`), each fold calls
    ``fit(X_train, y_train, groups=groups_train)``; for a
    :class:`~sklearn.pipeline.Pipeline` whose final step's ``fit`` has one, it passes
    ``<final step name>__groups=groups_train`` (with metadata routing enabled:
    ``groups=groups_train``, when a step asked for it with ``set_fit_request(groups=True)``).
    Other estimators are fitted on ``(X_train, y_train)`` alone. A
    :class:`~skemotion.nets.TIMNetClassifier` only uses ``groups`` for a
    :class:`~skemotion.nets.GroupedValidSplit`, so its results do not change.

    Parameters
    ----------
    estimator : estimator object
        Classifier or pipeline implementing ``fit`` and ``predict``; it is cloned for each
        fold, so it is left unfitted.
    X : array-like, DataFrame or dict of array-likes
        Inputs, one row per clip (for the speech pipeline: the frame of
        :func:`skemotion.datasets.load_ravdess`).
    y : array-like of shape (n_samples,)
        Labels.
    groups : array-like of shape (n_samples,)
        Actor of each clip.
    cv : int, cross-validator or iterable of (train, test) splits, default=None
        ``None`` uses :class:`RavdessActorFolds` (the paper's five fixed folds) when every
        fold has some of the actors and no actor lies outside them, else
        ``GroupKFold(n_splits=min(5, n_actors))``. An int ``k`` means ``GroupKFold(k)``.
        Any splitter is accepted as long as its test sets partition the clips and no split
        shares an actor between train and test; a splitter that ignores ``groups`` (such as
        ``KFold``) is refused with a ``ValueError`` as soon as one of its splits leaks. An
        :class:`ExcludeFromTest` splitter may leave the clips it excludes untested: the
        report then holds the tested clips only (in their original order), and
        ``metadata["untested_clips"]`` lists the row numbers of the others.
    n_jobs : int, default=None
        Folds fitted in parallel with joblib; ``None`` means 1, ``-1`` all cores.
    verbose : int, default=0
        ``0`` is silent, ``1`` shows a progress bar over the folds, ``2`` also prints each
        fold's accuracy. Both go to stderr.
    labels : sequence, default=None
        Label order of the confusion matrix and per-emotion F1; see :class:`ActorCVReport`.
    stack_folds : {False, "auto", True}, default=False
        Train the folds' networks together, as one network with a member axis
        (:func:`skemotion.nets.fit_stacked`), when ``estimator`` is a
        :class:`~skemotion.nets.TIMNetClassifier`, or a pipeline ending in one, that
        stacking supports (:func:`skemotion.nets.stacking_unsupported_reason`). Each fold
        still gets its own preprocessing fitted on its training actors, its own seed stream,
        checkpoint and batch-norm statistics: the same model as fold-by-fold training up to
        floating-point rounding (after 100 epochs, rounding differences grow to a few clips'
        worth of predictions, as between two machines), in a fraction of the time. The
        networks are split into ``n_jobs`` stacks of about equal work, each trained by a
        worker process with one torch thread (one stack in this process, with torch's
        current thread setting, when ``n_jobs`` is 1 or None).
        ``"auto"`` stacks when supported, with metadata routing off and a local joblib
        backend; ``True`` insists (``ValueError`` when unsupported); ``False`` (the
        default) fits fold by fold: on the development machine stacking trained float32
        networks only 1.07-1.18x faster (docs/benchmarks.md), too little to trade the
        bit-for-bit fold-by-fold numbers for by default. The report's
        ``metadata["stacked_folds"]`` says which ran.
    extract_once : {"auto", True, False}, default="auto"
        Run the leading steps of a :class:`~sklearn.pipeline.Pipeline` that learn nothing
        (feature extractors: log-mel spectrograms, face key points, embeddings) once on
        all clips, then cross-validate the rest of the pipeline on the features, instead of
        extracting every fold's clips again; :func:`extract_stateless_head` says which steps
        qualify (their tags say ``requires_fit=False``). The splits are those of ``X`` and
        every step that learns (a scaler, a
        :class:`~skemotion.preprocessing.SubjectNormalizer`, the network) is still fitted
        on each fold's training actors only, so the predictions are those of extracting in
        every fold. ``"auto"`` extracts once when there is such a step, ``True`` insists
        (``ValueError`` when there is none), ``False`` extracts in every fold (for a
        "stateless" step whose output for a clip depends on the other clips it is given).
        ``fit_time`` then leaves out the extraction; ``metadata["extracted_once"]`` names
        the steps that ran once.

    Returns
    -------
    report : ActorCVReport
        Per-fold accuracies, pooled out-of-fold predictions, per-emotion F1 and confusion
        matrix.

    Raises
    ------
    ValueError
        If a split shares an actor between its train and test sets, the test sets do not
        partition the clips, or ``extract_once=True`` finds no stateless leading step.

    See Also
    --------
    RavdessActorFolds : The paper's five fixed actor folds.
    sklearn.model_selection.cross_val_score : Scores only; pass ``groups`` and a group-aware
        ``cv`` yourself.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skemotion.model_selection import evaluate_actor_cv
    >>> rng = np.random.default_rng(0)
    >>> actors = np.repeat(np.arange(1, 25), 10)
    >>> y = np.tile(["happy", "sad"], 120)
    >>> X = rng.normal(size=(240, 4)) + (y == "happy")[:, None]
    >>> report = evaluate_actor_cv(LogisticRegression(), X, y, actors)
    >>> report.fold_actors[0]
    [2, 5, 14, 15, 16]
    >>> len(report.y_pred), int(report.confusion_matrix.sum())
    (240, 240)
    """
    return evaluate_actor_cv_many(
        [estimator],
        X,
        y,
        groups,
        cv=cv,
        n_jobs=n_jobs,
        verbose=verbose,
        labels=labels,
        stack_folds=stack_folds,
        extract_once=extract_once,
    )[0]


def evaluate_actor_cv_many(
    estimators: Sequence[BaseEstimator],
    X: Any,
    y: Any,
    groups: Any,
    *,
    cv: int | Any | Iterable[tuple[Any, Any]] | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    labels: Sequence[Any] | None = None,
    stack_folds: bool | str = "auto",
    extract_once: bool | str = "auto",
) -> list[ActorCVReport]:
    """:func:`evaluate_actor_cv` of several estimators on the same actor folds.

    Meant for seeds (how much of a difference is noise) and grids over parameters that
    leave the network's shape alone (learning rate, epochs, batch size): when stacking
    supports every estimator, all ``len(estimators) x n_folds`` networks train together
    as one stacked network (:func:`skemotion.nets.fit_stacked`), each as it would alone.
    Otherwise each estimator is evaluated in turn, as :func:`evaluate_actor_cv` does, all
    on the same splits.

    Parameters
    ----------
    estimators : sequence of estimator objects
        Each is cloned for each fold.
    X, y, groups, cv, n_jobs, verbose, labels, stack_folds, extract_once
        As for :func:`evaluate_actor_cv`; ``stack_folds="auto"`` stacks only when every
        estimator can be stacked. Estimators whose stateless leading steps have the same
        parameters (a grid over the network's) share one extraction.

    Returns
    -------
    reports : list of ActorCVReport
        One per estimator, in order, on the same splits.

    Examples
    --------
    A grid over the regularisation of a logistic regression, on the same actor folds:

    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skemotion.model_selection import evaluate_actor_cv_many
    >>> X, y = make_classification(n_samples=240, random_state=0)
    >>> actors = np.repeat(np.arange(1, 25), 10)
    >>> models = [LogisticRegression(C=c) for c in (0.1, 1.0)]
    >>> reports = evaluate_actor_cv_many(models, X, y, actors)
    >>> [len(report.fold_accuracy) for report in reports]
    [5, 5]
    """
    estimators = list(estimators)
    if not estimators:
        raise ValueError("evaluate_actor_cv_many needs at least one estimator.")
    folds = _actor_splits(X, y, groups, cv)
    stacked = _use_stacking(estimators, stack_folds)
    extractions = _extract_once(estimators, X, extract_once, verbose=verbose)
    fold_results: Iterable[Iterable[_FoldResult]]
    if stacked:
        fold_results = _fit_stacked(extractions, folds, n_jobs=n_jobs, verbose=verbose)
    else:
        # One estimator after the other, each report built as its folds finish.
        fold_results = (
            _fit_folds(model, features, folds, n_jobs=n_jobs) for features, model, _ in extractions
        )
    return [
        _build_report(
            results,
            folds,
            metadata=_metadata(folds.cv, estimator, stacked, extracted),
            protocol=calibration_protocol(estimator),
            labels=labels,
            verbose=verbose,
        )
        for estimator, (_, _, extracted), results in zip(
            estimators, extractions, fold_results, strict=True
        )
    ]


def _fit_folds(model: Any, features: Any, folds: _ActorFolds, *, n_jobs: int | None) -> Any:
    """Each fold of ``model`` fitted on its extracted ``features``, streamed as they finish."""
    # Each fold trains a model: new workers, measured by loky against a fold.
    fresh_loky_workers(n_jobs)
    parallel = Parallel(n_jobs=n_jobs, return_as=streaming_return_as())
    y, groups = folds.y, folds.groups
    if isinstance(features, Mapping):
        # Each modality's array as an argument of its own: joblib's dask backend then
        # scatters it to the cluster once for all folds, whereas a plain dict (not
        # weak-referenceable) would travel whole inside every fold's task.
        kind, keys = type(features), list(features.keys())
        return parallel(
            delayed(_fit_and_predict_parts)(
                model, kind, keys, y, train, test, groups, *features.values()
            )
            for train, test in folds.splits
        )
    return parallel(
        delayed(_fit_and_predict)(model, features, y, train, test, groups)
        for train, test in folds.splits
    )


def _fit_stacked(
    extractions: Sequence[tuple[Any, Any, list[str]]],
    folds: _ActorFolds,
    *,
    n_jobs: int | None,
    verbose: int,
) -> list[list[_FoldResult]]:
    """The fold results of every extracted model, all networks trained as one stack."""
    fresh_loky_workers(n_jobs)
    if verbose >= 1:
        n_folds = len(folds.splits)
        networks = (
            f"the {n_folds} folds"
            if len(extractions) == 1
            else f"{len(extractions)} x {n_folds} folds"
        )
        print(f"training {networks} as one stacked network", file=sys.stderr)
    return _fit_and_predict_stacked(
        [model for _, model, _ in extractions],
        [features for features, _, _ in extractions],
        folds.y,
        folds.splits,
        n_jobs=n_jobs,
        verbose=verbose,
    )


def _metadata(cv: Any, estimator: Any, stacked: bool, extracted: list[str]) -> dict[str, Any]:
    return {
        "cv": repr(cv),
        "estimator": repr(estimator),
        "stacked_folds": stacked,
        "extracted_once": extracted,
    }


def _actor_splits(X: Any, y: Any, groups: Any, cv: Any) -> _ActorFolds:
    """Checked labels and actors, the cross-validator and its leak-free splits."""
    y = np.asarray(y)
    groups = np.asarray(groups)
    check_consistent_length(y, groups)
    for values in X.values() if isinstance(X, Mapping) else [X]:
        check_consistent_length(values, y)
    if cv is None:
        cv = default_actor_cv(set(_to_builtin(np.unique(groups))))
    elif isinstance(cv, numbers.Integral):
        # check_cv would turn an int into StratifiedKFold, which ignores actors.
        cv = GroupKFold(n_splits=int(cv))
    else:
        cv = check_cv(cv, y, classifier=True)
    return _ActorFolds(y, groups, cv, _check_actor_splits(cv, X, y, groups))


def _use_stacking(estimators: Sequence[Any], stack_folds: bool | str) -> bool:
    if stack_folds not in ("auto", True, False):
        raise ValueError(f"stack_folds must be 'auto', True or False, got {stack_folds!r}.")
    if not stack_folds:
        return False
    for estimator in estimators:
        reason = _stacking_unsupported_reason(estimator)
        if reason is not None:
            if stack_folds is True:
                raise ValueError(f"stack_folds=True, but the folds cannot be stacked: {reason}.")
            return False
    return True


def _build_report(
    results: Iterable[_FoldResult],
    folds: _ActorFolds,
    *,
    metadata: dict[str, Any],
    protocol: dict[str, Any],
    labels: Sequence[Any] | None,
    verbose: int,
) -> ActorCVReport:
    """Pool the folds' predictions (consumed as they arrive) into a report."""
    y, groups, splits = folds.y, folds.groups, folds.splits
    fold_preds: list[np.ndarray] = []
    fold_probas: list[tuple[np.ndarray, np.ndarray] | None] = []
    fit_time: list[float] = []
    score_time: list[float] = []
    progress = tqdm(results, total=len(splits), desc="actor folds", disable=verbose < 1)
    for fold, (fold_pred, fold_fit, fold_score, fold_proba) in enumerate(progress):
        fold_preds.append(fold_pred)
        fold_probas.append(fold_proba)
        fit_time.append(fold_fit)
        score_time.append(fold_score)
        if verbose >= 2:
            accuracy = accuracy_score(y[splits[fold][1]], fold_pred)
            # Beside the progress bar on stderr: stdout is left to the caller's results.
            message = f"fold {fold}: accuracy {100 * accuracy:.2f} % ({fold_fit:.1f} s fit)"
            progress.write(message, file=sys.stderr)
    # Back to the original row order. The test sets partition the rows (checked above),
    # or, with ExcludeFromTest, the rows it did not exclude: the report holds those.
    order = np.concatenate([test for _, test in splits])
    tested = np.sort(order)
    position = np.empty(len(y), dtype=np.intp)
    position[tested] = np.arange(len(tested))
    local_splits = [(train, position[test]) for train, test in splits]
    pooled = np.concatenate(fold_preds)
    y_pred = np.empty_like(pooled)
    y_pred[position[order]] = pooled
    test_fold = np.empty(len(tested), dtype=int)
    test_fold[position[order]] = np.repeat(
        np.arange(len(splits)), [len(test) for _, test in splits]
    )
    y_proba, proba_classes = _pool_probabilities(fold_probas, local_splits, n_samples=len(tested))
    metadata = dict(metadata)
    if len(tested) < len(y):
        metadata["untested_clips"] = np.setdiff1d(np.arange(len(y)), tested).tolist()
    return ActorCVReport(
        y_true=y[tested],
        y_pred=y_pred,
        test_fold=test_fold,
        fold_actors=[sorted(_to_builtin(np.unique(groups[test]))) for _, test in splits],
        fit_time=fit_time,
        score_time=score_time,
        labels=None if labels is None else list(labels),
        metadata=metadata,
        protocol=protocol,
        y_proba=y_proba,
        proba_classes=proba_classes,
    )
