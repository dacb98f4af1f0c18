"""Networks: TIM-Net as a torch module and as skorch / scikit-learn classifiers."""

from ._batchnorm import (
    PreciseBatchNorm,
    batchnorm_statistics,
    recompute_batchnorm_statistics,
    using_batchnorm_statistics,
)
from ._callbacks import GroupedValidSplit, RestoreBestCheckpoint
from ._classifier import PAPER_HYPERPARAMETERS, TIMNetBinaryClassifier, TIMNetClassifier
from ._functional import causal_conv_bn_relu, causal_conv_bn_relu_reference
from ._fusion import FusionClassifier, FusionTIMNet
from ._timnet import TemporalAwareBlock, TIMNet

__all__ = [
    "PAPER_HYPERPARAMETERS",
    "FusionClassifier",
    "FusionTIMNet",
    "GroupedValidSplit",
    "PreciseBatchNorm",
    "RestoreBestCheckpoint",
    "TIMNet",
    "TIMNetBinaryClassifier",
    "TIMNetClassifier",
    "TemporalAwareBlock",
    "batchnorm_statistics",
    "causal_conv_bn_relu",
    "causal_conv_bn_relu_reference",
    "recompute_batchnorm_statistics",
    "using_batchnorm_statistics",
]
