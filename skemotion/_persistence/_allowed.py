"""The allow-list: every class a model file may name, and nothing else, is rebuilt on load."""

from __future__ import annotations

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..utils._optional import import_optional

__all__ = ["allowed_classes", "pretrained_classes", "qualname"]


def allowed_classes() -> dict[str, type]:
    """Every class a model file may name: the estimators, then the plain parts.

    The estimators are discovered (:func:`~skemotion._discovery.all_estimators`), so a
    new public estimator can be saved as soon as it is exported. The other parts are
    listed here: they are parameter values (networks, callbacks, splitters, losses,
    optimizers), and which of them are safe to rebuild is this module's decision.
    """
    # Imported here: the estimators import the package top level, which imports this module.
    from sklearn.compose import make_column_selector
    from sklearn.model_selection import (
        GroupKFold,
        GroupShuffleSplit,
        KFold,
        LeaveOneGroupOut,
        PredefinedSplit,
        StratifiedGroupKFold,
        StratifiedKFold,
    )
    from skorch.dataset import Dataset
    from torch.utils.data import DataLoader

    from .._discovery import all_estimators
    from ..datasets import RavdessNeutralReference
    from ..embed import PretrainedTIMNet, UnfreezeBackbone
    from ..model_selection import ExcludeFromTest, RavdessActorFolds
    from ..nets import (
        ArrayBatchLoader,
        FusionTIMNet,
        GroupedValidSplit,
        RestoreBestCheckpoint,
        TIMNet,
    )

    classes: list[type] = [
        Pipeline,
        *(cls for _, cls in all_estimators()),
        PretrainedTIMNet,
        TIMNet,
        FusionTIMNet,
        LogisticRegression,
        StandardScaler,
        GroupedValidSplit,
        UnfreezeBackbone,
        RestoreBestCheckpoint,
        # The face features' reference_resolver: a plain parameter holder.
        RavdessNeutralReference,
        # Splitters, for LateFusionClassifier(cv=...); they are plain parameter holders.
        RavdessActorFolds,
        ExcludeFromTest,
        GroupKFold,
        StratifiedGroupKFold,
        LeaveOneGroupOut,
        GroupShuffleSplit,
        PredefinedSplit,
        KFold,
        StratifiedKFold,
        make_column_selector,
        ArrayBatchLoader,
        Dataset,
        DataLoader,
        torch.nn.CrossEntropyLoss,
        torch.nn.BCEWithLogitsLoss,
        torch.nn.NLLLoss,
        torch.optim.Adam,
        torch.optim.AdamW,
        torch.optim.SGD,
        torch.optim.RMSprop,
    ]
    return {qualname(cls): cls for cls in classes}


def qualname(cls: type) -> str:
    """The name a model file gives ``cls``: its module and qualified name."""
    return f"{cls.__module__}.{cls.__qualname__}"


def pretrained_classes() -> dict[str, type]:
    """transformers backbones stored by configuration and weights (no code, no pickle)."""
    from ..embed import BACKBONE_KINDS

    transformers = import_optional("transformers", extra="embed", needed_for="Pretrained embedders")
    classes = [getattr(transformers, name) for name, _ in BACKBONE_KINDS.values()]
    return {qualname(cls): cls for cls in classes}
