"""SubjectAdaptiveClassifier: per-subject batch-norm statistics, whose clips give them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skemotion import load_model, save_model
from skemotion.compose import SubjectAdaptiveClassifier
from skemotion.model_selection import evaluate_actor_cv
from skemotion.nets import TIMNetClassifier, batchnorm_statistics

SMALL: dict[str, Any] = {
    "max_epochs": 4,
    "module__filters": 8,
    "module__n_scales": 2,
    "random_state": 0,
    "lr": 1e-2,
}


def _stack(table: pd.DataFrame) -> np.ndarray:
    return np.stack(table["clip"].to_list()).astype(np.float32)


def _model() -> Pipeline:
    return Pipeline(
        [("features", FunctionTransformer(_stack)), ("timnet", TIMNetClassifier(**SMALL))]
    )


def _table(n_subjects: int = 6, n_clips: int = 12, seed: int = 0) -> tuple[pd.DataFrame, Any]:
    """Clips whose label is a temporal trend, each subject with its own offset and gain."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    trend = np.linspace(-1, 1, 10)
    for subject in range(1, n_subjects + 1):
        offset, gain = rng.normal(0, 3, size=4), rng.uniform(0.5, 3)
        for i in range(n_clips):
            label = ["rising", "falling"][i % 2]
            clip = rng.normal(size=(10, 4))
            clip[:, 0] += 2 * trend if label == "rising" else -2 * trend
            rows.append({"clip": gain * clip + offset, "actor": subject})
            labels.append(label)
    return pd.DataFrame(rows), np.array(labels)


def test_each_subject_gets_the_statistics_of_its_own_clips_only() -> None:
    table, y = _table()
    model = SubjectAdaptiveClassifier(_model()).fit(table, y)
    network = model.estimator_[-1]
    assert model.subjects_.tolist() == [1, 2, 3, 4, 5, 6]
    rows = (table.actor == 3).to_numpy()
    expected = batchnorm_statistics(network, _stack(table[rows]))
    for name, value in model.statistics_[2].items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-5, atol=1e-6)
    # A new subject's predictions depend on its clips only, not on who else is in the call.
    test, _ = _table(n_subjects=2, seed=1)
    test = test.assign(actor=test.actor + 100)
    before = {k: v.clone() for k, v in network.module_.state_dict().items()}
    both = model.predict_proba(test)
    alone = model.predict_proba(test[test.actor == 101])
    np.testing.assert_allclose(both[(test.actor == 101).to_numpy()], alone, rtol=1e-5, atol=1e-6)
    # The network itself is left as it was.
    for name, value in network.module_.state_dict().items():
        assert torch.equal(value, before[name]), name
    # With its own statistics a subject is predicted differently from the global network.
    assert not np.allclose(alone, network.predict_proba(_stack(test[test.actor == 101])))


def test_unknown_single_clip_policies_and_enrollment(tmp_path: Path) -> None:
    table, y = _table()
    model = SubjectAdaptiveClassifier(_model()).fit(table, y)
    stranger, _ = _table(n_subjects=1, seed=2)
    stranger = stranger.assign(actor="visitor")
    with pytest.raises(ValueError, match="fewer than min_clips=2"):
        model.predict(stranger.iloc[[0]])
    lenient = clone(model).set_params(on_uncalibrated="global").fit(table, y)
    with pytest.warns(UserWarning, match="network's own statistics"):
        proba = lenient.predict_proba(stranger.iloc[[0]])
    network = lenient.estimator_[-1]
    np.testing.assert_allclose(proba, network.predict_proba(_stack(stranger.iloc[[0]])))
    model.enroll(stranger.iloc[1:6])
    assert model.enrolled_.tolist() == [False] * 6 + [True]
    model.predict_proba(stranger.iloc[[0]])


def test_arrays_with_subjects_and_save_load(tmp_path: Path) -> None:
    table, y = _table()
    X, subjects = _stack(table), table.actor.to_numpy()
    model = SubjectAdaptiveClassifier(TIMNetClassifier(**SMALL)).fit(X, y, subjects=subjects)
    model.enroll(X[:5] + 1.0, subjects=np.full(5, "visitor"))
    expected = model.predict_proba(X[[7]], subjects=["visitor"])
    loaded = load_model(save_model(model, tmp_path / "adaptive.skem"))
    np.testing.assert_allclose(loaded.predict_proba(X[[7]], subjects=["visitor"]), expected)
    with pytest.raises(ValueError, match="needs the subject of every clip"):
        model.predict(X)


def test_neutral_source_and_budget_choose_the_calibration_clips() -> None:
    table, y = _table()
    budget = SubjectAdaptiveClassifier(_model(), n_clips=5).fit(table, y)
    assert budget.n_clips_.tolist() == [5] * 6
    network = budget.estimator_[-1]
    first = batchnorm_statistics(network, _stack(table[table.actor == 1].iloc[:5]))
    name = next(iter(first))
    np.testing.assert_allclose(budget.statistics_[0][name], first[name], rtol=1e-5)


def test_reports_are_transductive_and_it_searches_and_clones() -> None:
    table, y = _table()
    groups = table.actor.to_numpy()
    model = SubjectAdaptiveClassifier(_model())
    report = evaluate_actor_cv(model, table, y, groups, cv=GroupKFold(3))
    assert report.protocol["protocol"] == "transductive"
    assert "batch-norm statistics over all of each subject's clips" in report.to_markdown()
    search = GridSearchCV(model, {"n_clips": [4, None]}, cv=GroupKFold(2))
    search.fit(table, y, groups=groups)
    assert search.best_params_["n_clips"] in (4, None)
    flat = FunctionTransformer(lambda t: _stack(t).reshape(len(t), -1))
    linear = Pipeline([("flat", flat), ("linear", LogisticRegression())])
    with pytest.raises(TypeError, match="ends in a LogisticRegression"):
        SubjectAdaptiveClassifier(linear).fit(table, y)


def test_a_network_trained_on_subject_batches_gets_the_subjects_as_groups() -> None:
    table, y = _table()
    model = _model().set_params(timnet__batching="subject")
    adaptive = SubjectAdaptiveClassifier(model).fit(table, y)
    assert adaptive.predict(table).shape == (len(y),)
    report = evaluate_actor_cv(
        SubjectAdaptiveClassifier(model), table, y, table.actor.to_numpy(), cv=GroupKFold(3)
    )
    assert report.protocol["protocol"] == "transductive" and report.mean_accuracy > 0
    with pytest.raises(ValueError, match="groups=subjects"):
        clone(model).fit(table, y)
