"""Export fitted TIM-Net classifiers to TorchScript and ONNX, standardisation folded in.

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
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from .._version import __version__
from ..compose import ModalityUnion
from ..exceptions import NotASkemotionModelError
from ..nets import SINGLE_MODALITY, FusionClassifier, FusionTIMNet, TIMNet, TIMNetClassifier
from ..preprocessing import SubjectNormalizer, TemporalStandardScaler
from ..utils._optional import import_optional

__all__ = [
    "METADATA_FILE",
    "ExportedClassifier",
    "export_onnx",
    "export_torchscript",
    "load_onnx",
    "load_torchscript",
]

METADATA_FILE = "skemotion.json"
"""Name of the JSON entry beside the graph: in a TorchScript archive's ``_extra_files``,
in an ONNX model's ``metadata_props``. It holds the class labels, the input names and
widths, the output kind and the pipeline steps that were folded in or left out."""

_FORMAT = "skemotion-exported-classifier"
_FORMAT_VERSION = 1
_ATOL = 1e-5
_EXAMPLE_FRAMES = 16


# -- what gets exported -------------------------------------------------------------------


@dataclass
class _Input:
    """One input of the exported graph and the standardisations applied to it, in order."""

    name: str
    modality: str
    n_features: int
    scalers: list[TemporalStandardScaler] = field(default_factory=list)


@dataclass
class _Plan:
    estimator: str
    classifier: TIMNetClassifier
    inputs: list[_Input]
    # True when the classifier (or the first folded step) takes one array rather than a dict
    takes_array: bool
    folded_steps: list[tuple[str, Any]]
    unexported_steps: list[str]
    output: str
    threshold: float | None


def _output_kind(classifier: TIMNetClassifier) -> str:
    # skorch's predict_proba applies a nonlinearity inferred from the criterion; the
    # exported graph must apply the same one.
    if classifier.predict_nonlinearity != "auto":
        raise ValueError(
            f"Cannot export {type(classifier).__name__} with "
            f"predict_nonlinearity={classifier.predict_nonlinearity!r}: only 'auto' (softmax "
            "for CrossEntropyLoss, a sigmoid pair for BCEWithLogitsLoss) is exported."
        )
    criterion = classifier.criterion_
    if isinstance(criterion, nn.CrossEntropyLoss):
        return "softmax"
    if isinstance(criterion, nn.BCEWithLogitsLoss):
        return "sigmoid"
    raise ValueError(
        f"Cannot export {type(classifier).__name__} trained with {type(criterion).__name__}: "
        "its predict_proba returns raw outputs; only CrossEntropyLoss and BCEWithLogitsLoss "
        "models are exported."
    )


def _is_scaler_step(step: Any) -> bool:
    if isinstance(step, TemporalStandardScaler):
        return True
    if isinstance(step, ModalityUnion):
        # Unfitted, its parameters tell whether it is a scaler step (_fold then raises
        # NotFittedError); a union of extractors is not one, fitted or not.
        triples = getattr(step, "transformers_", step.transformers)
        return all(
            isinstance(transformer, TemporalStandardScaler)
            or (isinstance(transformer, str) and transformer in ("passthrough", "drop"))
            for _, transformer, _ in triples
        )
    return False


def _fold(inputs: list[_Input], takes_array: bool, name: str, step: Any) -> list[_Input]:
    """The inputs before ``step``, given the inputs after it (``step`` is a scaler step)."""
    check_is_fitted(step)
    if isinstance(step, TemporalStandardScaler):
        if not takes_array:
            raise ValueError(
                f"Cannot fold pipeline step {name!r}: a TemporalStandardScaler before a "
                "ModalityUnion scales a whole table, not one modality."
            )
        (single,) = inputs
        if step.n_features_in_ != single.n_features:
            raise ValueError(
                f"Pipeline step {name!r} was fitted on {step.n_features_in_} features, the "
                f"classifier on {single.n_features}."
            )
        return [_Input(single.name, single.modality, single.n_features, [step, *single.scalers])]
    by_name = {
        modality: (transformer, column) for modality, transformer, column in step.transformers_
    }
    folded = []
    for item in inputs:
        if item.name not in by_name:
            raise ValueError(
                f"Cannot fold pipeline step {name!r}: it outputs {list(by_name)}, the next "
                f"step takes {item.name!r}."
            )
        transformer, column = by_name[item.name]
        if not isinstance(column, str):
            raise ValueError(
                f"Cannot fold pipeline step {name!r}: modality {item.name!r} reads column "
                f"{column!r}; only a single dict key (a str) becomes an input of the graph."
            )
        scalers = item.scalers if transformer == "passthrough" else [transformer, *item.scalers]
        folded.append(_Input(column, item.modality, item.n_features, scalers))
    columns = [item.name for item in folded]
    if len(set(columns)) != len(columns):
        raise ValueError(
            f"Cannot fold pipeline step {name!r}: several modalities read the same column "
            f"({columns})."
        )
    return folded


def _plan(model: Any, *, caller: str, subject: Any = None) -> _Plan:
    steps: list[tuple[str, Any]] = []
    if isinstance(model, Pipeline):
        steps = list(model.steps[:-1])
        classifier = model.steps[-1][1]
        if not isinstance(classifier, TIMNetClassifier):
            raise TypeError(
                f"{caller} takes a Pipeline ending in a TIMNetClassifier or FusionClassifier; "
                f"this one ends in {type(classifier).__name__}."
            )
    elif isinstance(model, TIMNetClassifier):
        classifier = model
    else:
        raise TypeError(
            f"{caller} takes a fitted TIMNetClassifier, TIMNetBinaryClassifier, "
            f"FusionClassifier or a Pipeline ending in one; got {type(model).__name__}."
        )
    check_is_fitted(classifier, "module_")
    module = classifier.module_
    if not isinstance(module, TIMNet | FusionTIMNet):
        raise TypeError(
            f"{caller} exports TIMNet and FusionTIMNet networks; {type(classifier).__name__} "
            f"holds a {type(module).__name__}."
        )
    output = _output_kind(classifier)
    if isinstance(classifier, FusionClassifier):
        modalities = list(classifier.modalities_)
        widths = [int(classifier.n_features_per_modality_[name]) for name in modalities]
        takes_array = modalities == [SINGLE_MODALITY]
    else:
        modalities, widths, takes_array = [SINGLE_MODALITY], [int(classifier.n_features_in_)], True
    inputs = [_Input(name, name, width) for name, width in zip(modalities, widths, strict=True)]

    folded: list[tuple[str, Any]] = []
    position = len(steps)
    while position > 0:
        name, step = steps[position - 1]
        if step is None or (isinstance(step, str) and step == "passthrough"):
            position -= 1
            continue
        if not _is_scaler_step(step):
            break
        inputs = _fold(inputs, takes_array, name, step)
        takes_array = isinstance(step, TemporalStandardScaler)
        folded.insert(0, (name, step))
        position -= 1
    inner_extractor: list[str] = []
    if position > 0 and isinstance(steps[position - 1][1], SubjectNormalizer) and takes_array:
        name, normalizer = steps[position - 1]
        if subject is None:
            raise ValueError(_per_subject_message(caller, name))
        # The person's statistics are constants once the person is known: the graph takes
        # that person's raw features; the extractor inside stays outside, as usual.
        stand_in = normalizer.subject_scaler(subject)
        inputs = _fold(inputs, True, name, stand_in)
        folded.insert(0, (f"{name}[subject={subject!r}]", stand_in))
        position -= 1
        if normalizer.transformer_ is not None:
            inner_extractor = [f"{name}__transformer"]
    calibrating = [
        name
        for name, step in steps[:position]
        if isinstance(step, SubjectNormalizer)
        or any(isinstance(part, SubjectNormalizer) for part in _parts(step))
    ]
    if calibrating:
        raise ValueError(
            _per_subject_message(caller, calibrating[0])
            if subject is None
            else f"{caller}: step {calibrating[0]!r} calibrates per subject inside a union of "
            "modalities; only a single-array pipeline (speech or face) folds one subject's "
            "statistics into the graph."
        )
    unexported = [
        name
        for name, step in steps[:position]
        if not (step is None or (isinstance(step, str) and step == "passthrough"))
    ] + inner_extractor
    threshold = getattr(classifier, "threshold", None) if output == "sigmoid" else None
    return _Plan(
        estimator=type(classifier).__name__,
        classifier=classifier,
        inputs=inputs,
        takes_array=takes_array,
        folded_steps=folded,
        unexported_steps=unexported,
        output=output,
        threshold=None if threshold is None else float(threshold),
    )


def _parts(step: Any) -> list[Any]:
    return list(step.get_params(deep=True).values()) if hasattr(step, "get_params") else []


def _per_subject_message(caller: str, name: str) -> str:
    return (
        f"{caller}: step {name!r} standardises each subject with that subject's own "
        "statistics, which a graph cannot compute; pass subject=<a fitted or enrolled "
        "subject> to export the model calibrated to that person."
    )


# -- the exported module ------------------------------------------------------------------


class _Standardize(nn.Module):
    """``(x - mean) / scale`` in float32, the operations of TemporalStandardScaler.transform."""

    def __init__(self, scaler: TemporalStandardScaler) -> None:
        super().__init__()
        # Absent statistics stay absent rather than becoming 0 / 1, so that the graph holds
        # exactly the operations the scaler applies.
        self.mean: Tensor | None
        self.scale: Tensor | None
        self.register_buffer("mean", None if scaler.mean_ is None else _float32(scaler.mean_))
        self.register_buffer("scale", None if scaler.scale_ is None else _float32(scaler.scale_))

    def forward(self, x: Tensor) -> Tensor:
        if self.mean is not None:
            x = x - self.mean
        if self.scale is not None:
            x = x / self.scale
        return x


def _float32(values: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


class _ProbabilityModel(nn.Module):
    """Raw features (one tensor per input, positionally) -> class probabilities."""

    def __init__(self, network: nn.Module, plan: _Plan) -> None:
        super().__init__()
        self.network = network
        self.fusion = isinstance(network, FusionTIMNet)
        self.modalities = [item.modality for item in plan.inputs]
        self.standardize = nn.ModuleList(
            nn.Sequential(*(_Standardize(scaler) for scaler in item.scalers))
            for item in plan.inputs
        )
        self.sigmoid = plan.output == "sigmoid"

    def forward(self, *inputs: Tensor) -> Tensor:
        features = [scale(x) for scale, x in zip(self.standardize, inputs, strict=True)]
        if self.fusion:
            logits = self.network(**dict(zip(self.modalities, features, strict=True)))
        else:
            (single,) = features
            logits = self.network(single)
        if self.sigmoid:
            # skorch's binary predict_proba: (1 - p, p) from the single logit.
            positive = torch.sigmoid(logits[:, 0])
            return torch.stack((1 - positive, positive), dim=1)
        return torch.softmax(logits, dim=-1)


def _reference_network(module: nn.Module) -> nn.Module:
    """A CPU copy of ``module`` in eval mode, every causal layer on the traceable path."""
    network = copy.deepcopy(module).cpu().eval()
    for layer in network.modules():
        # The fused kernel is an autograd.Function, which tracing records as an opaque
        # Python call that cannot be saved; the reference path is plain tensor operations.
        if hasattr(layer, "fused"):
            layer.fused = False  # type: ignore[assignment]
    original = {key: value.cpu() for key, value in module.state_dict().items()}
    copied = network.state_dict()
    if original.keys() != copied.keys() or not all(
        torch.equal(original[key], copied[key]) for key in original
    ):
        raise RuntimeError("The exported network's weights differ from the fitted network's.")
    return network


def _build(plan: _Plan) -> _ProbabilityModel:
    network = _reference_network(plan.classifier.module_)
    # Inference only: outputs of the loaded graph are plain tensors (no .detach() needed).
    return _ProbabilityModel(network, plan).eval().requires_grad_(False)


# -- examples and the equality check ------------------------------------------------------


def _as_arrays(X: Any, plan: _Plan, *, what: str) -> list[np.ndarray]:
    """``X`` (one array, or a mapping by input name) as float32 (n, frames, features) arrays."""
    names = [item.name for item in plan.inputs]
    if isinstance(X, Mapping):
        missing = [name for name in names if name not in X]
        unexpected = sorted(str(key) for key in X if key not in names)
        if missing or unexpected:
            raise ValueError(
                f"{what} must hold the inputs {names}; missing {missing}, unexpected {unexpected}."
            )
        values = [X[name] for name in names]
    elif len(names) == 1:
        values = [X]
    else:
        raise ValueError(f"{what} must be a mapping of the inputs {names}, got {type(X).__name__}.")
    return [
        _checked(value, item, what=what) for value, item in zip(values, plan.inputs, strict=True)
    ]


def _checked(value: Any, item: _Input | Mapping[str, Any], *, what: str) -> np.ndarray:
    name = item.name if isinstance(item, _Input) else item["name"]
    width = item.n_features if isinstance(item, _Input) else item["n_features"]
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, np.newaxis, :]
    if array.ndim != 3:
        raise ValueError(
            f"{what}[{name!r}] must be (n_clips, n_frames, n_features), got shape {array.shape}."
        )
    if array.shape[-1] != width:
        raise ValueError(
            f"{what}[{name!r}] has {array.shape[-1]} features per frame; the model takes {width}."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{what}[{name!r}] is empty (shape {array.shape}).")
    if not np.isfinite(array).all():
        raise ValueError(f"{what}[{name!r}] contains NaN or infinity.")
    return np.ascontiguousarray(array)


def _random_example(plan: _Plan, *, n_clips: int, n_frames: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for item in plan.inputs:
        array = rng.standard_normal((n_clips, n_frames, item.n_features)).astype(np.float32)
        # Standardised values drawn first and un-standardised: raw features of the scale
        # the fitted scalers saw, so the check does not run on saturated probabilities.
        for scaler in reversed(item.scalers):
            array = scaler.inverse_transform(array).astype(np.float32)
        arrays.append(array)
    return arrays


def _estimator_proba(plan: _Plan, arrays: list[np.ndarray]) -> np.ndarray:
    """``predict_proba`` of the fitted steps themselves: the reference for the export."""
    X: Any = (
        arrays[0]
        if plan.takes_array
        else {item.name: a for item, a in zip(plan.inputs, arrays, strict=True)}
    )
    for _, step in plan.folded_steps:
        X = step.transform(X)
    return np.asarray(plan.classifier.predict_proba(X), dtype=np.float64)


def _check_equal(plan: _Plan, run: Any, examples: list[list[np.ndarray]], *, what: str) -> float:
    worst = 0.0
    for arrays in examples:
        expected = _estimator_proba(plan, arrays)
        got = np.asarray(run(arrays), dtype=np.float64)
        if got.shape != expected.shape:
            raise RuntimeError(
                f"The {what} model returned shape {got.shape}, the estimator {expected.shape}."
            )
        worst = max(worst, float(np.max(np.abs(got - expected))))
    if worst > _ATOL:
        raise RuntimeError(
            f"The {what} model differs from the estimator's predict_proba by {worst:.3g} "
            f"(tolerance {_ATOL:g}); nothing was written."
        )
    return worst


def _examples(plan: _Plan, example: Any) -> list[list[np.ndarray]]:
    """The tracing example first, then shapes the trace must generalise to."""
    first = (
        _random_example(plan, n_clips=2, n_frames=_EXAMPLE_FRAMES, seed=0)
        if example is None
        else _as_arrays(example, plan, what="example")
    )
    n_frames = max(2, first[0].shape[1] // 2 + 3)
    return [
        first,
        _random_example(plan, n_clips=1, n_frames=n_frames, seed=1),
        _random_example(plan, n_clips=3, n_frames=first[0].shape[1] + 5, seed=2),
    ]


def _metadata(plan: _Plan, *, backend: str) -> dict[str, Any]:
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


def _tensors(arrays: Sequence[np.ndarray]) -> tuple[Tensor, ...]:
    return tuple(torch.from_numpy(array) for array in arrays)


# -- TorchScript --------------------------------------------------------------------------


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
    plan = _plan(model, caller="export_torchscript", subject=subject)
    wrapper = _build(plan)
    examples = _examples(plan, example)
    with torch.no_grad():
        # check_trace re-runs the trace on the same example only; _check_equal below runs
        # it on other batch sizes and lengths against the estimator, a stronger test.
        traced = torch.jit.trace(wrapper, _tensors(examples[0]), check_trace=False)

    def run(arrays: list[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return traced(*_tensors(arrays)).numpy()

    _check_equal(plan, run, examples, what="TorchScript")
    metadata = _metadata(plan, backend="torchscript")
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
    metadata = _read_metadata(extra[METADATA_FILE], path=path)
    module.eval()
    device = next((tensor.device for tensor in module.state_dict().values()), torch.device("cpu"))

    def run(arrays: list[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            inputs = (tensor.to(device) for tensor in _tensors(arrays))
            return module(*inputs).cpu().numpy()

    return ExportedClassifier(run, metadata, path=path, module=module)


def _read_metadata(text: str | bytes, *, path: str | os.PathLike[str]) -> dict[str, Any]:
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


class ExportedClassifier:
    """An exported TIM-Net classifier: ``predict_proba`` and ``predict`` on raw features.

    Returned by :func:`load_torchscript`, :func:`load_onnx` and the export functions. It
    validates the input against the stored input names and widths, runs the graph in
    batches and maps the probabilities to the stored class labels; it cannot be fitted.

    Parameters
    ----------
    run : callable
        Takes a list of float32 ``(batch, frames, features)`` arrays, one per input, and
        returns the ``(batch, n_classes)`` probabilities.
    metadata : dict
        The export's :data:`METADATA_FILE` entry.
    path : str or path-like, optional
        File the graph was read from.
    module : object, optional
        The loaded graph (a ``torch.jit.ScriptModule`` or an ``onnxruntime`` session).
    batch_size : int, default=64
        Clips per call of the graph.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    input_names_ : tuple of str
        Names of the graph's inputs, in their positional order; a mapping given to
        :meth:`predict_proba` is keyed by them.
    n_features_per_input_ : dict of str to int
    folded_steps_ : list of str
        Pipeline steps inside the graph (the standardisation).
    unexported_steps_ : list of str
        Pipeline steps that must be run before the graph (the feature extractors).
    metadata_ : dict
    module_ : object
    path_ : str or None

    Examples
    --------
    >>> exported = load_torchscript("fusion.pt")  # doctest: +SKIP
    >>> exported.input_names_  # doctest: +SKIP
    ('lms', 'kpd')
    >>> exported.predict_proba({"lms": lms, "kpd": kpd}).shape  # doctest: +SKIP
    (1, 8)
    """

    def __init__(
        self,
        run: Any,
        metadata: dict[str, Any],
        *,
        path: str | os.PathLike[str] | None = None,
        module: Any = None,
        batch_size: int = 64,
    ) -> None:
        self._run = run
        self.metadata_ = metadata
        self.classes_ = np.asarray(metadata["classes"])
        self._inputs = list(metadata["inputs"])
        self.input_names_ = tuple(str(item["name"]) for item in self._inputs)
        self.n_features_per_input_ = {
            str(item["name"]): int(item["n_features"]) for item in self._inputs
        }
        self.folded_steps_ = list(metadata.get("folded_steps", []))
        self.unexported_steps_ = list(metadata.get("unexported_steps", []))
        self.module_ = module
        self.path_ = None if path is None else os.fspath(path)
        self.batch_size = batch_size

    def _validate(self, X: Any) -> list[np.ndarray]:
        names = list(self.input_names_)
        if isinstance(X, Mapping):
            missing = [name for name in names if name not in X]
            unexpected = sorted(str(key) for key in X if key not in names)
            if missing or unexpected:
                raise ValueError(
                    f"X must hold the inputs {names}; missing {missing}, unexpected {unexpected}."
                )
            values = [X[name] for name in names]
        elif len(names) == 1:
            values = [X]
        else:
            raise ValueError(
                f"This model takes several inputs, {names}: pass a mapping of them, got "
                f"{type(X).__name__}."
            )
        arrays = [_checked(v, item, what="X") for v, item in zip(values, self._inputs, strict=True)]
        counts = {name: len(array) for name, array in zip(names, arrays, strict=True)}
        if len(set(counts.values())) > 1:
            raise ValueError(f"Inputs hold different numbers of clips: {counts}.")
        return arrays

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_clips, n_classes), columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like or mapping of str to array-like
            ``(n_clips, n_frames, n_features)`` features (a 2-D array is one frame per
            clip): one array for a single-input model, else a mapping by input name.

        Returns
        -------
        ndarray of shape (n_clips, n_classes), float64
        """
        arrays = self._validate(X)
        n_clips = len(arrays[0])
        batches = [
            self._run([array[start : start + self.batch_size] for array in arrays])
            for start in range(0, n_clips, self.batch_size)
        ]
        return np.concatenate(batches).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label of every clip (the threshold rule for binary models).

        Parameters
        ----------
        X : array-like or mapping of str to array-like
            As for :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_clips,)
        """
        proba = self.predict_proba(X)
        if self.metadata_["output"] == "sigmoid":
            threshold = self.metadata_.get("threshold")
            threshold = 0.5 if threshold is None else float(threshold)
            return self.classes_[(proba[:, 1] > threshold).astype(int)]
        return self.classes_[proba.argmax(axis=1)]

    def __repr__(self) -> str:
        backend = self.metadata_.get("backend", "?")
        return (
            f"ExportedClassifier({backend}, estimator={self.metadata_.get('estimator')}, "
            f"inputs={self.n_features_per_input_}, classes={self.classes_.tolist()})"
        )


# -- ONNX ---------------------------------------------------------------------------------


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
    plan = _plan(model, caller="export_onnx", subject=subject)
    wrapper = _build(plan)
    examples = _examples(plan, example)
    names = [item.name for item in plan.inputs]
    first = examples[0]
    if min(len(first[0]), *(array.shape[1] for array in first)) < 2:
        # torch.export fixes an axis whose example size is 1; export on a larger one.
        first = _random_example(plan, n_clips=2, n_frames=_EXAMPLE_FRAMES, seed=0)
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
        raw = Path(tmp) / "model.onnx"
        if dynamo:
            batch = torch.export.Dim("batch")
            shapes = tuple({0: batch, 1: torch.export.Dim(f"{name}_frames")} for name in names)
            torch.onnx.export(
                wrapper,
                _tensors(first),
                raw,
                input_names=names,
                output_names=["proba"],
                dynamic_shapes=(shapes,),
                opset_version=opset_version,
                external_data=False,
                dynamo=True,
                verbose=False,
            )
        else:
            axes = {name: {0: "batch", 1: f"{name}_frames"} for name in names}
            # One warning per causal layer that a strided slice is not constant-folded:
            # noise, the graph is correct (and checked below).
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
            torch.onnx.export(
                wrapper,
                _tensors(first),
                raw,
                input_names=names,
                output_names=["proba"],
                dynamic_axes={**axes, "proba": {0: "batch"}},
                opset_version=opset_version,
                dynamo=False,
            )
        proto = onnx.load(raw)
    metadata = _metadata(plan, backend="onnx")
    onnx.helper.set_model_props(proto, {METADATA_FILE: json.dumps(metadata)})
    content = proto.SerializeToString()
    session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])

    def run(arrays: list[np.ndarray]) -> np.ndarray:
        return session.run(["proba"], dict(zip(names, arrays, strict=True)))[0]

    _check_equal(plan, run, examples, what="ONNX")
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
    metadata = _read_metadata(properties.get(METADATA_FILE, ""), path=path)
    names = [str(item["name"]) for item in metadata["inputs"]]

    def run(arrays: list[np.ndarray]) -> np.ndarray:
        return session.run(["proba"], dict(zip(names, arrays, strict=True)))[0]

    return ExportedClassifier(run, metadata, path=path, module=session)
