"""Deployment: fitted TIM-Net classifiers as TorchScript or ONNX graphs returning probabilities.

The exported graph is ``standardise -> TIM-Net (or fusion TIM-Net) -> probabilities``: it
takes the raw per-modality features (what the feature extractors output) and returns the
class probabilities that ``predict_proba`` of the fitted estimator returns. The feature
extraction itself (log-mel, landmarks, key-point distances) is not a tensor program and
stays in Python.

TIM-Net's fused CPU kernel is a custom :class:`torch.autograd.Function`, which neither
``torch.jit`` nor the ONNX exporters can record. The exported network is a copy of the
fitted one with every layer switched to the plain-autograd reference path
(``fused=False``): same parameters and buffers, the same arithmetic in inference, and
every export is checked against the estimator before it is written.

Modules: ``_plan`` (what an export holds), ``_graph`` (the exported module), ``_check``
(input arrays, examples, the check against the estimator), ``_metadata`` (the JSON entry),
``_predictor`` (:class:`ExportedClassifier`), ``_torchscript`` and ``_onnx`` (the two
formats).
"""

from ._metadata import METADATA_FILE
from ._onnx import export_onnx, load_onnx
from ._predictor import ExportedClassifier
from ._torchscript import export_torchscript, load_torchscript

__all__ = [
    "METADATA_FILE",
    "ExportedClassifier",
    "export_onnx",
    "export_torchscript",
    "load_onnx",
    "load_torchscript",
]
