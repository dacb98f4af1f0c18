"""Late fusion of out-of-fold reports: fuse_posteriors and fuse_reports."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skemotion.compose import LateFusionClassifier
from skemotion.model_selection import (
    ActorCVReport,
    _fusion,
    evaluate_actor_cv,
    fuse_posteriors,
    fuse_reports,
)

CLASSES = ["angry", "happy", "sad"]


def test_docstring_examples() -> None:
    result = doctest.testmod(_fusion, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


def test_product_rule_is_the_normalised_weighted_product() -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.dirichlet(np.ones(3), size=6) for _ in range(2))
    fused, log_fused = fuse_posteriors([a, b], weights=[2.0, 0.5])
    expected = a**2.0 * b**0.5
    np.testing.assert_allclose(fused, expected / expected.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(np.exp(log_fused), fused)
    mean, _ = fuse_posteriors([a, b], rule="mean", weights=[3, 1])
    np.testing.assert_allclose(mean, (3 * a + b) / 4)


def test_product_rule_survives_zeros_and_tiny_posteriors() -> None:
    certain_no = np.array([[0.0, 1.0, 0.0]])
    tiny = np.array([[1e-300, 1e-300, 1e-300]])
    fused, log_fused = fuse_posteriors([certain_no, tiny])
    assert np.isfinite(log_fused).all() and fused[0].argmax() == 1
    np.testing.assert_allclose(fused.sum(), 1.0)


@pytest.mark.parametrize(
    ("probas", "kwargs", "match"),
    [
        ([], {}, "at least one"),
        ([np.ones((2, 3)), np.ones((2, 4))], {}, "same shape"),
        ([np.ones(3)], {}, "same shape"),
        ([np.ones((2, 3))] * 2, {"weights": [1.0]}, "2 non-negative"),
        ([np.ones((2, 3))] * 2, {"weights": [-1.0, 2.0]}, "non-negative"),
        ([np.ones((2, 3))] * 2, {"weights": [0, 0]}, "not all zero"),
        ([np.ones((2, 3))] * 2, {"rule": "max"}, "'product' or 'mean'"),
    ],
)
def test_fuse_posteriors_refuses_bad_input(probas, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        fuse_posteriors(probas, **kwargs)


def test_late_fusion_classifier_uses_the_same_rule() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat(CLASSES, 20)
    X = {
        "speech": rng.normal(size=(60, 4)) + (y == "angry")[:, None],
        "face": rng.normal(size=(60, 3)) + (y == "happy")[:, None],
    }
    late = LateFusionClassifier(
        [(m, LogisticRegression()) for m in X], fusion="product", weights=[1.0, 2.0]
    ).fit(X, y)
    probas = [model.predict_proba(X[m]) for m, model in zip(X, late.estimators_, strict=True)]
    np.testing.assert_allclose(
        late.predict_proba(X), fuse_posteriors(probas, weights=[1.0, 2.0])[0], atol=1e-12
    )


@pytest.fixture
def two_modalities() -> dict[str, ActorCVReport]:
    """Two feature sets of 6 actors, each informative about a different emotion."""
    rng = np.random.default_rng(2)
    actors = np.repeat(np.arange(1, 7), 30)
    y = np.tile(np.repeat(CLASSES, 10), 6)
    features = {
        "speech": rng.normal(size=(180, 3)) + 1.5 * (y == "angry")[:, None],
        "face": rng.normal(size=(180, 3)) + 1.5 * (y == "happy")[:, None],
    }
    model = make_pipeline(StandardScaler(), LogisticRegression())
    return {name: evaluate_actor_cv(model, X, y, actors, cv=3) for name, X in features.items()}


def test_fused_report_beats_each_modality_and_keeps_its_folds(two_modalities) -> None:
    speech, face = two_modalities["speech"], two_modalities["face"]
    fused = fuse_reports(two_modalities)
    assert fused.mean_accuracy > max(speech.mean_accuracy, face.mean_accuracy)
    np.testing.assert_array_equal(fused.test_fold, speech.test_fold)
    assert fused.fold_actors == speech.fold_actors
    assert fused.y_proba is not None and np.allclose(fused.y_proba.sum(axis=1), 1)
    np.testing.assert_array_equal(
        fused.y_pred, np.asarray(fused.proba_classes)[fused.y_proba.argmax(axis=1)]
    )
    np.testing.assert_allclose(fused.fit_time, np.add(speech.fit_time, face.fit_time), rtol=1e-12)
    assert fused.metadata["fusion"] == "product rule of out-of-fold posteriors"
    assert set(fused.metadata["inputs"]) == {"speech", "face"}
    # The report round-trips through JSON like any other.
    again = ActorCVReport.from_dict(fused.to_dict())
    assert again.fold_accuracy == fused.fold_accuracy


def test_fuse_reports_aligns_class_orders(two_modalities) -> None:
    face = two_modalities["face"]
    assert face.y_proba is not None and face.proba_classes is not None
    order = [2, 0, 1]
    shuffled = ActorCVReport.from_dict(
        {
            **face.to_dict(),
            "y_proba": face.y_proba[:, order].tolist(),
            "proba_classes": [face.proba_classes[i] for i in order],
        }
    )
    direct = fuse_reports(two_modalities)
    aligned = fuse_reports({"speech": two_modalities["speech"], "face": shuffled})
    assert aligned.y_proba is not None and direct.y_proba is not None
    np.testing.assert_allclose(aligned.y_proba, direct.y_proba)


def test_fuse_reports_refuses_reports_that_do_not_match(two_modalities) -> None:
    speech = two_modalities["speech"]
    data = speech.to_dict()
    with pytest.raises(ValueError, match="at least two"):
        fuse_reports({"speech": speech})
    without = ActorCVReport.from_dict({k: v for k, v in data.items() if k != "y_proba"})
    with pytest.raises(ValueError, match="'face' has no posteriors"):
        fuse_reports({"speech": speech, "face": without})
    reordered = ActorCVReport.from_dict({**data, "y_true": data["y_true"][::-1]})
    with pytest.raises(ValueError, match="differs from 'speech' in its clips"):
        fuse_reports({"speech": speech, "face": reordered})
    other_folds = ActorCVReport.from_dict(
        {**data, "test_fold": [(k + 1) % 3 for k in data["test_fold"]]}
    )
    with pytest.raises(ValueError, match="test folds"):
        fuse_reports({"speech": speech, "face": other_folds})
    other_classes = ActorCVReport.from_dict(
        {**data, "proba_classes": ["angry", "happy", "neutral"]}
    )
    with pytest.raises(ValueError, match="classes"):
        fuse_reports({"speech": speech, "face": other_classes})
