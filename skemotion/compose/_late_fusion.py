"""Late fusion: one classifier per modality, their posteriors combined (Luna-Jiménez et al.)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, check_cv
from sklearn.utils import Bunch, _safe_indexing, get_tags
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _num_samples,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)
from tqdm.auto import tqdm

from .._parallel import streaming_return_as
from ..model_selection import fuse_posteriors
from ..utils._groups import check_group_splits, groups_fit_params

__all__ = ["LateFusionClassifier"]

PROBA_EPSILON = 1e-7
"""Floor of every posterior before its logarithm is taken.

A class absent from an inner fold's training rows gets probability 0 from that fold's model;
its log would be ``-inf``. Clipped, it becomes ``log(1e-7) ≈ -16``: "impossible" for that
modality, yet finite, so a stacked final estimator can still learn from it and the product
rule leaves the other modalities a say.
"""

_GROUPS_NEEDED = (
    "LateFusionClassifier(fusion='stacking') fits its modality models in an inner "
    "cross-validation, which must be grouped by actor: otherwise the same speaker is on both "
    "sides of an inner split and the out-of-fold posteriors, hence the fusion weights, are "
    "overconfident (speaker leakage). Pass the actor of each clip: fit(X, y, groups=actors). "
    "Inside scikit-learn's cross-validation, either hand them to fit as well, "
    "cross_val_score(clf, X, y, groups=actors, cv=GroupKFold(5), params={'groups': actors}), "
    "or with metadata routing (sklearn.set_config(enable_metadata_routing=True)) call "
    "clf.set_fit_request(groups=True) and cross_validate(clf, X, y, cv=GroupKFold(5), "
    "params={'groups': actors}); skemotion.model_selection.evaluate_actor_cv does it for "
    "you. An explicit splitter (cv=GroupKFold(5), cv=StratifiedKFold(5), ...) is used as is, "
    "at your own risk."
)


def _default_final_estimator() -> LogisticRegression:
    return LogisticRegression(C=1.0, max_iter=1000)


def _align_proba(proba: np.ndarray, model_classes: Any, classes: np.ndarray) -> np.ndarray:
    """Reorder the columns of ``proba`` (one per ``model_classes``) to ``classes``.

    A class of ``classes`` that the model never saw (absent from its training rows) gets a
    column of zeros.
    """
    column = {label: i for i, label in enumerate(classes.tolist())}
    model_classes = np.asarray(model_classes).tolist()
    unknown = [label for label in model_classes if label not in column]
    if unknown:
        raise ValueError(
            f"A modality model predicts classes {unknown} that are not in y "
            f"(classes {classes.tolist()}); its posteriors cannot be fused."
        )
    proba = np.asarray(proba, dtype=float)
    if proba.shape != (proba.shape[0], len(model_classes)):
        raise ValueError(
            f"predict_proba returned shape {proba.shape} for {len(model_classes)} classes."
        )
    aligned = np.zeros((proba.shape[0], len(classes)))
    aligned[:, [column[label] for label in model_classes]] = proba
    return aligned


def _sliceable(values: Any) -> Any:
    """``values`` in a form whose rows :func:`~sklearn.utils._safe_indexing` can select."""
    if sparse.issparse(values):
        # coo, dia, bsr and dok matrices cannot be indexed by rows.
        return values if values.format in ("csr", "csc") else values.tocsr()
    if hasattr(values, "__array__") and not hasattr(values, "shape"):
        # An object that only converts to an array would be sliced as a list, and fail.
        return np.asarray(values)
    return values


def _fit_one(
    estimator: Any,
    X: Any,
    y: np.ndarray,
    groups: np.ndarray | None,
    train: np.ndarray | None,
    test: np.ndarray | None,
    classes: np.ndarray,
) -> tuple[Any, np.ndarray | None]:
    """Fit a clone on the ``train`` rows (all when None); posteriors of ``test`` if given."""
    model = clone(estimator)
    if train is None:
        X_train, y_train, groups_train = X, y, groups
    else:
        X_train, y_train = _safe_indexing(X, train), y[train]
        groups_train = None if groups is None else groups[train]
    model.fit(X_train, y_train, **groups_fit_params(model, groups_train))
    if test is None:
        return model, None
    proba = model.predict_proba(_safe_indexing(X, test))
    return model, _align_proba(proba, model.classes_, classes)


class LateFusionClassifier(ClassifierMixin, _BaseComposition):
    """One classifier per modality, their posteriors fused into a decision.

    The late-fusion baseline of Luna-Jiménez et al. (2022), the paper's 86.70 % reference:
    each modality (speech, face, ...) has its own model, fitted on its own features; only
    their class posteriors meet. Three fusion rules:

    * ``"stacking"`` (default): the out-of-fold posteriors of every modality, from an inner
      cross-validation *grouped by actor*, become the features (log-probabilities,
      ``n_modalities * n_classes`` columns) of ``final_estimator``, which learns how far to
      trust each modality for each class. The modality models used at prediction time are
      refitted on all training rows.
    * ``"product"``: the product rule, :math:`P(c) \\propto \\prod_m P_m(c)^{w_m}` (a sum of
      log-posteriors, then a softmax); no inner cross-validation, nothing more to learn.
    * ``"mean"``: the weighted mean of the posteriors, :math:`\\sum_m w_m P_m(c) / \\sum_m w_m`.

    Parameters
    ----------
    estimators : list of (str, estimator)
        One ``(modality, classifier)`` per modality. Each classifier, which must have
        ``predict_proba``, is fitted on ``X[modality]``. Names must be unique, must not
        contain ``"__"`` and must not be a parameter of this class. Nested parameters are
        reachable as ``<modality>__<parameter>`` (``speech__timnet__lr``), for
        :class:`~sklearn.model_selection.GridSearchCV`.
    fusion : {"stacking", "product", "mean"}, default="stacking"
        How the posteriors are combined; see above.
    final_estimator : classifier, default=None
        Stacking only: trained on the log-posteriors. ``None`` means
        ``LogisticRegression(C=1.0, max_iter=1000)``: multinomial, L2-penalised, lbfgs
        solver, with enough iterations to converge on unscaled log-probabilities.
    weights : array-like of shape (n_modalities,), default=None
        Product and mean rules only: non-negative weight of each modality, in
        ``estimators`` order; ``None`` weighs them equally. Stacking learns its own weights
        and refuses this.
    cv : int, cross-validator or iterable of (train, test) splits, default=5
        Stacking only: the inner cross-validation that produces the out-of-fold posteriors.
        An int ``k`` means ``GroupKFold(k)`` over the ``groups`` (actors) given to
        :meth:`fit`, and fitting without them raises a ``ValueError``, because an inner
        split that shares a speaker between its sides leaks. A splitter object is used as
        is: making it speaker-independent is then your responsibility (scikit-learn's
        estimator checks pass ``StratifiedKFold``, having no actors). Whenever ``groups``
        are given, every inner split is checked for shared actors. The test sets must
        partition the rows, so every row gets exactly one out-of-fold posterior.
    n_jobs : int, default=None
        Models fitted in parallel with joblib (every inner fold and every refit of every
        modality); ``None`` means 1, ``-1`` all cores.
    verbose : int, default=0
        ``0`` is silent, ``1`` shows a progress bar over the model fits.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted labels seen in ``fit``; the columns of :meth:`predict_proba`.
    modalities_ : list of str
        The modality names, in ``estimators`` order.
    estimators_ : list of estimator
        Each modality's model refitted on all training rows, in ``estimators`` order.
    named_estimators_ : Bunch
        The same models by modality name.
    final_estimator_ : estimator or None
        The fitted ``final_estimator`` (stacking); ``None`` for the product and mean rules.
    weights_ : ndarray of shape (n_modalities,)
        The weights used by the product and mean rules (all ones when ``weights=None``).
    oof_proba_ : dict of str to ndarray of shape (n_samples, n_classes) or None
        Stacking: each modality's out-of-fold posteriors on the training rows (columns in
        ``classes_`` order), the final estimator's training data; ``None`` otherwise.
    n_features_in_ : int
        Only when ``X`` was given as a single array (see :meth:`fit`): that of its model.

    See Also
    --------
    sklearn.ensemble.StackingClassifier : Stacking of models that all see the same ``X``.
    skemotion.model_selection.evaluate_actor_cv : Hands the training actors to :meth:`fit`.

    Notes
    -----
    ``X`` is a mapping from modality name to that modality's features, one row per clip:
    a ``dict`` or skorch's :class:`~skorch.helper.SliceDict` (which scikit-learn's
    cross-validation can slice), e.g. ``{"speech": (n, 88, 24), "face": (n, 88, 780)}``.
    Keys that no estimator names are ignored. A plain array is accepted when there is a
    single estimator: it is that modality's input.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skemotion.compose._late_fusion import LateFusionClassifier
    >>> rng = np.random.default_rng(0)
    >>> actors = np.repeat(np.arange(8), 12)
    >>> y = np.tile(["angry", "calm", "happy", "sad"], 24)
    >>> X = {
    ...     "speech": rng.normal(size=(96, 3)) + np.isin(y, ["angry", "happy"])[:, None],
    ...     "face": rng.normal(size=(96, 3)) + np.isin(y, ["angry", "calm"])[:, None],
    ... }
    >>> clf = LateFusionClassifier(
    ...     [("speech", LogisticRegression()), ("face", LogisticRegression())], cv=4
    ... ).fit(X, y, groups=actors)
    >>> clf.modalities_, clf.classes_.tolist()
    (['speech', 'face'], ['angry', 'calm', 'happy', 'sad'])
    >>> clf.predict_proba(X).shape
    (96, 4)
    >>> clf.oof_proba_["speech"].shape
    (96, 4)
    >>> product = clf.set_params(fusion="product").fit(X, y)  # no inner CV: groups optional
    >>> product.predict(X).shape, product.final_estimator_ is None
    ((96,), True)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "estimators": [list],
        "fusion": [StrOptions({"stacking", "product", "mean"})],
        "final_estimator": [None, HasMethods(["fit", "predict_proba"])],
        "weights": ["array-like", None],
        "cv": ["cv_object"],
        "n_jobs": [numbers.Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimators: list[tuple[str, Any]],
        *,
        fusion: str = "stacking",
        final_estimator: Any = None,
        weights: Any = None,
        cv: Any = 5,
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.estimators = estimators
        self.fusion = fusion
        self.final_estimator = final_estimator
        self.weights = weights
        self.cv = cv
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- parameters ----------------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator and, with ``deep``, of every modality's model.

        Parameters
        ----------
        deep : bool, default=True
            Also return each modality's model under its name and that model's parameters
            as ``<modality>__<parameter>``.

        Returns
        -------
        params : dict
        """
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params: Any) -> LateFusionClassifier:
        """Set parameters, nested ones included (``speech__C``, ``face__timnet__lr``).

        A modality's model can be replaced whole by its name (``speech=LogisticRegression()``).

        Parameters
        ----------
        **params
            Estimator parameters.

        Returns
        -------
        self : LateFusionClassifier
        """
        self._set_params("estimators", **params)
        return self

    @property
    def named_estimators(self) -> Bunch:
        """The unfitted modality models by name."""
        return Bunch(**dict(self.estimators))

    # -- fitting -------------------------------------------------------------------------

    def fit(self, X: Any, y: Any, groups: Any = None) -> LateFusionClassifier:
        """Fit every modality's model, then the fusion.

        Parameters
        ----------
        X : mapping of str to array-like, or array-like
            Per-modality inputs with ``n_samples`` rows each (see Notes of the class); a
            plain array when there is a single estimator.
        y : array-like of shape (n_samples,)
            Labels.
        groups : array-like of shape (n_samples,), default=None
            Actor of each clip. Splits the inner cross-validation (stacking with an int
            ``cv``, where it is required), checks every inner split for shared actors, and
            is handed on to each modality model whose ``fit`` takes ``groups`` (as in
            :func:`~skemotion.model_selection.evaluate_actor_cv`).

        Returns
        -------
        self : LateFusionClassifier
        """
        self._validate_params()
        names, estimators = self._check_estimators()
        inputs, n_samples = self._modality_inputs(X, names)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        check_consistent_length(np.empty(n_samples), y)
        if groups is not None:
            groups = np.asarray(groups)
            check_consistent_length(y, groups)
        self.classes_ = np.unique(y)
        weights = self._check_weights(len(names))

        splits = self._inner_splits(n_samples, y, groups) if self.fusion == "stacking" else []
        # One task per (modality, inner fold), then one refit on all rows per modality.
        tasks: list[tuple[int, np.ndarray | None, np.ndarray | None]] = [
            (m, train, test) for m in range(len(names)) for train, test in splits
        ]
        tasks += [(m, None, None) for m in range(len(names))]
        parallel = Parallel(n_jobs=self.n_jobs, return_as=streaming_return_as())
        results = parallel(
            delayed(_fit_one)(estimators[m], inputs[m], y, groups, train, test, self.classes_)
            for m, train, test in tasks
        )
        progress = tqdm(
            results, total=len(tasks), desc="late fusion fits", disable=self.verbose < 1
        )
        oof = [np.zeros((n_samples, len(self.classes_))) for _ in names]
        refitted: list[Any] = [None] * len(names)
        for (m, _, test), (model, proba) in zip(tasks, progress, strict=True):
            if test is None:
                refitted[m] = model
            else:
                oof[m][test] = proba

        self.modalities_ = list(names)
        self.estimators_ = refitted
        self.named_estimators_ = Bunch(**dict(zip(names, refitted, strict=True)))
        self.weights_ = weights
        if self.fusion == "stacking":
            self.oof_proba_: dict[str, np.ndarray] | None = dict(zip(names, oof, strict=True))
            final = (
                _default_final_estimator()
                if self.final_estimator is None
                else clone(self.final_estimator)
            )
            self.final_estimator_: Any = final.fit(self._stack(oof), y)
        else:
            self.oof_proba_ = None
            self.final_estimator_ = None
        if not isinstance(X, Mapping) and hasattr(refitted[0], "n_features_in_"):
            self.n_features_in_ = refitted[0].n_features_in_
        return self

    def _check_estimators(self) -> tuple[list[str], list[Any]]:
        if not self.estimators:
            raise ValueError("estimators must be a non-empty list of (modality, classifier).")
        try:
            names, estimators = zip(*self.estimators, strict=True)
        except (TypeError, ValueError):
            raise ValueError(
                f"estimators must be a list of (modality, classifier) pairs; got "
                f"{self.estimators!r}."
            ) from None
        self._validate_names(names)
        for name, estimator in zip(names, estimators, strict=True):
            if not hasattr(estimator, "fit") or not hasattr(estimator, "predict_proba"):
                raise TypeError(
                    f"The model of modality {name!r} must have fit and predict_proba (late "
                    f"fusion combines posteriors); got {estimator!r}."
                )
        return list(names), list(estimators)

    def _check_weights(self, n_modalities: int) -> np.ndarray:
        if self.weights is None:
            return np.ones(n_modalities)
        if self.fusion == "stacking":
            raise ValueError(
                "weights apply to fusion='product' or 'mean'; stacking learns the weight of "
                "each modality with final_estimator. Set weights=None."
            )
        weights = np.asarray(self.weights, dtype=float)
        if weights.shape != (n_modalities,):
            raise ValueError(
                f"weights must have one entry per estimator ({n_modalities}); got shape "
                f"{weights.shape}."
            )
        if np.any(weights < 0) or not np.all(np.isfinite(weights)) or weights.sum() == 0:
            raise ValueError(f"weights must be finite, non-negative, not all 0; got {weights}.")
        return weights

    def _modality_inputs(self, X: Any, names: list[str]) -> tuple[list[Any], int]:
        """Each modality's input, in ``names`` order, and the number of rows."""
        # scipy's dok sparse format is a dict subclass, yet one array.
        if isinstance(X, Mapping) and not sparse.issparse(X):
            missing = [name for name in names if name not in X]
            if missing:
                raise ValueError(
                    f"X has no modality {missing[0]!r} (named in estimators); its keys are "
                    f"{sorted(map(str, X.keys()))}."
                )
            inputs = [X[name] for name in names]
        elif len(names) == 1:
            inputs = [X]
        else:
            raise TypeError(
                f"X must be a mapping from modality name to features (a dict or skorch's "
                f"SliceDict) with keys {names}; got {type(X).__name__}. A plain array is "
                "only accepted with a single estimator."
            )
        inputs = [_sliceable(values) for values in inputs]
        n_samples = _num_samples(inputs[0])
        for name, values in zip(names[1:], inputs[1:], strict=True):
            if _num_samples(values) != n_samples:
                raise ValueError(
                    f"Every modality must have the same number of rows: {names[0]!r} has "
                    f"{n_samples}, {name!r} has {_num_samples(values)}."
                )
        return inputs, n_samples

    def _inner_splits(
        self, n_samples: int, y: np.ndarray, groups: np.ndarray | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        if isinstance(self.cv, numbers.Integral):
            if groups is None:
                raise ValueError(_GROUPS_NEEDED)
            # check_cv would turn an int into StratifiedKFold, which ignores actors.
            cv: Any = GroupKFold(n_splits=int(self.cv))
        else:
            cv = check_cv(self.cv, y, classifier=True)
        # Splitters only count the rows of X; the modalities may be 3-D or not arrays at all.
        rows = np.zeros((n_samples, 1))
        return check_group_splits(cv, rows, y, groups, expected=np.arange(n_samples), inner=True)

    # -- prediction ----------------------------------------------------------------------

    @staticmethod
    def _stack(probas: list[np.ndarray]) -> np.ndarray:
        return np.hstack([np.log(np.clip(proba, PROBA_EPSILON, 1.0)) for proba in probas])

    def _modality_probas(self, X: Any) -> list[np.ndarray]:
        check_is_fitted(self, "estimators_")
        inputs, _ = self._modality_inputs(X, self.modalities_)
        return [
            _align_proba(model.predict_proba(values), model.classes_, self.classes_)
            for model, values in zip(self.estimators_, inputs, strict=True)
        ]

    def _fuse(self, probas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Fused posteriors and their logarithms, from each modality's posteriors."""
        if self.fusion == "stacking":
            final = self.final_estimator_
            fused = _align_proba(
                final.predict_proba(self._stack(probas)), final.classes_, self.classes_
            )
            with np.errstate(divide="ignore"):
                return fused, np.log(fused)
        return fuse_posteriors(
            probas, rule=self.fusion, weights=self.weights_, epsilon=PROBA_EPSILON
        )

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : mapping of str to array-like, or array-like
            As in :meth:`fit`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns in :attr:`classes_` order.
        """
        return self._fuse(self._modality_probas(X))[1]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Fused posteriors.

        Parameters
        ----------
        X : mapping of str to array-like, or array-like
            As in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in :attr:`classes_` order; rows sum to one.
        """
        return self._fuse(self._modality_probas(X))[0]

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class of each clip under the fused posteriors.

        Parameters
        ----------
        X : mapping of str to array-like, or array-like
            As in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # A mapping of modality inputs; what each input may hold is up to its model.
        tags.input_tags.dict = True
        try:
            models = [estimator for _, estimator in self.estimators]
            child_tags = [get_tags(model) for model in models]
        except (TypeError, ValueError):  # malformed estimators: fit will say what is wrong
            return tags
        tags.input_tags.sparse = all(t.input_tags.sparse for t in child_tags)
        tags.input_tags.allow_nan = all(t.input_tags.allow_nan for t in child_tags)
        return tags
