"""What an export holds: the classifier, its inputs and the scaler steps folded before it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..compose import ModalityUnion
from ..nets import SINGLE_MODALITY, FusionClassifier, FusionTIMNet, TIMNet, TIMNetClassifier
from ..preprocessing import SubjectNormalizer, TemporalStandardScaler

__all__ = ["ExportInput", "ExportPlan", "plan_export"]


@dataclass
class ExportInput:
    """One input of the exported graph and the standardisations applied to it, in order."""

    name: str
    modality: str
    n_features: int
    scalers: list[TemporalStandardScaler] = field(default_factory=list)


@dataclass
class ExportPlan:
    estimator: str
    classifier: TIMNetClassifier
    inputs: list[ExportInput]
    # True when the classifier (or the first folded step) takes one array rather than a dict
    takes_array: bool
    folded_steps: list[tuple[str, Any]]
    unexported_steps: list[str]
    output: str
    threshold: float | None

    @property
    def input_widths(self) -> list[tuple[str, int]]:
        """``(name, n_features)`` of each input, in the graph's positional order."""
        return [(item.name, item.n_features) for item in self.inputs]


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


def _is_passthrough(step: Any) -> bool:
    """A pipeline step that does nothing (None or ``"passthrough"``)."""
    return step is None or (isinstance(step, str) and step == "passthrough")


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


def _fold(inputs: list[ExportInput], takes_array: bool, name: str, step: Any) -> list[ExportInput]:
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
        return [
            ExportInput(single.name, single.modality, single.n_features, [step, *single.scalers])
        ]
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
        folded.append(ExportInput(column, item.modality, item.n_features, scalers))
    columns = [item.name for item in folded]
    if len(set(columns)) != len(columns):
        raise ValueError(
            f"Cannot fold pipeline step {name!r}: several modalities read the same column "
            f"({columns})."
        )
    return folded


def plan_export(model: Any, *, caller: str, subject: Any = None) -> ExportPlan:
    """What ``caller`` (an export function) exports of ``model``, or the error saying why not."""
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
    inputs = [
        ExportInput(name, name, width) for name, width in zip(modalities, widths, strict=True)
    ]

    folded: list[tuple[str, Any]] = []
    position = len(steps)
    while position > 0:
        name, step = steps[position - 1]
        if _is_passthrough(step):
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
        name for name, step in steps[:position] if not _is_passthrough(step)
    ] + inner_extractor
    threshold = getattr(classifier, "threshold", None) if output == "sigmoid" else None
    return ExportPlan(
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
