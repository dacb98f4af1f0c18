"""ONNX export and loading (onnx and onnxruntime, the ``deploy`` extra)."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils._optional import import_optional
from ._check import (
    EXAMPLE_FRAMES,
    check_against_estimator,
    random_example,
    tensors,
    trace_examples,
)
from ._graph import build_graph
from ._metadata import METADATA_FILE, export_metadata, read_metadata
from ._plan import plan_export
from ._predictor import ExportedClassifier

__all__ = ["export_onnx", "load_onnx"]


def export_onnx(
    model: Any,
    path: str | os.PathLike[str],
    *,
    example: Any = None,
    subject: Any = None,
    dynamo: bool = True,
    opset_version: int | None = None,
) -> ExportedClassifier:
    """Write a fitted TIM-Net classifier as an ONNX model returning probabilities.

    The same graph as :func:`export_torchscript` (standardisation folded in for a
    Pipeline, fused layers on the reference path), with named inputs (the
    ``input_names_`` of the result, e.g. ``"lms"``, ``"kpd"``, or ``"x"`` for a
    single-input classifier), a dynamic batch axis and a dynamic frame axis per input,
    and one output ``"proba"``. The metadata (classes, inputs, folded steps) is the
    model's ``metadata_props`` entry :data:`METADATA_FILE`. Before writing, onnxruntime
    runs the model on the example and two other shapes and its output is compared with
    the estimator's ``predict_proba``; a difference above 1e-5 raises.

    Parameters
    ----------
    model : TIMNetClassifier, TIMNetBinaryClassifier, FusionClassifier or Pipeline
        Fitted; a Pipeline must end in one of the classifiers.
    path : str or path-like
        Output file (``.onnx``); the weights are stored inside it.
    example : array-like or mapping of str to array-like, optional
        Features to check with (and to export with, when they have at least 2 clips and
        2 frames); None draws random ones.
    subject : hashable, optional
        The person a per-subject calibrated pipeline is exported for, as for
        :func:`export_torchscript`.
    dynamo : bool, default=True
        torch's default ``torch.export``-based exporter (needs ``onnxscript``; tens of
        seconds per model). False uses the older TorchScript-based exporter, which is
        much faster but deprecated by PyTorch.
    opset_version : int or None, default=None
        ONNX opset; None is the exporter's default.

    Returns
    -------
    ExportedClassifier
        The written file, loaded back with onnxruntime (as :func:`load_onnx` would).

    Raises
    ------
    ImportError
        onnx or onnxruntime is not installed.
    sklearn.exceptions.NotFittedError, TypeError, ValueError, RuntimeError
        As for :func:`export_torchscript`.

    See Also
    --------
    load_onnx : Load the file as a predictor.

    Examples
    --------
    >>> exported = export_onnx(pipeline, "fusion.onnx")  # doctest: +SKIP
    >>> exported.input_names_  # doctest: +SKIP
    ('lms', 'kpd')
    """
    onnx = import_optional("onnx", extra="deploy", needed_for="ONNX export")
    onnxruntime = import_optional("onnxruntime", extra="deploy", needed_for="ONNX export")
    plan = plan_export(model, caller="export_onnx", subject=subject)
    graph = build_graph(plan)
    examples = trace_examples(plan, example)
    names = [item.name for item in plan.inputs]
    first = examples[0]
    if min(len(first[0]), *(array.shape[1] for array in first)) < 2:
        # torch.export fixes an axis whose example size is 1; export on a larger one.
        first = random_example(plan, n_clips=2, n_frames=EXAMPLE_FRAMES, seed=0)
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
        raw = Path(tmp) / "model.onnx"
        options: dict[str, Any]
        if dynamo:
            batch = torch.export.Dim("batch")
            shapes = tuple({0: batch, 1: torch.export.Dim(f"{name}_frames")} for name in names)
            options = {"dynamic_shapes": (shapes,), "external_data": False, "verbose": False}
        else:
            axes = {name: {0: "batch", 1: f"{name}_frames"} for name in names}
            options = {"dynamic_axes": {**axes, "proba": {0: "batch"}}}
            # One warning per causal layer that a strided slice is not constant-folded:
            # noise, the graph is correct (and checked below).
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            graph,
            tensors(first),
            raw,
            input_names=names,
            output_names=["proba"],
            opset_version=opset_version,
            dynamo=dynamo,
            **options,
        )
        proto = onnx.load(raw)
    metadata = export_metadata(plan, backend="onnx")
    onnx.helper.set_model_props(proto, {METADATA_FILE: json.dumps(metadata)})
    content = proto.SerializeToString()
    session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
    check_against_estimator(plan, _runner(session, names), examples, what="ONNX")
    Path(path).write_bytes(content)
    return load_onnx(path)


def load_onnx(
    path: str | os.PathLike[str], *, providers: Sequence[str] = ("CPUExecutionProvider",)
) -> ExportedClassifier:
    """Load a file written by :func:`export_onnx` as a predictor (onnxruntime).

    Parameters
    ----------
    path : str or path-like
    providers : sequence of str, default=("CPUExecutionProvider",)
        onnxruntime execution providers, in order of preference.

    Returns
    -------
    ExportedClassifier

    Raises
    ------
    NotASkemotionModelError
        The file is an ONNX model without skemotion's metadata.

    Examples
    --------
    >>> exported = load_onnx("fusion.onnx")  # doctest: +SKIP
    >>> exported.predict({"lms": lms, "kpd": kpd})  # doctest: +SKIP
    array(['happy'], dtype='<U9')
    """
    onnxruntime = import_optional("onnxruntime", extra="deploy", needed_for="Loading an ONNX model")
    session = onnxruntime.InferenceSession(os.fspath(path), providers=list(providers))
    properties = session.get_modelmeta().custom_metadata_map
    metadata = read_metadata(properties.get(METADATA_FILE, ""), path=path)
    names = [str(item["name"]) for item in metadata["inputs"]]
    return ExportedClassifier(_runner(session, names), metadata, path=path, module=session)


def _runner(session: Any, names: Sequence[str]) -> Callable[[list[np.ndarray]], np.ndarray]:
    """The session as a function of arrays, one per input name, in order."""

    def run(arrays: list[np.ndarray]) -> np.ndarray:
        return session.run(["proba"], dict(zip(names, arrays, strict=True)))[0]

    return run
