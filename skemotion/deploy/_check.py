"""The arrays an exported graph takes, the examples it is traced on, and the check of an
export against the estimator's own ``predict_proba``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..utils._frame_arrays import as_clip_frames
from ._plan import ExportPlan

__all__ = [
    "EXAMPLE_FRAMES",
    "check_against_estimator",
    "input_arrays",
    "random_example",
    "tensors",
    "trace_examples",
]

# Largest difference from the estimator's probabilities that an export may show.
_ATOL = 1e-5
EXAMPLE_FRAMES = 16
"""Frames per clip of the random example an export is traced on when none is given."""


def input_arrays(X: Any, inputs: Sequence[tuple[str, int]], *, what: str) -> list[np.ndarray]:
    """``X`` (one array, or a mapping by input name) as float32 (n_clips, n_frames,
    n_features) arrays, one per ``(name, n_features)`` of ``inputs``, in that order."""
    names = [name for name, _ in inputs]
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
    arrays = [
        _checked(value, name, width, what=what)
        for value, (name, width) in zip(values, inputs, strict=True)
    ]
    counts = {name: len(array) for name, array in zip(names, arrays, strict=True)}
    if len(set(counts.values())) > 1:
        raise ValueError(f"Inputs hold different numbers of clips: {counts}.")
    return arrays


def _checked(value: Any, name: str, width: int, *, what: str) -> np.ndarray:
    array = as_clip_frames(np.asarray(value, dtype=np.float32), what=f"{what}[{name!r}]")
    if array.shape[-1] != width:
        raise ValueError(
            f"{what}[{name!r}] has {array.shape[-1]} features per frame; the model takes {width}."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{what}[{name!r}] is empty (shape {array.shape}).")
    if not np.isfinite(array).all():
        raise ValueError(f"{what}[{name!r}] contains NaN or infinity.")
    return np.ascontiguousarray(array)


def tensors(arrays: Sequence[np.ndarray]) -> tuple[Tensor, ...]:
    """The arrays as tensors sharing their memory, in the graph's positional order."""
    return tuple(torch.from_numpy(array) for array in arrays)


def random_example(plan: ExportPlan, *, n_clips: int, n_frames: int, seed: int) -> list[np.ndarray]:
    """Random raw features of the scale the fitted scalers saw, one array per input."""
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


def trace_examples(plan: ExportPlan, example: Any) -> list[list[np.ndarray]]:
    """The tracing example first, then shapes the trace must generalise to."""
    first = (
        random_example(plan, n_clips=2, n_frames=EXAMPLE_FRAMES, seed=0)
        if example is None
        else input_arrays(example, plan.input_widths, what="example")
    )
    n_frames = max(2, first[0].shape[1] // 2 + 3)
    return [
        first,
        random_example(plan, n_clips=1, n_frames=n_frames, seed=1),
        random_example(plan, n_clips=3, n_frames=first[0].shape[1] + 5, seed=2),
    ]


def _estimator_proba(plan: ExportPlan, arrays: list[np.ndarray]) -> np.ndarray:
    """``predict_proba`` of the fitted steps themselves: the reference for the export."""
    X: Any = (
        arrays[0]
        if plan.takes_array
        else {item.name: a for item, a in zip(plan.inputs, arrays, strict=True)}
    )
    for _, step in plan.folded_steps:
        X = step.transform(X)
    return np.asarray(plan.classifier.predict_proba(X), dtype=np.float64)


def check_against_estimator(
    plan: ExportPlan,
    run: Callable[[list[np.ndarray]], np.ndarray],
    examples: list[list[np.ndarray]],
    *,
    what: str,
) -> float:
    """Largest difference between ``run`` (the exported graph) and the estimator on
    ``examples``; raises when it exceeds the tolerance, so that nothing is written."""
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
