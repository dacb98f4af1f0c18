"""Late fusion of out-of-fold posteriors: compare early and late fusion without retraining."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..preprocessing import INDUCTIVE_PROTOCOL
from ._report import ActorCVReport

__all__ = ["fuse_posteriors", "fuse_reports"]


def fuse_posteriors(
    probas: Sequence[np.ndarray],
    *,
    rule: str = "product",
    weights: Sequence[float] | np.ndarray | None = None,
    epsilon: float = 1e-7,
) -> tuple[np.ndarray, np.ndarray]:
    """Combine per-modality class posteriors by a fixed rule.

    Parameters
    ----------
    probas : sequence of np.ndarray, each of shape (n_samples, n_classes)
        Posteriors of each modality, columns in one shared class order.
    rule : {"product", "mean"}, default="product"
        ``"product"``: :math:`P(c) \\propto \\prod_m P_m(c)^{w_m}`, a weighted sum of
        log-posteriors renormalised by a log-softmax (Kittler's product rule);
        ``"mean"``: :math:`\\sum_m w_m P_m(c) / \\sum_m w_m`.
    weights : sequence of float or None, default=None
        One non-negative weight per modality; None weighs them equally.
    epsilon : float, default=1e-7
        Floor of every posterior before its logarithm (product rule), so that one
        modality's zero leaves the others a say.

    Returns
    -------
    fused : np.ndarray of shape (n_samples, n_classes)
        Rows sum to 1.
    log_fused : np.ndarray of shape (n_samples, n_classes)
        Its logarithm (``-inf`` where the mean rule gives exactly 0).

    Examples
    --------
    >>> import numpy as np
    >>> speech = np.array([[0.6, 0.4]])
    >>> face = np.array([[0.2, 0.8]])
    >>> fused, _ = fuse_posteriors([speech, face])
    >>> fused.round(3)
    array([[0.273, 0.727]])
    >>> fuse_posteriors([speech, face], rule="mean")[0]
    array([[0.4, 0.6]])
    """
    if not probas:
        raise ValueError("fuse_posteriors needs the posteriors of at least one modality.")
    arrays = [np.asarray(proba, dtype=float) for proba in probas]
    shape = arrays[0].shape
    if len(shape) != 2 or any(array.shape != shape for array in arrays):
        raise ValueError(
            "every modality's posteriors must be one (n_samples, n_classes) array of the same "
            f"shape; got shapes {[array.shape for array in arrays]}."
        )
    w = np.ones(len(arrays)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(arrays),) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError(
            f"weights must be {len(arrays)} non-negative numbers, not all zero; got {weights!r}."
        )
    if rule == "product":
        scores = np.zeros(shape)
        for weight, proba in zip(w, arrays, strict=True):
            scores += weight * np.log(np.clip(proba, epsilon, 1.0))
        # Subtracting the row maximum first keeps exp from underflowing to 0 / 0 when every
        # class is improbable.
        scores -= scores.max(axis=1, keepdims=True)
        log_fused = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
        return np.exp(log_fused), log_fused
    if rule == "mean":
        fused = sum(weight * proba for weight, proba in zip(w, arrays, strict=True)) / w.sum()
        with np.errstate(divide="ignore"):
            return fused, np.log(fused)
    raise ValueError(f"rule must be 'product' or 'mean', got {rule!r}.")


def fuse_reports(
    reports: Mapping[str, ActorCVReport],
    *,
    rule: str = "product",
    weights: Sequence[float] | None = None,
) -> ActorCVReport:
    """Late fusion of single-modality cross-validation reports run on the same folds.

    Each report's out-of-fold posteriors (:attr:`ActorCVReport.y_proba`) were predicted by
    a model that never saw that clip's actor; fusing them by a fixed rule learns nothing
    from any test fold, so the fused report is as speaker-independent as its inputs. This
    puts a late-fusion figure beside an early-fusion one (a
    :class:`~skemotion.nets.FusionClassifier` evaluated on the same folds) with no
    further training. A *learned* fusion needs inner out-of-fold posteriors inside every
    training fold: that is :class:`~skemotion.compose.LateFusionClassifier`.

    Parameters
    ----------
    reports : mapping of str to ActorCVReport
        One report per modality, keyed by a name, all on the same clips in the same order
        (same ``y_true``), the same folds (``test_fold`` and ``fold_actors``), each with
        posteriors (``evaluate_actor_cv`` keeps them for estimators with
        ``predict_proba``).
    rule : {"product", "mean"}, default="product"
        See :func:`fuse_posteriors`.
    weights : sequence of float or None, default=None
        One weight per report, in the mapping's order.

    Returns
    -------
    fused : ActorCVReport
        Predictions are the argmax of the fused posteriors, which it keeps; ``fit_time`` is
        the sum of the inputs' per fold, and ``metadata`` names the rule and the inputs.

    Raises
    ------
    ValueError
        If fewer than two reports are given, one has no posteriors, or they differ in
        clips, labels or folds.

    Examples
    --------
    >>> import numpy as np
    >>> from skemotion.model_selection import ActorCVReport, fuse_reports
    >>> def report(proba):
    ...     return ActorCVReport(
    ...         y_true=np.array(["happy", "sad"]), y_pred=np.array(["happy", "happy"]),
    ...         test_fold=np.array([0, 1]), fold_actors=[[1], [2]], fit_time=[1.0, 1.0],
    ...         score_time=[0.0, 0.0], y_proba=np.array(proba), proba_classes=["happy", "sad"],
    ...     )
    >>> speech = report([[0.9, 0.1], [0.6, 0.4]])
    >>> face = report([[0.7, 0.3], [0.1, 0.9]])
    >>> fuse_reports({"speech": speech, "face": face}).fold_accuracy
    [1.0, 1.0]
    """
    if len(reports) < 2:
        raise ValueError(f"fuse_reports needs at least two reports, got {len(reports)}.")
    names = list(reports)
    first = reports[names[0]]
    for name, report in reports.items():
        if report.y_proba is None or report.proba_classes is None:
            raise ValueError(
                f"report {name!r} has no posteriors (y_proba): it was made by an estimator "
                "without predict_proba, or read from a report saved without them."
            )
        differences = [
            what
            for what, same in (
                ("clips or their order (y_true)", np.array_equal(report.y_true, first.y_true)),
                ("test folds (test_fold)", np.array_equal(report.test_fold, first.test_fold)),
                ("fold actors", _same_actors(report.fold_actors, first.fold_actors)),
            )
            if not same
        ]
        if differences:
            raise ValueError(
                f"report {name!r} differs from {names[0]!r} in its {', '.join(differences)}: "
                "late fusion needs every modality evaluated on the same clips and folds."
            )
    classes = list(first.proba_classes or [])
    for name, report in reports.items():
        if set(report.proba_classes or []) != set(classes):
            raise ValueError(
                f"report {name!r} has posteriors for classes {report.proba_classes}, "
                f"{names[0]!r} for {classes}."
            )
    aligned = [_aligned_proba(report, classes) for report in reports.values()]
    fused, _ = fuse_posteriors(aligned, rule=rule, weights=weights)
    return ActorCVReport(
        y_true=first.y_true,
        y_pred=np.asarray(classes)[fused.argmax(axis=1)],
        test_fold=first.test_fold,
        fold_actors=[list(actors) for actors in first.fold_actors],
        fit_time=_per_fold_sum(reports, "fit_time"),
        score_time=_per_fold_sum(reports, "score_time"),
        labels=first.labels,
        metadata={
            "fusion": f"{rule} rule of out-of-fold posteriors",
            "weights": None if weights is None else [float(w) for w in weights],
            "inputs": {name: dict(report.metadata) for name, report in reports.items()},
        },
        protocol=_fused_protocol(reports),
        y_proba=fused,
        proba_classes=classes,
    )


def _fused_protocol(reports: Mapping[str, ActorCVReport]) -> dict[str, Any]:
    """Transductive as soon as one input read statistics of the test subjects."""
    calibrations = {
        f"{name}: {path}" if path else name: calibration
        for name, report in reports.items()
        if report.protocol.get("protocol") == "transductive"
        for path, calibration in report.protocol.get("calibrations", {}).items()
    }
    if not calibrations:
        return dict(INDUCTIVE_PROTOCOL)
    return {"protocol": "transductive", "calibrations": calibrations}


def _per_fold_sum(reports: Mapping[str, ActorCVReport], times: str) -> list[float]:
    per_report = [getattr(report, times) for report in reports.values()]
    return [float(sum(fold)) for fold in zip(*per_report, strict=True)]


def _same_actors(a: Sequence[Sequence[Any]], b: Sequence[Sequence[Any]]) -> bool:
    return [sorted(actors) for actors in a] == [sorted(actors) for actors in b]


def _aligned_proba(report: ActorCVReport, classes: list[Any]) -> np.ndarray:
    assert report.y_proba is not None and report.proba_classes is not None
    order = [report.proba_classes.index(label) for label in classes]
    return report.y_proba[:, order]
