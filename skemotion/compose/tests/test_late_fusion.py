"""Tests for LateFusionClassifier: fusion rules, actor-grouped inner CV, sklearn composition."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
import sklearn
from joblib import parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    StratifiedKFold,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.helper import SliceDict

from skemotion.compose._late_fusion import PROBA_EPSILON, LateFusionClassifier
from skemotion.model_selection import evaluate_actor_cv

EMOTIONS4 = np.array(["angry", "calm", "happy", "sad"])
N_ACTORS = 12


def _flatten(a: np.ndarray) -> np.ndarray:
    # Module level, not a lambda: the pipelines must survive clone and pickle.
    return np.asarray(a).reshape(len(a), -1)


def _flat_lr(C: float = 1.0) -> Pipeline:
    return make_pipeline(
        FunctionTransformer(_flatten), StandardScaler(), LogisticRegression(C=C, max_iter=500)
    )


def _make_data(
    per_actor: int = 16, seed: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Speech tells arousal (angry, happy vs calm, sad), the face valence (happy, calm vs
    angry, sad): each alone is right about half the time, together they name the emotion.
    Each actor also shifts both modalities, as speakers do, so leakage would pay."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(1, N_ACTORS + 1), per_actor)
    y = EMOTIONS4[np.tile(np.arange(4), N_ACTORS * per_actor // 4)]
    aroused = np.isin(y, ["angry", "happy"]).astype(float)
    pleasant = np.isin(y, ["happy", "calm"]).astype(float)
    speech = rng.normal(size=(len(y), 6, 3))
    face = rng.normal(size=(len(y), 6, 4))
    speech[:, :, 0] += 2.0 * aroused[:, None] + 0.5 * rng.normal(size=N_ACTORS)[groups - 1, None]
    face[:, :, 0] += 2.0 * pleasant[:, None] + 0.5 * rng.normal(size=N_ACTORS)[groups - 1, None]
    order = rng.permutation(len(y))
    # float32, as the feature transformers give: fused posteriors match to float32 precision.
    X = {"speech": speech[order].astype(np.float32), "face": face[order].astype(np.float32)}
    return X, y[order], groups[order]


def _fusion(**params: Any) -> LateFusionClassifier:
    return LateFusionClassifier([("speech", _flat_lr()), ("face", _flat_lr())], **params)


@pytest.fixture(scope="module")
def data() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    return _make_data()


@pytest.fixture(scope="module")
def fitted(data) -> LateFusionClassifier:
    X, y, groups = data
    return _fusion(cv=4).fit(X, y, groups=groups)


class _ActorSpy(ClassifierMixin, BaseEstimator):
    """Logistic regression that logs which actors (column 0 of frame 0) each call sees."""

    log: ClassVar[list[tuple[str, set[int], Any]]] = []

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Any = None) -> _ActorSpy:
        self.log.append(("fit", set(X[:, 0, 0].astype(int).tolist()), groups))
        self.model_ = LogisticRegression(max_iter=500).fit(_flatten(X[:, :, 1:]), y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self.log.append(("predict_proba", set(X[:, 0, 0].astype(int).tolist()), None))
        return self.model_.predict_proba(_flatten(X[:, :, 1:]))


class _ReversedClasses(ClassifierMixin, BaseEstimator):
    """A model whose ``classes_`` are in reverse sorted order (as a label encoder may give)."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> _ReversedClasses:
        self.model_ = _flat_lr().fit(X, y)
        self.classes_ = self.model_.classes_[::-1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)[:, ::-1]


# -- fusion works -----------------------------------------------------------------------


# The mean of posteriors blurs complementary modalities more than the product or a learnt
# combination does, hence its smaller margin.
@pytest.mark.parametrize(
    ("fusion", "margin"), [("stacking", 0.25), ("product", 0.25), ("mean", 0.1)]
)
def test_fusion_beats_each_modality_under_grouped_cv(data, fusion, margin) -> None:
    X, y, groups = data
    outer = GroupKFold(n_splits=4)
    single = {
        name: cross_val_score(_flat_lr(), X[name], y, groups=groups, cv=outer).mean() for name in X
    }
    # sklearn hands groups to the splitter only; params gives them to fit too.
    fused = cross_val_score(
        _fusion(fusion=fusion, cv=3),
        SliceDict(**X),
        y,
        groups=groups,
        cv=outer,
        params={"groups": groups},
    ).mean()
    assert max(single.values()) < 0.65, single
    assert fused > max(single.values()) + margin, (fused, single)


def test_fitted_attributes(fitted, data) -> None:
    X, _, _ = data
    assert fitted.modalities_ == ["speech", "face"]
    assert fitted.classes_.tolist() == sorted(EMOTIONS4)
    assert [type(m) for m in fitted.estimators_] == [Pipeline, Pipeline]
    assert fitted.named_estimators_["face"] is fitted.estimators_[1]
    # The refitted models saw every training row.
    assert fitted.named_estimators_.speech[-1].n_features_in_ == 18
    assert isinstance(fitted.final_estimator_, LogisticRegression)
    assert fitted.final_estimator_.n_features_in_ == 2 * 4
    assert set(fitted.oof_proba_) == {"speech", "face"}
    np.testing.assert_allclose(fitted.oof_proba_["speech"].sum(axis=1), 1.0, rtol=1e-5)
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(fitted.predict_log_proba(X), np.log(proba))
    assert np.array_equal(fitted.predict(X), fitted.classes_[proba.argmax(axis=1)])
    # Extra keys are ignored: the modalities are looked up by name.
    np.testing.assert_allclose(fitted.predict_proba({**X, "eyes": X["face"]}), proba)


def test_product_and_mean_rules_are_what_they_say(data) -> None:
    X, y, _ = data
    product = _fusion(fusion="product").fit(X, y)
    p_speech, p_face = (m.predict_proba(X[n]) for n, m in product.named_estimators_.items())
    expected = p_speech * p_face
    np.testing.assert_allclose(
        product.predict_proba(X), expected / expected.sum(axis=1, keepdims=True), rtol=1e-5
    )
    assert product.final_estimator_ is None and product.oof_proba_ is None
    mean = _fusion(fusion="mean", weights=[3, 1]).fit(X, y)
    np.testing.assert_allclose(mean.predict_proba(X), 0.75 * p_speech + 0.25 * p_face, rtol=1e-5)
    # A zero weight silences a modality.
    speech_only = _fusion(fusion="product", weights=[1.0, 0.0]).fit(X, y)
    np.testing.assert_allclose(speech_only.predict_proba(X), p_speech, rtol=1e-5)


# -- speaker independence ----------------------------------------------------------------


def test_inner_folds_never_share_an_actor(data) -> None:
    X, y, groups = data
    # The actor is written into each clip (frame 0, feature 0) so the spy can see it.
    speech = np.concatenate(
        [np.broadcast_to(groups[:, None, None], (len(y), 6, 1)), X["speech"]], 2
    )
    _ActorSpy.log.clear()
    clf = LateFusionClassifier([("speech", _ActorSpy()), ("face", _flat_lr())], cv=4)
    clf.fit({"speech": speech, "face": X["face"]}, y, groups=groups)
    log = list(_ActorSpy.log)
    # Four inner folds (fit then out-of-fold posteriors), then the refit on every actor.
    assert [event for event, _, _ in log] == ["fit", "predict_proba"] * 4 + ["fit"]
    tested: set[int] = set()
    for fold in range(4):
        (_, train, train_groups), (_, test, _) = log[2 * fold : 2 * fold + 2]
        assert train and test and not train & test
        # groups reach a modality model whose fit takes them, row-aligned.
        assert set(np.asarray(train_groups).tolist()) == train
        tested |= test
    assert tested == set(groups.tolist()) == log[-1][1]


def test_default_cv_without_groups_explains(data) -> None:
    X, y, _ = data
    with pytest.raises(ValueError, match="grouped by actor") as info:
        _fusion().fit(X, y)
    message = str(info.value)
    assert "fit(X, y, groups=actors)" in message
    assert "set_fit_request(groups=True)" in message
    assert "enable_metadata_routing=True" in message


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored:UserWarning")
def test_explicit_splitter_is_used_as_is(data) -> None:
    X, y, groups = data
    # The user's responsibility: no groups needed...
    clf = _fusion(cv=StratifiedKFold(3)).fit(X, y)
    assert clf.predict(X).shape == y.shape
    # ...but with groups, a splitter that puts one actor on both sides is refused.
    with pytest.raises(ValueError, match=r"inner split 0 .*speaker leakage"):
        _fusion(cv=KFold(3)).fit(X, y, groups=groups)


def test_product_and_mean_need_no_groups(data) -> None:
    X, y, _ = data
    for fusion in ("product", "mean"):
        assert _fusion(fusion=fusion).fit(X, y).predict(X).shape == y.shape


# -- inputs and parameters ----------------------------------------------------------------


def test_missing_modality_is_named(data) -> None:
    X, y, groups = data
    clf = LateFusionClassifier([("speech", _flat_lr()), ("eyes", _flat_lr())], cv=3)
    with pytest.raises(ValueError, match=r"no modality 'eyes'.*\['face', 'speech'\]"):
        clf.fit(X, y, groups=groups)
    fitted = _fusion(fusion="product").fit(X, y)
    with pytest.raises(ValueError, match="no modality 'face'"):
        fitted.predict({"speech": X["speech"]})


def test_bad_inputs_and_parameters(data) -> None:
    X, y, groups = data
    with pytest.raises(TypeError, match="mapping from modality name"):
        _fusion(cv=3).fit(X["speech"], y, groups=groups)
    with pytest.raises(ValueError, match="same number of rows"):
        _fusion(cv=3).fit({"speech": X["speech"], "face": X["face"][:-1]}, y, groups=groups)
    with pytest.raises(ValueError, match="stacking learns the weight"):
        _fusion(cv=3, weights=[1, 1]).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="one entry per estimator"):
        _fusion(fusion="mean", weights=[1, 1, 1]).fit(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        _fusion(fusion="mean", weights=[1, -1]).fit(X, y)
    with pytest.raises(ValueError, match="fusion"):
        _fusion(fusion="sum").fit(X, y)
    with pytest.raises(TypeError, match="must have fit and predict_proba"):
        LateFusionClassifier([("speech", StandardScaler())], cv=3).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="unique"):
        LateFusionClassifier([("speech", _flat_lr()), ("speech", _flat_lr())]).fit(
            X, y, groups=groups
        )


def test_class_order_and_classes_missing_from_an_inner_fold(data) -> None:
    X, y, groups = data
    y = y.astype("<U9")
    # "surprised" only for actor 1: the inner fold that tests actor 1 never trained on it.
    y[(groups == 1) & (y == "sad")] = "surprised"
    clf = LateFusionClassifier([("speech", _ReversedClasses()), ("face", _flat_lr())], cv=4).fit(
        X, y, groups=groups
    )
    assert clf.classes_.tolist() == ["angry", "calm", "happy", "sad", "surprised"]
    surprised = clf.classes_.tolist().index("surprised")
    assert clf.oof_proba_ is not None
    actor1 = groups == 1
    for oof in clf.oof_proba_.values():
        assert np.all(oof[actor1, surprised] == 0.0)
        # The three other inner folds' models do know it (a quarter of the rows lack it).
        assert np.mean(oof[:, surprised] > 0.0) >= 0.5
        np.testing.assert_allclose(oof.sum(axis=1), 1.0, rtol=1e-5)
    features = clf._stack(list(clf.oof_proba_.values()))
    assert np.isfinite(features).all() and features.min() == pytest.approx(np.log(PROBA_EPSILON))
    # Columns follow classes_, not the reversed order of the speech model: the same model
    # with its classes in sorted order gives the same fused posteriors.
    plain = LateFusionClassifier([("speech", _flat_lr()), ("face", _flat_lr())], cv=4)
    plain.fit(X, y, groups=groups)
    np.testing.assert_allclose(clf.predict_proba(X), plain.predict_proba(X), rtol=1e-5)
    for fusion in ("product", "mean"):
        np.testing.assert_allclose(
            clf.set_params(fusion=fusion).fit(X, y).predict_proba(X),
            plain.set_params(fusion=fusion).fit(X, y).predict_proba(X),
            rtol=1e-5,
        )


def test_nested_params_and_clone() -> None:
    clf = _fusion(final_estimator=LogisticRegression(C=2.0))
    params = clf.get_params()
    assert params["speech"] is clf.estimators[0][1]
    assert params["speech__logisticregression__C"] == 1.0
    assert params["final_estimator__C"] == 2.0
    assert "speech" not in clf.get_params(deep=False)
    clf.set_params(speech__logisticregression__C=0.1, face__standardscaler="passthrough")
    assert clf.named_estimators.speech[-1].C == 0.1
    twin = clone(clf)
    assert twin.get_params()["speech__logisticregression__C"] == 0.1
    assert twin.named_estimators.speech is not clf.named_estimators.speech
    replacement = LogisticRegression()
    clf.set_params(face=replacement)
    assert clf.estimators[1] == ("face", replacement)


def test_grid_search_nested_param_with_metadata_routing(data) -> None:
    X, y, groups = data
    with sklearn.config_context(enable_metadata_routing=True):
        clf = _fusion(cv=3).set_fit_request(groups=True)
        search = GridSearchCV(clf, {"speech__logisticregression__C": [1e-4, 1.0]}, cv=GroupKFold(3))
        # Without the routed groups, the default cv=3 would refuse to fit.
        search.fit(SliceDict(**X), y, groups=groups)
        scores = cross_validate(clf, SliceDict(**X), y, cv=GroupKFold(3), params={"groups": groups})
    assert search.best_params_ == {"speech__logisticregression__C": 1.0}
    assert search.best_estimator_.named_estimators_.speech[-1].C == 1.0
    assert scores["test_score"].mean() > 0.8


def test_evaluate_actor_cv_hands_groups_over(data) -> None:
    X, y, groups = data
    report = evaluate_actor_cv(_fusion(cv=3), X, y, groups, cv=3)
    assert report.mean_accuracy > 0.8
    assert report.y_proba is not None and report.y_proba.shape == (len(y), 4)


def test_pickle_round_trip(fitted, data) -> None:
    X, _, _ = data
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_parallel_matches_sequential_and_verbose(fitted, data, capsys) -> None:
    X, y, groups = data
    with parallel_config(backend="threading"):
        parallel = _fusion(cv=4, n_jobs=2, verbose=1).fit(X, y, groups=groups)
    np.testing.assert_allclose(parallel.predict_proba(X), fitted.predict_proba(X))
    assert "late fusion fits" in capsys.readouterr().err


def test_timnet_as_a_modality_model(data) -> None:
    from skemotion.nets import TIMNetClassifier

    X, y, groups = data
    timnet = TIMNetClassifier(
        max_epochs=2, module__filters=8, module__n_scales=2, batch_size=32, random_state=0
    )
    clf = LateFusionClassifier([("speech", timnet), ("face", _flat_lr())], cv=2)
    clf.fit(X, y, groups=groups)
    assert isinstance(clf.named_estimators_.speech, TIMNetClassifier)
    assert clf.named_estimators_.speech.n_features_in_ == 3
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert clf.get_params()["speech__module__filters"] == 8


# -- scikit-learn's estimator checks ------------------------------------------------------
# They feed plain 2-D arrays: with a single estimator, the array is that modality's input,
# so every check applies and none is expected to fail.


@parametrize_with_checks(
    [
        LateFusionClassifier([("x", LogisticRegression())], cv=StratifiedKFold(3)),
        LateFusionClassifier([("x", LogisticRegression())], fusion="product"),
    ]
)
def test_sklearn_compatible(estimator: Any, check: Callable[[Any], None]) -> None:
    check(estimator)
