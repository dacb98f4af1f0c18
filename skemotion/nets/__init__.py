"""Networks: TIM-Net as a torch module and as skorch / scikit-learn classifiers."""

from ._batchnorm import (
    PreciseBatchNorm,
    batchnorm_statistics,
    recompute_batchnorm_statistics,
    using_batchnorm_statistics,
)
from ._callbacks import (
    LR_SCHEDULES,
    GroupedValidSplit,
    LearningRateSchedule,
    RestoreBestCheckpoint,
    lr_factor,
)
from ._classifier import TIMNetBinaryClassifier, TIMNetClassifier
from ._data import ArrayBatchLoader, SubjectBatchLoader
from ._functional import causal_conv_bn_relu, causal_conv_bn_relu_reference
from ._fusion import SINGLE_MODALITY, FusionClassifier, FusionTIMNet
from ._stacked import StackedTIMNet
from ._stacked_adam import StackedAdam
from ._stacked_fit import fit_stacked, stacking_unsupported_reason
from ._timnet import TemporalAwareBlock, TIMNet

__all__ = [
    "LR_SCHEDULES",
    "SINGLE_MODALITY",
    "ArrayBatchLoader",
    "FusionClassifier",
    "FusionTIMNet",
    "GroupedValidSplit",
    "LearningRateSchedule",
    "PreciseBatchNorm",
    "RestoreBestCheckpoint",
    "StackedAdam",
    "StackedTIMNet",
    "SubjectBatchLoader",
    "TIMNet",
    "TIMNetBinaryClassifier",
    "TIMNetClassifier",
    "TemporalAwareBlock",
    "batchnorm_statistics",
    "causal_conv_bn_relu",
    "causal_conv_bn_relu_reference",
    "fit_stacked",
    "lr_factor",
    "recompute_batchnorm_statistics",
    "stacking_unsupported_reason",
    "using_batchnorm_statistics",
]
