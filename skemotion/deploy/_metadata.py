"""The JSON entry stored beside an exported graph, and reading it back."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch

from .._version import __version__
from ..exceptions import NotASkemotionModelError
from ._plan import ExportPlan

__all__ = ["METADATA_FILE", "export_metadata", "read_metadata"]

METADATA_FILE = "skemotion.json"
"""Name of the JSON entry beside the graph: in a TorchScript archive's ``_extra_files``,
in an ONNX model's ``metadata_props``. It holds the class labels, the input names and
widths, the output kind and the pipeline steps that were folded in or left out."""

_FORMAT = "skemotion-exported-classifier"
_FORMAT_VERSION = 1


def export_metadata(plan: ExportPlan, *, backend: str) -> dict[str, Any]:
    """The :data:`METADATA_FILE` entry of an export of ``plan`` to ``backend``."""
    classes = np.asarray(plan.classifier.classes_).tolist()
    try:
        json.dumps(classes)
    except TypeError:
        raise ValueError(
            f"Cannot export class labels {classes!r}: only str, int, float and bool labels "
            "are stored."
        ) from None
    return {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "backend": backend,
        "skemotion_version": __version__,
        "torch_version": torch.__version__,
        "estimator": plan.estimator,
        "classes": classes,
        "inputs": [
            {"name": item.name, "modality": item.modality, "n_features": item.n_features}
            for item in plan.inputs
        ],
        "output": plan.output,
        "threshold": plan.threshold,
        "folded_steps": [name for name, _ in plan.folded_steps],
        "unexported_steps": plan.unexported_steps,
    }


def read_metadata(text: str | bytes, *, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The entry ``text`` read from ``path``, or the error saying it is not skemotion's."""
    try:
        metadata = json.loads(text) if text else None
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT:
        raise NotASkemotionModelError(
            f"{os.fspath(path)}: no {METADATA_FILE} entry of skemotion's export format; it was "
            "not written by skemotion.deploy."
        )
    if int(metadata.get("format_version", 0)) > _FORMAT_VERSION:
        raise NotASkemotionModelError(
            f"{os.fspath(path)}: export format version {metadata['format_version']} is newer "
            f"than this skemotion reads ({_FORMAT_VERSION}); upgrade skemotion."
        )
    return metadata
