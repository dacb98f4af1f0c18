"""TIM-Net as skorch classifiers: multiclass (Table 2) and one-vs-rest binary (Table 1)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from scipy import sparse
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring
from torch import nn
from torch.utils.data import Dataset

from ..paper import PAPER_HYPERPARAMETERS, classifier_parameters
from ..utils._frame_arrays import check_clip_frames
from ._batchnorm import PreciseBatchNorm
from ._callbacks import (
    LR_SCHEDULES,
    GroupedValidSplit,
    LearningRateSchedule,
    RestoreBestCheckpoint,
)
from ._data import ArrayBatchLoader, SubjectBatchLoader
from ._timnet import TIMNet

__all__ = [
    "TIMNetBinaryClassifier",
    "TIMNetClassifier",
]

_DEFAULT_KWARGS: dict[str, Any] = {
    "iterator_train": ArrayBatchLoader,
    "iterator_valid": ArrayBatchLoader,
    "optimizer__betas": (0.93, 0.98),
    "optimizer__eps": 1e-8,
    "iterator_train__shuffle": True,
    "module__filters": 64,
    "module__n_scales": 7,
    "module__n_layers": 3,
    "module__dropout": 0.1,
}


class TIMNetClassifier(NeuralNetClassifier):
    """TIM-Net emotion classifier with skorch's and scikit-learn's interfaces.

    Takes ``(n_clips, n_frames, n_features)`` float arrays, the output of skemotion's
    feature transformers (a 2-D ``(n_clips, n_features)`` array is read as one frame per
    clip), and any hashable class labels (emotion names, typically). Defaults are the
    paper's log-mel setup (Table 3): Adam with TIM-Net's betas (0.93, 0.98), learning
    rate 1e-3, batch 64, 100 epochs, 7 scales, 64 filters, 3 layers per block, label
    smoothing 0.1. :meth:`from_paper` gives the settings of the other features.

    Protocol safety:

    * no internal validation split by default (``train_split=None``); a split, when set,
      must be a :class:`GroupedValidSplit` fed by ``fit(X, y, groups=actors)`` so that no
      actor is on both sides;
    * the weights kept at the end of ``fit`` are those of the epoch with the lowest
      *training* loss (the paper's rule, ``checkpoint_monitor="train_loss"``), so nothing
      is ever chosen on held-out data.

    Parameters
    ----------
    module : type of torch.nn.Module, default=TIMNet
        Built through ``get_params_for("module")`` with ``n_features`` and ``n_classes``
        taken from the data unless given as ``module__n_features`` / ``module__n_classes``.
    criterion : type, default=torch.nn.CrossEntropyLoss
    optimizer : type, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=100
    batch_size : int, default=64
    label_smoothing : float, default=0.1
        Passed to the criterion (TIM-Net's reference training uses 0.1).
    train_split : GroupedValidSplit or None, default=None
    checkpoint_monitor : str or None, default="train_loss"
        History key whose lowest epoch is restored at the end of ``fit``; None keeps the
        last epoch.
    batchnorm_statistics : {"precise", "running"}, default="precise"
        Statistics the fitted network's batch-norm layers use at prediction time.
        ``"precise"`` recomputes them at the end of ``fit``, for the weights kept, over
        all the training data (one forward pass without dropout): right whatever the
        number of optimiser steps. ``"running"`` keeps the running averages updated
        with ``module__bn_momentum`` during training, as the Keras reference does; after
        a few hundred steps at the default momentum they are still mostly their initial
        values, which puts short runs and small corpora near chance.
    lr_schedule : {None, "onecycle", "cosine"}, default=None
        None keeps ``lr`` constant (the paper's setting). ``"onecycle"`` warms up to
        ``lr`` and anneals to nearly 0 over the whole fit, ``"cosine"`` anneals from
        ``lr`` to 0 (see :data:`~skemotion.nets.LR_SCHEDULES`); both reach a given
        training loss in fewer epochs and change the numbers, so they are an opt-in
        (``from_paper(..., lr_schedule="onecycle")``), never the reproduction's default.
        On real RAVDESS it did not pay: 40 epochs of ``"onecycle"`` gave 48 % against
        the paper schedule's 52 % at 40 and 59 % at 100 epochs (docs/results.md).
    batching : {"mixed", "subject"}, default="mixed"
        What a training batch holds. ``"mixed"`` (the paper's): clips drawn at random
        from all subjects. ``"subject"``: the clips of one subject only
        (:class:`~skemotion.nets.SubjectBatchLoader`; needs ``fit(X, y, groups=subjects)``),
        so batch normalisation trains on per-subject statistics, the ones a network
        calibrated per subject (:class:`~skemotion.compose.SubjectAdaptiveClassifier`)
        predicts with. It changes the numbers; it is meant for calibrated use.
    random_state : int or None, default=None
        Seeds weight initialisation, shuffling and dropout; the caller's global torch
        random state is left untouched.
    device : str, default="cpu"
    verbose : int, default=0
        1 prints skorch's per-epoch table.
    **kwargs
        Any skorch parameter, with the usual prefixes: ``module__filters``,
        ``module__n_scales``, ``module__n_layers``, ``optimizer__weight_decay``,
        ``callbacks__checkpoint__monitor``...

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Features per frame.
    module_ : TIMNet
    history_ : skorch.History
        Per-epoch losses; ``checkpoint`` marks the epochs whose weights were kept.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 16, 6)).astype("float32")
    >>> y = np.where(X[:, :, 0].mean(axis=1) > 0, "angry", "calm")
    >>> clf = TIMNetClassifier(max_epochs=5, module__filters=8, module__n_scales=3,
    ...                        random_state=0).fit(X, y)
    >>> clf.predict(X[:2]).shape
    (2,)
    """

    # The actors of the clips being fitted, for a GroupedValidSplit; set only during fit.
    _split_groups_: np.ndarray | None

    def __init__(
        self,
        module: type[nn.Module] = TIMNet,
        *,
        criterion: Any = nn.CrossEntropyLoss,
        optimizer: Any = torch.optim.Adam,
        lr: float = 1e-3,
        max_epochs: int = 100,
        batch_size: int = 64,
        label_smoothing: float = 0.1,
        train_split: GroupedValidSplit | None = None,
        checkpoint_monitor: str | None = "train_loss",
        batchnorm_statistics: str = "precise",
        lr_schedule: str | None = None,
        batching: str = "mixed",
        random_state: int | None = None,
        device: str = "cpu",
        verbose: int = 0,
        **kwargs: Any,
    ) -> None:
        for key, value in _DEFAULT_KWARGS.items():
            kwargs.setdefault(key, value)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.label_smoothing = label_smoothing
        self.checkpoint_monitor = checkpoint_monitor
        self.batchnorm_statistics = batchnorm_statistics
        self.lr_schedule = lr_schedule
        self.batching = batching
        self.random_state = random_state

    @classmethod
    def from_paper(
        cls, feature: str = "lms", task: str = "multiclass", **overrides: Any
    ) -> TIMNetClassifier:
        """A classifier with the paper's Table 3 settings for ``feature`` and ``task``.

        Examples
        --------
        >>> TIMNetClassifier.from_paper("kpd").lr
        0.0005
        """
        try:
            params = classifier_parameters(feature, task)
        except KeyError:
            known = sorted({f for f, _ in PAPER_HYPERPARAMETERS})
            raise ValueError(
                f"No paper settings for feature={feature!r}, task={task!r}; features: "
                f"{known}, tasks: 'multiclass', 'binary'."
            ) from None
        params.update(overrides)
        return cls(**params)

    # -- skorch hooks -------------------------------------------------------------------

    def _get_param_names(self) -> list[str]:
        # skorch counts every attribute not ending in "_" as a parameter, including its
        # private bookkeeping set (_params_to_validate), which __init__ rebuilds anyway.
        return [name for name in super()._get_param_names() if not name.startswith("_")]

    @property
    def _default_callbacks(self) -> list[tuple[str, Any]]:
        callbacks = [
            (name, callback) for name, callback in super()._default_callbacks if name != "valid_acc"
        ]
        # skorch's valid_acc compares predictions with the label-encoded targets it holds;
        # ours predicts the user's labels, so the targets are decoded first.
        callbacks.append(
            (
                "valid_acc",
                EpochScoring(
                    _decoded_accuracy,
                    name="valid_acc",
                    lower_is_better=False,
                    use_caching=True,
                ),
            )
        )
        if self.checkpoint_monitor is not None:
            callbacks.append(("checkpoint", RestoreBestCheckpoint(self.checkpoint_monitor)))
        if self.lr_schedule is not None:
            callbacks.append(("lr_schedule", LearningRateSchedule(self.lr_schedule)))
        if isinstance(self.batchnorm_statistics, str) and self.batchnorm_statistics == "precise":
            # After the checkpoint: the statistics must be those of the weights kept.
            callbacks.append(("precise_bn", PreciseBatchNorm()))
        return callbacks

    def _module_output_size(self) -> int:
        return len(self.classes_)

    def initialize_module(self) -> TIMNetClassifier:
        kwargs = self.get_params_for("module")
        kwargs.setdefault("n_features", self.n_features_in_)
        kwargs.setdefault("n_classes", self._module_output_size())
        module = self.initialized_instance(self.module, kwargs)
        self.module_ = module
        return self

    def initialize_criterion(self) -> TIMNetClassifier:
        kwargs = self.get_params_for("criterion")
        if self.criterion is nn.CrossEntropyLoss:
            kwargs.setdefault("label_smoothing", self.label_smoothing)
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def check_data(self, X: Any, y: Any) -> None:
        # y arrives label-encoded; skorch would infer classes 0..k-1 from it, but classes_
        # must stay the user's labels, which fit() set on the encoder.
        classes = self.label_encoder_.classes_
        super().check_data(X, y)
        self.classes_inferred_ = classes

    def get_iterator(self, dataset: Any, training: bool = False) -> Any:
        if not (training and self.batching == "subject"):
            return super().get_iterator(dataset, training=training)
        if getattr(self, "_split_groups_", None) is None:
            raise ValueError(
                "batching='subject' needs the subject of every clip: fit(X, y, groups=subjects)."
            )
        kwargs = self.get_params_for("iterator_train")
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        return SubjectBatchLoader(dataset, groups=self._split_groups_, **kwargs)

    def get_split_datasets(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        if self.train_split is None:
            return super().get_split_datasets(X, y, **fit_params)
        dataset = self.get_dataset(X, y)
        return self.train_split(dataset, y, groups=self._split_groups_)

    # -- scikit-learn API ---------------------------------------------------------------

    def _validate_X(self, X: Any, *, reset: bool) -> np.ndarray:
        if isinstance(X, Mapping) and not sparse.issparse(X):
            raise TypeError(
                f"{type(self).__name__} takes one feature array; use FusionClassifier for "
                "several modalities."
            )
        X = check_clip_frames(X, input_name="X", what=f"{type(self).__name__}'s X")
        n_features = X.shape[-1]
        if reset:
            self.n_features_in_ = n_features
        elif n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _encode_y(self, y: Any) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder()
        encoder.fit(self.classes if self.classes is not None else y)
        unknown = np.setdiff1d(np.unique(y), encoder.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels not in classes: {unknown.tolist()}.")
        self.label_encoder_ = encoder
        self.classes_inferred_ = encoder.classes_
        return encoder.transform(y).astype(np.int64)

    def fit(self, X: Any, y: Any, groups: Any = None, **fit_params: Any) -> TIMNetClassifier:
        """Train on ``X`` (n_clips, n_frames, n_features) and labels ``y``.

        ``groups`` (the actor of each clip) is used by a :class:`GroupedValidSplit` and,
        with ``batching="subject"``, to deal the training batches; it never reaches the
        network's input.
        """
        X, y_encoded = self._prepare_fit(X, y, groups)
        try:
            with self._seeded_random_state():
                super().fit(X, y_encoded, **fit_params)
        finally:
            self._split_groups_ = None
        return self

    def _prepare_fit(self, X: Any, y: Any, groups: Any) -> tuple[np.ndarray, np.ndarray]:
        """Checked ``X``, label-encoded ``y``; sets the label encoder and the split groups.

        Shared by :meth:`fit` and the stacked training of several classifiers
        (:func:`skemotion.nets.fit_stacked`), so that both see the same data.
        """
        if not (
            isinstance(self.batchnorm_statistics, str)
            and self.batchnorm_statistics in ("precise", "running")
        ):
            raise ValueError(
                "batchnorm_statistics must be 'precise' or 'running', got "
                f"{self.batchnorm_statistics!r}."
            )
        if self.batching not in ("mixed", "subject"):
            raise ValueError(f"batching must be 'mixed' or 'subject', got {self.batching!r}.")
        if self.batching == "subject" and groups is None:
            raise ValueError(
                "batching='subject' needs the subject of every clip: fit(X, y, groups=subjects)."
            )
        if self.lr_schedule is not None and self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {LR_SCHEDULES} or None, got {self.lr_schedule!r}."
            )
        X = self._validate_X(X, reset=True)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        y_encoded = self._encode_y(y)
        if len(y_encoded) != len(X):
            raise ValueError(f"X has {len(X)} clips but y has {len(y_encoded)} labels.")
        if self.train_split is not None:
            if not isinstance(self.train_split, GroupedValidSplit):
                raise ValueError(
                    "train_split must be None or a GroupedValidSplit: a split that ignores "
                    f"speakers puts the same actor on both sides (got {self.train_split!r})."
                )
            if groups is None:
                raise ValueError(
                    "train_split=GroupedValidSplit(...) needs fit(X, y, groups=actors)."
                )
        self._split_groups_ = None if groups is None else np.asarray(groups)
        return X, y_encoded

    @contextmanager
    def _seeded_random_state(self) -> Iterator[None]:
        """torch's global generator seeded with ``random_state``, restored on exit."""
        with torch.random.fork_rng(devices=[]):
            if self.random_state is not None:
                torch.manual_seed(self.random_state)
            yield

    def partial_fit(self, X: Any, y: Any = None, classes: Any = None, **fit_params: Any) -> Any:
        """Continue training on ``X``, ``y`` (labels must be among ``classes_``)."""
        if fit_params.get("_routing_method") == "fit":
            # skorch's fit() lands here with X and y already validated and encoded.
            return super().partial_fit(X, y, classes=classes, **fit_params)
        if not getattr(self, "initialized_", False) or not hasattr(self, "label_encoder_"):
            return self.fit(X, y, **fit_params)
        X = self._validate_X(X, reset=False)
        y_encoded = self.label_encoder_.transform(column_or_1d(y)).astype(np.int64)
        return super().partial_fit(X, y_encoded, classes=classes, **fit_params)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_clips, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, "module_")
        if not isinstance(X, Dataset):  # skorch's own scoring passes validated datasets
            X = self._validate_X(X, reset=False)
        return np.asarray(super().predict_proba(X), dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label of every clip."""
        proba = self.predict_proba(X)
        return np.asarray(self.classes_)[proba.argmax(axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.random_state is None
        return tags


class TIMNetBinaryClassifier(TIMNetClassifier):
    """One emotion against the rest, as in the paper's Table 1.

    A single logit trained with weighted binary cross-entropy: the positive class weighs
    ``n_negative / n_positive`` (``class_weight="balanced"``), which the paper uses against
    the 1:7 imbalance of one-vs-rest RAVDESS targets. Score it with macro F1
    (``scoring="f1_macro"``). ``y`` holds two labels; the positive one is ``pos_label``
    when given, else the larger of the two (``True`` for a boolean target, as scikit-learn
    orders classes).

    Parameters
    ----------
    pos_label : label or None, default=None
    class_weight : "balanced", dict or None, default="balanced"
        ``"balanced"``: positive weight ``n_negative / n_positive`` from the training
        labels; a ``{label: weight}`` dict: positive weight ``w[pos] / w[neg]``.
    threshold : float, default=0.5
        Probability above which ``predict`` answers the positive label.
    **kwargs
        As for :class:`TIMNetClassifier` (criterion is ``BCEWithLogitsLoss``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 16, 6)).astype("float32")
    >>> y = X[:, :, 0].mean(axis=1) > 0.2
    >>> clf = TIMNetBinaryClassifier(max_epochs=3, module__filters=8, module__n_scales=2)
    >>> clf.fit(X, y).predict_proba(X[:3]).shape
    (3, 2)
    """

    def __init__(
        self,
        module: type[nn.Module] = TIMNet,
        *,
        criterion: Any = nn.BCEWithLogitsLoss,
        pos_label: Any = None,
        class_weight: str | Mapping[Any, float] | None = "balanced",
        threshold: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(module, criterion=criterion, **kwargs)
        self.pos_label = pos_label
        self.class_weight = class_weight
        self.threshold = threshold

    def _module_output_size(self) -> int:
        return 1

    def _encode_y(self, y: Any) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        labels = np.unique(y) if self.classes is None else np.asarray(self.classes)
        target_type = type_of_target(y, input_name="y")
        if target_type != "binary" or len(labels) != 2:
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"{target_type}, with {len(labels)} class(es): {labels.tolist()}; build a "
                "one-vs-rest target such as y == 'happy', or use TIMNetClassifier."
            )
        if self.pos_label is not None and self.pos_label not in labels:
            raise ValueError(f"pos_label={self.pos_label!r} is not one of {labels.tolist()}.")
        positive = labels[1] if self.pos_label is None else self.pos_label
        negative = labels[0] if positive == labels[1] else labels[1]
        encoder = LabelEncoder()
        encoder.classes_ = np.array([negative, positive])
        self.label_encoder_ = encoder
        self.classes_inferred_ = encoder.classes_
        encoded = (y == positive).astype(np.int64)
        n_positive = int(encoded.sum())
        if isinstance(self.class_weight, Mapping):
            self.pos_weight_ = float(self.class_weight[positive]) / float(
                self.class_weight[negative]
            )
        elif self.class_weight == "balanced":
            if n_positive == 0:
                raise ValueError("class_weight='balanced' needs at least one positive clip.")
            self.pos_weight_ = (len(encoded) - n_positive) / n_positive
        elif self.class_weight is None:
            self.pos_weight_ = 1.0
        else:
            raise ValueError(
                "class_weight must be 'balanced', None or a {label: weight} dict, got "
                f"{self.class_weight!r}."
            )
        return encoded

    def initialize_criterion(self) -> TIMNetBinaryClassifier:
        kwargs = self.get_params_for("criterion")
        if self.criterion is nn.BCEWithLogitsLoss:
            kwargs.setdefault("pos_weight", torch.tensor([self.pos_weight_]))
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def get_loss(self, y_pred: Any, y_true: Any, *args: Any, **kwargs: Any) -> Any:
        # Index the single logit rather than squeeze(): squeeze() would also drop the batch
        # axis for a batch of one clip.
        return self.criterion_(y_pred[:, 0], y_true.to(y_pred.dtype))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of the negative and positive label, shape (n_clips, 2)."""
        # skorch turns the single logit into (1 - p, p) but keeps the logit axis.
        return super().predict_proba(X)[:, :, 0]

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return np.asarray(self.classes_)[(proba[:, 1] > self.threshold).astype(int)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_class = False
        return tags


def _decoded_accuracy(net: TIMNetClassifier, X: Any, y: Any) -> float:
    """Accuracy of ``net`` on a skorch dataset whose targets are label-encoded."""
    y_true = np.asarray(net.classes_)[np.asarray(y, dtype=np.int64)]
    return float(np.mean(net.predict(X) == y_true))
