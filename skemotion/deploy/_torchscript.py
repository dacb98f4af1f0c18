"""TorchScript export and loading."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ._check import check_against_estimator, tensors, trace_examples
from ._graph import build_graph
from ._metadata import METADATA_FILE, export_metadata, read_metadata
from ._plan import plan_export
from ._predictor import ExportedClassifier

__all__ = ["export_torchscript", "load_torchscript"]


def export_torchscript(
    model: Any, path: str | os.PathLike[str], *, example: Any = None, subject: Any = None
) -> ExportedClassifier:
    """Write a fitted TIM-Net classifier as a TorchScript file returning probabilities.

    The graph takes one float32 tensor ``(batch, frames, features)`` per input, positionally
    in the order of ``inputs`` in the metadata (a classifier's modalities), and returns
    ``(batch, n_classes)`` probabilities in ``classes_`` order: a softmax, or ``(1 - p, p)``
    for :class:`~skemotion.nets.TIMNetBinaryClassifier`. Batch size and number of frames
    are free. For a Pipeline, the fitted standardisation steps just before the classifier
    (a :class:`~skemotion.preprocessing.TemporalStandardScaler`, or a
    :class:`~skemotion.compose.ModalityUnion` of them) are folded into the graph, which
    then takes the raw features; earlier steps (the feature extractors) are not exported
    and are listed as ``unexported_steps`` in the metadata.

    The file is loadable with plain PyTorch (``torch.jit.load``); the class labels and
    input names are the JSON entry :data:`METADATA_FILE` of its ``_extra_files``. Before
    writing, the graph is run on the example and on two other batch sizes and lengths and
    compared with the estimator's ``predict_proba``; a difference above 1e-5 raises.

    Parameters
    ----------
    model : TIMNetClassifier, TIMNetBinaryClassifier, FusionClassifier or Pipeline
        Fitted; a Pipeline must end in one of the classifiers.
    path : str or path-like
        Output file (conventionally ``.pt``).
    example : array-like or mapping of str to array-like, optional
        Features to trace with, shaped as the graph's inputs (raw features when scalers
        are folded in); None draws random ones (2 clips of 16 frames).
    subject : hashable, optional
        For a pipeline calibrated per subject (a
        :class:`~skemotion.preprocessing.SubjectNormalizer` step): the fitted or enrolled
        person to export the model for; that person's statistics are folded into the
        graph as constants, which then takes the person's raw features. Required for such
        a pipeline (a graph cannot compute a person's statistics), ignored otherwise.

    Returns
    -------
    ExportedClassifier
        The written file, loaded back (as :func:`load_torchscript` would).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        The classifier (or a folded step) is not fitted.
    TypeError
        ``model`` is not one of the supported estimators.
    ValueError
        A scaler step cannot be folded, or the classifier's output cannot be exported.
    RuntimeError
        The traced graph disagrees with the estimator.

    See Also
    --------
    load_torchscript : Load the file as a predictor.
    export_onnx : The same graph as ONNX.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.nets import TIMNetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 12, 6)).astype("float32")
    >>> y = np.where(X[:, :, 0].mean(axis=1) > 0, "angry", "calm")
    >>> clf = TIMNetClassifier(max_epochs=2, module__filters=8, module__n_scales=2,
    ...                        random_state=0).fit(X, y)
    >>> exported = export_torchscript(clf, "timnet.pt")  # doctest: +SKIP
    >>> exported.classes_.tolist()  # doctest: +SKIP
    ['angry', 'calm']
    >>> bool(np.allclose(exported.predict_proba(X), clf.predict_proba(X), atol=1e-5))
    ... # doctest: +SKIP
    True
    """
    plan = plan_export(model, caller="export_torchscript", subject=subject)
    graph = build_graph(plan)
    examples = trace_examples(plan, example)
    with torch.no_grad():
        # check_trace re-runs the trace on the same example only; check_against_estimator
        # below runs it on other batch sizes and lengths, a stronger test.
        traced = torch.jit.trace(graph, tensors(examples[0]), check_trace=False)
    check_against_estimator(plan, _runner(traced), examples, what="TorchScript")
    metadata = export_metadata(plan, backend="torchscript")
    torch.jit.save(traced, os.fspath(path), _extra_files={METADATA_FILE: json.dumps(metadata)})
    return load_torchscript(path)


def load_torchscript(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> ExportedClassifier:
    """Load a file written by :func:`export_torchscript` as a predictor.

    Parameters
    ----------
    path : str or path-like
    map_location : str or torch.device, default="cpu"
        Where the graph's tensors are placed.

    Returns
    -------
    ExportedClassifier

    Raises
    ------
    NotASkemotionModelError
        The file is a TorchScript archive without skemotion's metadata.

    Examples
    --------
    >>> exported = load_torchscript("timnet.pt")  # doctest: +SKIP
    >>> exported.predict(X[:3])  # doctest: +SKIP
    array(['angry', 'calm', 'calm'], dtype='<U5')
    """
    extra = {METADATA_FILE: ""}
    module = torch.jit.load(os.fspath(path), map_location=map_location, _extra_files=extra)
    metadata = read_metadata(extra[METADATA_FILE], path=path)
    module.eval()
    return ExportedClassifier(_runner(module), metadata, path=path, module=module)


def _runner(module: Any) -> Callable[[list[np.ndarray]], np.ndarray]:
    """The graph as a function of arrays, run where its tensors are."""
    device = next((tensor.device for tensor in module.state_dict().values()), torch.device("cpu"))

    def run(arrays: list[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            inputs = (tensor.to(device) for tensor in tensors(arrays))
            return module(*inputs).cpu().numpy()

    return run
