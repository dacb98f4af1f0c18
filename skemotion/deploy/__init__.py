"""Deployment: fitted TIM-Net classifiers as TorchScript or ONNX graphs returning probabilities."""

from ._export import (
    METADATA_FILE,
    ExportedClassifier,
    export_onnx,
    export_torchscript,
    load_onnx,
    load_torchscript,
)

__all__ = [
    "METADATA_FILE",
    "ExportedClassifier",
    "export_onnx",
    "export_torchscript",
    "load_onnx",
    "load_torchscript",
]
