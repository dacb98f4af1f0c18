"""Extract once: the leading steps of a pipeline that learn nothing, run once on all clips."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import joblib
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.validation import check_consistent_length

__all__ = ["extract_stateless_head"]


def extract_stateless_head(estimator: Any, X: Any, *, verbose: int = 0) -> tuple[Any, Any]:
    """Run the leading steps of a pipeline that learn nothing once, on every row of ``X``.

    Feature extraction (decoding audio and video, a spectrogram, tracking a face) is the
    slow part of a speech or face pipeline and learns nothing from data, so every fold of
    a cross-validation, every candidate of a grid search, would compute the same features
    of the same clips again. This runs those steps once; what is left of the pipeline,
    fitted on the features, learns exactly what the whole pipeline would learn on ``X``
    (:func:`evaluate_actor_cv` does this by default, see its ``extract_once``).

    A step counts as stateless when its scikit-learn tags say so
    (``__sklearn_tags__().requires_fit`` is False): skemotion's feature extractors
    (:class:`~skemotion.audio.LogMelSpectrogram`, the face and embedding transformers,
    a :class:`~skemotion.compose.ModalityUnion` of them) and scikit-learn's stateless
    transformers (``Normalizer``, ``FunctionTransformer``). Such a step must transform each
    row on its own, as these do: a ``FunctionTransformer`` whose function looks across
    rows would give other numbers. The leading steps are taken up to the first step that
    learns (a scaler, a :class:`~skemotion.preprocessing.SubjectNormalizer`, which keeps
    statistics of the training subjects, a network); the final step is never taken.

    Parameters
    ----------
    estimator : estimator object
        Usually a :class:`~sklearn.pipeline.Pipeline`; any other estimator has no stateless
        head and is returned as it is.
    X : array-like, DataFrame or dict of array-likes
        The inputs of ``estimator``, one row per clip.
    verbose : int, default=0
        ``1`` says on stderr which steps run on how many clips.

    Returns
    -------
    features : object
        The output of the last stateless step, one row per row of ``X`` in the same order;
        ``X`` itself when no step is stateless.
    rest : estimator object
        The steps left to fit, as a :class:`~sklearn.pipeline.Pipeline` (unfitted, sharing
        the steps of ``estimator``); ``estimator`` itself when no step is stateless.

    Raises
    ------
    ValueError
        If a stateless step returns another number of rows than it was given.

    See Also
    --------
    evaluate_actor_cv : Cross-validation that extracts once by default.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer, StandardScaler
    >>> from skemotion.model_selection import extract_stateless_head
    >>> pipe = make_pipeline(Normalizer(), StandardScaler(), LogisticRegression())
    >>> features, rest = extract_stateless_head(pipe, np.array([[3.0, 4.0], [1.0, 0.0]]))
    >>> features
    array([[0.6, 0.8],
           [1. , 0. ]])
    >>> [name for name, _ in rest.steps]
    ['standardscaler', 'logisticregression']
    """
    n_steps = _n_stateless_steps(estimator)
    if not n_steps:
        return X, estimator
    return _transform(estimator.steps[:n_steps], X, verbose=verbose), estimator[n_steps:]


def _transform(head: list[tuple[str, Any]], X: Any, *, verbose: int) -> Any:
    """``X`` through the stateless steps ``head``, checked to keep its rows."""
    if verbose >= 1:
        names = ", ".join(name for name, _ in head)
        print(f"Extracting features ({names}) of {_n_rows(X)} clips once ...", file=sys.stderr)
    features = X
    for name, step in head:
        # A clone: the caller's estimator stays as it was, unfitted. Transforming without
        # fit is what the tag promises; fit would only record input facts.
        features = clone(step).transform(features)
        try:
            check_consistent_length(*_columns(X), *_columns(features))
        except ValueError as exc:
            raise ValueError(
                f"The stateless step {name!r} changed the number of rows: {exc}"
            ) from exc
    return features


def _n_stateless_steps(estimator: Any) -> int:
    """How many leading steps of ``estimator`` learn nothing; 0 unless it is a Pipeline.

    The one rule of what extract-once may take out of the folds: scikit-learn's
    ``requires_fit=False`` tag, up to the first step without it, never the final step.
    """
    if not isinstance(estimator, Pipeline):
        return 0
    n_steps = 0
    for _, step in estimator.steps[:-1]:
        # "passthrough" and None have no tags; stopping there keeps the rule simple.
        if step is None or isinstance(step, str) or get_tags(step).requires_fit:
            break
        n_steps += 1
    return n_steps


def _extract_once(
    estimators: Sequence[Any], X: Any, extract_once: bool | str, *, verbose: int
) -> list[tuple[Any, Any, list[str]]]:
    """Per estimator: its features, the rest of it left to fit, and the steps run once.

    Estimators whose stateless steps are alike (a grid over the network's parameters)
    share one extraction.
    """
    if not (extract_once == "auto" or isinstance(extract_once, bool)):
        raise ValueError(f"extract_once must be 'auto', True or False, got {extract_once!r}.")
    if not extract_once:
        return [(X, estimator, []) for estimator in estimators]
    extracted: dict[str, Any] = {}
    outcome: list[tuple[Any, Any, list[str]]] = []
    for estimator in estimators:
        n_steps = _n_stateless_steps(estimator)
        if not n_steps:
            if extract_once is True:
                raise ValueError(
                    "extract_once=True, but the estimator has no stateless leading step (a "
                    "Pipeline step whose tags say requires_fit=False) before its final step."
                )
            outcome.append((X, estimator, []))
            continue
        head = estimator.steps[:n_steps]
        try:
            # Equal parameters pickle alike, so the hash finds a head already extracted.
            key = joblib.hash([clone(step) for _, step in head])
        except (pickle.PicklingError, TypeError, AttributeError):
            key = f"unhashable {id(estimator)}"  # e.g. a lambda parameter: not shared
        if key not in extracted:
            extracted[key] = _transform(head, X, verbose=verbose)
        names = [name for name, _ in head]
        outcome.append((extracted[key], estimator[n_steps:], names))
    return outcome


def _columns(X: Any) -> list[Any]:
    # The arrays whose rows are clips: each modality of a dict, else X itself.
    return list(X.values()) if isinstance(X, Mapping) else [X]


def _n_rows(X: Any) -> int:
    columns = _columns(X)
    return len(columns[0]) if columns else 0
