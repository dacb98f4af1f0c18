"""ModalityUnion: per-modality transformers over a table of clips, a dict of arrays out."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import TransformerMixin, _fit_context, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_memory
from skorch.helper import SliceDict

__all__ = ["ModalityUnion"]

_SPECIAL = ("drop", "passthrough")


def _select(X: Any, column: Any) -> Any:
    """The part of the clip table a modality's transformer sees."""
    if callable(column):
        return column(X)
    if hasattr(X, "iloc"):  # DataFrame: a name gives a Series, a list a DataFrame
        return X[list(column)] if isinstance(column, list | tuple) else X[column]
    if isinstance(X, Mapping):
        if isinstance(column, list | tuple):
            return {key: X[key] for key in column}
        return X[column]
    array = np.asarray(X)
    return array[:, column]


def _columns_named(column: Any) -> list[Any]:
    if callable(column):
        return []
    return list(column) if isinstance(column, list | tuple) else [column]


def _fit_transform_one(transformer: Any, X: Any, y: Any, name: str, verbose: int) -> Any:
    start = time.perf_counter()
    if get_tags(transformer).requires_fit:
        features = transformer.fit_transform(X, y)
    else:
        # Stateless extractors (log-mel, landmarks...) learn nothing; fit only records input
        # facts, so one transform pass is all the work.
        features = transformer.fit(X, y).transform(X)
    if verbose:
        print(f"[ModalityUnion] {name}: {time.perf_counter() - start:.1f} s")
    return transformer, np.asarray(features)


def _transform_one(transformer: Any, X: Any) -> np.ndarray:
    return np.asarray(transformer.transform(X))


class ModalityUnion(TransformerMixin, _BaseComposition):
    """Apply one transformer per modality to a table of clips; output a dict of arrays.

    The multimodal counterpart of :class:`~sklearn.compose.ColumnTransformer`: each
    ``(name, transformer, column)`` triple hands the columns it names (file paths and
    whatever metadata the transformer needs, such as the actor and statement of the
    neutral-reference calibration) to its transformer, and the outputs — arrays of
    different shapes, e.g. ``(n, 88, 24)`` log-mel and ``(n, 88, 780)`` key-point
    distances — are returned side by side as a :class:`~skorch.helper.SliceDict` keyed by
    ``name``. :class:`~skemotion.nets.FusionClassifier` takes that dict and passes each
    array to its module as the keyword argument of that name; scikit-learn's
    cross-validation can slice it by rows.

    Transformers see only the columns they are given, so the label column of the clip
    table cannot reach the features: naming one of ``label_columns`` is refused.

    Parameters
    ----------
    transformers : list of (str, transformer, column) tuples
        ``name`` is the modality (a Python identifier: it becomes a keyword argument of
        the network), ``transformer`` an estimator with ``fit``/``transform``,
        ``"passthrough"`` (the column already holds features) or ``"drop"`` (leave the
        modality out, e.g. to compare modality subsets in a grid search), ``column`` a
        column name (the transformer gets a Series), a list of names (a DataFrame), or a
        callable taking the table. Plain arrays are indexed by column position.
    n_jobs : int or None, default=None
        Modalities transformed in parallel through joblib (so a
        ``joblib.parallel_config(backend="dask")`` context distributes them).
    memory : str, joblib.Memory or None, default=None
        Cache each modality's fitted transformer and output, as
        :class:`~sklearn.pipeline.Pipeline` does; a grid search that changes only the
        network then extracts every feature once per training fold.
    label_columns : tuple of str, default=("emotion", "emotion_code")
        Columns that hold the target; a transformer given one raises ``ValueError``.
    verbose : int, default=0
        Print each modality's time.

    Attributes
    ----------
    transformers_ : list of (str, transformer, column) tuples
        The fitted transformers (``"passthrough"`` kept as is, dropped modalities
        left out).
    named_transformers_ : dict of str to transformer
    modalities_ : tuple of str
        Keys of the output, in order.
    n_features_in_ : int
        Columns of the clip table seen in fit.
    feature_names_in_ : ndarray of str
        Its column names, when it is a DataFrame.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> table = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0],
    ...                       "emotion": ["calm", "sad", "calm"]})
    >>> as_frames = FunctionTransformer(lambda s: np.asarray(s)[:, None, None])
    >>> union = ModalityUnion([("speech", as_frames, "a"), ("face", "passthrough", ["b"])])
    >>> out = union.fit_transform(table)
    >>> {name: array.shape for name, array in out.items()}
    {'speech': (3, 1, 1), 'face': (3, 1)}
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "transformers": [list],
        "n_jobs": [None, int],
        "memory": [None, str, HasMethods(["cache"])],
        "label_columns": [tuple, list],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        transformers: list[tuple[str, Any, Any]],
        *,
        n_jobs: int | None = None,
        memory: Any = None,
        label_columns: Sequence[str] = ("emotion", "emotion_code"),
        verbose: int = 0,
    ) -> None:
        self.transformers = transformers
        self.n_jobs = n_jobs
        self.memory = memory
        self.label_columns = label_columns
        self.verbose = verbose

    # -- nested parameters (modality__parameter), as ColumnTransformer ---------------------

    @property
    def _transformers(self) -> list[tuple[str, Any]]:
        try:
            return [(name, transformer) for name, transformer, _ in self.transformers]
        except (TypeError, ValueError):
            return self.transformers  # type: ignore[return-value]

    @_transformers.setter
    def _transformers(self, value: list[tuple[str, Any]]) -> None:
        try:
            self.transformers = [
                (name, transformer, column)
                for (name, transformer), (_, _, column) in zip(
                    value, self.transformers, strict=True
                )
            ]
        except (TypeError, ValueError):
            self.transformers = value  # type: ignore[assignment]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return self._get_params("_transformers", deep=deep)

    def set_params(self, **params: Any) -> ModalityUnion:
        self._set_params("_transformers", **params)
        return self

    # -- fitting ---------------------------------------------------------------------------

    def _check_transformers(self) -> list[tuple[str, Any, Any]]:
        triples = []
        for item in self.transformers:
            if not isinstance(item, tuple | list) or len(item) != 3:
                raise ValueError(
                    f"transformers must be (name, transformer, column) triples, got {item!r}."
                )
            name, transformer, column = item
            triples.append((name, transformer, column))
        names = [name for name, _, _ in triples]
        self._validate_names(names)
        bad = [name for name in names if not (isinstance(name, str) and name.isidentifier())]
        if bad:
            raise ValueError(
                f"Modality names must be Python identifiers (they become the network's "
                f"keyword arguments), got {bad}."
            )
        for name, transformer, column in triples:
            if isinstance(transformer, str):
                if transformer not in _SPECIAL:
                    raise ValueError(
                        f"Modality {name!r}: transformer must be an estimator, 'passthrough' "
                        f"or 'drop', got {transformer!r}."
                    )
            elif not (hasattr(transformer, "fit") and hasattr(transformer, "transform")):
                raise TypeError(
                    f"Modality {name!r}: {transformer!r} does not implement fit and transform."
                )
            leaked = [c for c in _columns_named(column) if c in tuple(self.label_columns)]
            if leaked:
                raise ValueError(
                    f"Modality {name!r} would see the label column(s) {leaked}; a transformer "
                    "given the target leaks it into the features. Name only paths and "
                    "metadata (e.g. 'path', 'actor', 'statement')."
                )
        if all(transformer == "drop" for _, transformer, _ in triples):
            raise ValueError("ModalityUnion has no modality left: every transformer is 'drop'.")
        return triples

    def _record_input(self, X: Any) -> None:
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            self.n_features_in_ = len(X.columns)
        elif isinstance(X, Mapping):
            # len() of a SliceDict counts rows, not keys.
            self.n_features_in_ = len(X.keys())
        else:
            shape = np.shape(X)
            self.n_features_in_ = int(shape[1]) if len(shape) > 1 else 1

    def fit(self, X: Any, y: Any = None) -> ModalityUnion:
        """Fit every modality's transformer on its columns of ``X``."""
        self.fit_transform(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X: Any, y: Any = None) -> SliceDict:
        """Fit every transformer and return the dict of per-modality features."""
        triples = self._check_transformers()
        self._record_input(X)
        active = [(n, t, c) for n, t, c in triples if not (isinstance(t, str) and t == "drop")]
        fit_one = check_memory(self.memory).cache(_fit_transform_one)
        jobs = [
            delayed(fit_one)(clone(transformer), _select(X, column), y, name, self.verbose)
            for name, transformer, column in active
            if not isinstance(transformer, str)
        ]
        fitted = iter(Parallel(n_jobs=self.n_jobs)(jobs))
        self.transformers_: list[tuple[str, Any, Any]] = []
        outputs: dict[str, np.ndarray] = {}
        for name, transformer, column in active:
            if isinstance(transformer, str):  # passthrough
                outputs[name] = np.asarray(_select(X, column))
                self.transformers_.append((name, transformer, column))
            else:
                fitted_transformer, outputs[name] = next(fitted)
                self.transformers_.append((name, fitted_transformer, column))
        self.modalities_ = tuple(outputs)
        return self._combine(outputs)

    def transform(self, X: Any) -> SliceDict:
        """The dict of per-modality features of the clips in ``X``.

        A union of stateless extractors (log-mel, key-point distances, ...) transforms
        without being fitted, as its transformers do.
        """
        if hasattr(self, "transformers_"):
            triples = self.transformers_
        elif not get_tags(self).requires_fit:
            triples = [
                (n, t, c)
                for n, t, c in self._check_transformers()
                if not (isinstance(t, str) and t == "drop")
            ]
        else:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )
        if hasattr(X, "columns"):
            needed = [c for _, _, column in triples for c in _columns_named(column)]
            missing = [c for c in needed if c not in X.columns]
            if missing:
                raise ValueError(
                    f"The clip table lacks the column(s) {missing} (columns: {list(X.columns)})."
                )
        jobs = [
            delayed(_transform_one)(transformer, _select(X, column))
            for _, transformer, column in triples
            if not isinstance(transformer, str)
        ]
        transformed = iter(Parallel(n_jobs=self.n_jobs)(jobs))
        outputs = {
            name: (
                np.asarray(_select(X, column))
                if isinstance(transformer, str)
                else next(transformed)
            )
            for name, transformer, column in triples
        }
        return self._combine(outputs)

    @staticmethod
    def _combine(outputs: dict[str, np.ndarray]) -> SliceDict:
        lengths = {name: len(array) for name, array in outputs.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Modalities produced different numbers of clips: {lengths}.")
        return SliceDict(**outputs)

    @property
    def named_transformers_(self) -> dict[str, Any]:
        """Fitted transformers by modality name."""
        return {name: transformer for name, transformer, _ in self.transformers_}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        try:
            transformers = [t for _, t, _ in self.transformers if not isinstance(t, str)]
            tags.requires_fit = any(get_tags(t).requires_fit for t in transformers)
        except (TypeError, ValueError, AttributeError):  # malformed: fit says what is wrong
            tags.requires_fit = True
        return tags
